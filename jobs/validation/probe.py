"""Reading what the in-sandbox probe streamed, without trusting the sandbox.

The driver (probe_driver.py) writes JSON lines on the container's stdout, one
stream per step. Each step is checked for consistency before anything in it
counts: the driver's own exit record (the status it saw with waitpid) must
match pytest's reported exit status; there must be one record per collected
test and none for anything else; pytest's failure count and exit status must
agree with the failures recorded; an interruption (`pytest.exit`, Ctrl-C,
internal error), a killed or timed-out child, or a line that is not a record
makes the step invalid. An invalid step is never evidence of anything.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

PROBE_DIR = ".provenfix_probe"
DRIVER_MODULE = "provenfix_driver"
PLAN_FILE = "plan.json"
# host module -> the name its copy has inside the sandbox
SANDBOX_MODULES = {
    "probe_driver.py": "provenfix_driver.py",
    "probe_plugin.py": "provenfix_probe.py",
    "probe_calls.py": "provenfix_calls.py",
    "probe_values.py": "provenfix_values.py",
    "probe_cover.py": "provenfix_cover.py",
    "probe_children.py": "provenfix_children.py",
}
_OUTCOMES = frozenset({"passed", "failed", "error", "skipped", "xfailed", "xpassed", "incomplete"})
_PYTEST_OK, _PYTEST_FAILED, _PYTEST_NO_TESTS = 0, 1, 5


class ProbeResultError(ValueError):
    """The sandbox produced no usable result; the message says why."""


@dataclass(frozen=True)
class TestOutcome:
    nodeid: str
    outcome: str  # passed | failed | error | skipped | xfailed | xpassed | incomplete
    duration: float
    message: str = ""
    checks: int = 0  # assertions and other checks that ran in the call phase

    @property
    def ok(self) -> bool:
        """Not a failure (which is not the same as evidence: see `genuine`)."""
        return self.outcome in {"passed", "skipped", "xfailed", "xpassed"}

    @property
    def genuine(self) -> bool:
        """Its call phase passed, it was not an expected failure, and it checked something."""
        return self.outcome == "passed" and self.checks > 0


@dataclass(frozen=True)
class CoverageMap:
    """Which tests execute which lines: path -> line -> test node ids."""

    lines: Mapping[str, Mapping[int, frozenset[str]]] = field(default_factory=dict)
    outside: Mapping[str, frozenset[int]] = field(default_factory=dict)  # run outside tests
    all_tests: frozenset[str] = frozenset()
    order: tuple[str, ...] = ()  # the tests in the order the full run ran them

    def tests_covering(self, path: str, lines: Iterable[int]) -> frozenset[str]:
        per_line = self.lines.get(path, {})
        found: set[str] = set()
        for line in lines:
            found |= per_line.get(line, frozenset())
        return frozenset(found)

    def covered_lines(self, path: str, lines: Iterable[int], tests: Iterable[str]) -> int:
        wanted = set(tests)
        per_line = self.lines.get(path, {})
        return sum(1 for line in lines if per_line.get(line, frozenset()) & wanted)


@dataclass(frozen=True)
class RecordedFunction:
    """The calls the tests made into one changed function during the baseline."""

    path: str
    qualname: str
    module: str
    total: int  # calls made
    not_replayable: int  # calls whose arguments are not plain data
    calls: tuple[Mapping[str, Any], ...]  # {"args", "result"|"raises"|"unencodable", "after"?}


@dataclass(frozen=True)
class ReplayResult:
    path: str
    qualname: str
    error: str  # the function could not be loaded: why
    results: tuple[tuple[Mapping[str, Any], Mapping[str, Any]], ...]  # (head, candidate)
    bench_head_s: tuple[float, ...] = ()
    bench_cand_s: tuple[float, ...] = ()


@dataclass(frozen=True)
class ProbeResult:
    exitstatus: int
    duration: float
    tests: Mapping[str, TestOutcome]
    collect_errors: tuple[str, ...]
    coverage: CoverageMap | None
    invalid: str = ""  # why this run cannot be trusted; "" when it can
    recorded: tuple[RecordedFunction, ...] = ()
    replays: tuple[ReplayResult, ...] = ()
    collected: tuple[str, ...] = ()
    reps: tuple[Mapping[str, TestOutcome], ...] = ()  # every run of the session; tests = reps[0]

    @property
    def unfinished(self) -> tuple[str, ...]:
        """Collected tests with no record, in order (the first one may have ended the run)."""
        return tuple(t for t in self.collected if t not in self.tests)


def parse_stream(text: str) -> dict[str, ProbeResult]:
    """The driver's stdout as one result per step; ProbeResultError if it is not a stream."""
    records: dict[str, list[dict[str, Any]]] = {}
    done = False
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise ProbeResultError("the sandbox wrote something that is not a record") from None
        if not isinstance(record, dict):
            raise ProbeResultError("the sandbox wrote something that is not a record")
        if record.get("t") == "done" and "s" not in record:
            done = True
            continue
        records.setdefault(str(record.get("s", "")), []).append(record)
    if not records:
        raise ProbeResultError("the test run reported nothing")
    results = {name: _step(name, items) for name, items in records.items() if name}
    if not done:
        results = {
            name: replace(result, invalid=result.invalid or "the driver did not finish")
            for name, result in results.items()
        }
    return results


def _step(name: str, records: list[dict[str, Any]]) -> ProbeResult:
    try:
        return _checked(_assemble(records))
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        return ProbeResult(
            exitstatus=-1,
            duration=0.0,
            tests={},
            collect_errors=(),
            coverage=None,
            invalid=f"step {name}: malformed records ({exc.__class__.__name__})",
        )


@dataclass
class _Assembly:
    collected: list[str] | None = None
    reps: dict[int, dict[str, TestOutcome]] = field(default_factory=dict)
    duplicates: int = 0
    collect_errors: list[str] = field(default_factory=list)
    interrupted: str = ""
    crash: str = ""
    garbage: str = ""
    finish: dict[str, Any] | None = None
    exit: dict[str, Any] | None = None
    coverage: CoverageMap | None = None
    recorded: list[RecordedFunction] = field(default_factory=list)
    replays: dict[tuple[str, str], ReplayResult] = field(default_factory=dict)


def _assemble(records: list[dict[str, Any]]) -> _Assembly:
    out = _Assembly()
    for record in records:
        kind = record.get("t")
        if kind == "collected":
            if out.collected is not None:
                out.garbage = "collected twice"
            out.collected = [str(i) for i in record["ids"]]
        elif kind == "test":
            test = _test(record)
            rep = out.reps.setdefault(int(record.get("rep", 0)), {})
            if test.nodeid in rep:
                out.duplicates += 1
            rep[test.nodeid] = test
        elif kind == "collect_error":
            out.collect_errors.append(str(record.get("message", ""))[-4000:])
        elif kind == "crash":
            out.crash = str(record.get("reason", "crashed"))[:500] or "crashed"
        elif kind == "interrupted":
            out.interrupted = str(record.get("reason", "interrupted"))[:300] or "interrupted"
        elif kind == "garbage":
            out.garbage = str(record.get("reason", "garbage"))[:200]
        elif kind == "finish":
            out.finish = record
        elif kind == "exit":
            out.exit = record
        elif kind == "coverage":
            out.coverage = _coverage(record)
        elif kind == "calls":
            out.recorded.extend(_recorded(f) for f in record["functions"])
        elif kind == "replay":
            key = (str(record["path"]), str(record["qualname"]))
            out.replays[key] = ReplayResult(
                path=key[0],
                qualname=key[1],
                error=str(record.get("error", ""))[:500],
                results=tuple(
                    (dict(r["head"]), dict(r["cand"])) for r in record.get("results", [])
                ),
            )
        elif kind == "bench":
            key = (str(record["path"]), str(record["qualname"]))
            found = out.replays[key]
            out.replays[key] = ReplayResult(
                found.path,
                found.qualname,
                found.error,
                found.results,
                tuple(float(x) for x in record["head_s"]),
                tuple(float(x) for x in record["cand_s"]),
            )
        else:
            out.garbage = f"unknown record {str(kind)[:40]!r}"
    return out


def _checked(a: _Assembly) -> ProbeResult:
    exit_code = a.exit.get("code") if a.exit else None
    status = int(a.finish["exitstatus"]) if a.finish else -1
    problem = ""
    if a.exit is None:
        problem = "the driver reported no exit for this step"
    elif a.exit.get("timed_out"):
        problem = f"timed out after {float(a.exit.get('seconds', 0)):.0f} s"
    elif "signal" in a.exit:
        problem = f"the test process was killed by signal {int(a.exit['signal'])}"
    elif a.crash:
        problem = f"pytest could not run the tests: {a.crash}"
    elif a.garbage:
        problem = f"the test process wrote an invalid record ({a.garbage})"
    elif a.interrupted and not a.collect_errors:  # pytest stops after collection errors
        problem = f"the session was interrupted ({a.interrupted})"
    elif a.finish is None:
        problem = f"the test process ended (exit code {exit_code}) before the session finished"
    elif exit_code != status:
        problem = f"exit code {exit_code} but pytest reported {status}"
    elif a.collect_errors:
        problem = ""  # a collection error: reported as such, never a pass
    elif a.collected is None:
        problem = "no collection was reported"
    problem = problem or _count_problem(a, status)
    reps = tuple(a.reps[i] for i in sorted(a.reps))
    return ProbeResult(
        exitstatus=status,
        duration=float(a.finish.get("duration", 0.0)) if a.finish else 0.0,
        tests=reps[0] if reps else {},
        collect_errors=tuple(a.collect_errors),
        coverage=a.coverage,
        invalid=problem,
        recorded=tuple(a.recorded),
        replays=tuple(a.replays.values()),
        collected=tuple(a.collected or ()),
        reps=reps,
    )


def _count_problem(a: _Assembly, status: int) -> str:
    if a.collect_errors:
        return ""  # reported as a collection error, which is never a pass either
    collected = a.collected or []
    if a.duplicates or len(set(collected)) != len(collected):
        return "a test was reported twice"
    if sorted(a.reps) != list(range(len(a.reps))):
        return f"runs {sorted(a.reps)} reported, not one after another"
    replay_only = bool(a.replays) and not a.reps
    for index, rep in a.reps.items():
        strangers = set(rep) - set(collected)
        if strangers:
            return f"results for tests that were not collected ({sorted(strangers)[0]})"
        if len(rep) != len(collected):
            return f"{len(collected)} tests collected but {len(rep)} reported in run {index + 1}"
    if not a.reps and collected and not replay_only:
        return f"{len(collected)} tests collected but none reported"
    failures = sum(
        1 for rep in a.reps.values() for t in rep.values() if t.outcome in {"failed", "error"}
    )
    failed_count = int(a.finish["testsfailed"]) if a.finish else 0
    if (failures > 0) != (failed_count > 0):
        return f"{failures} failing tests recorded but pytest counted {failed_count}"
    expected = _PYTEST_FAILED if failures else _PYTEST_OK
    if status == _PYTEST_NO_TESTS and not collected:
        return ""
    if status != expected:
        return f"pytest exited with {status} after {failures} failure(s)"
    return ""


def _test(record: dict[str, Any]) -> TestOutcome:
    phases: dict[str, dict[str, Any]] = dict(record["phases"])
    setup, call, teardown = phases.get("setup", {}), phases.get("call"), phases.get("teardown", {})
    message = ""
    if setup.get("outcome") == "failed":
        outcome, message = "error", str(setup.get("message", ""))
    elif call is not None and call.get("outcome") == "failed":
        outcome, message = "failed", str(call.get("message", ""))
    elif teardown.get("outcome") == "failed":
        outcome, message = "error", str(teardown.get("message", ""))
    elif call is None:
        outcome = "skipped" if setup.get("outcome") == "skipped" else "incomplete"
        if setup.get("xfail"):
            outcome = "xfailed"
    elif call.get("xfail"):
        outcome = "xfailed" if call.get("outcome") == "skipped" else "xpassed"
    elif record.get("raised") and call.get("outcome") == "passed":
        # the test raised, yet its report says it passed: something rewrote the report
        outcome, message = "failed", "the test raised, but its report was changed to a pass"
    else:
        outcome = {"passed": "passed", "skipped": "skipped"}[str(call.get("outcome"))]
    if outcome not in _OUTCOMES:
        raise ValueError(outcome)
    return TestOutcome(
        nodeid=str(record["id"]),
        outcome=outcome,
        duration=float(record.get("duration", 0.0)),
        message=message[-4000:],
        checks=int(record.get("checks", 0)),
    )


def _recorded(raw: dict[str, Any]) -> RecordedFunction:
    return RecordedFunction(
        path=str(raw["path"]),
        qualname=str(raw["qualname"]),
        module=str(raw.get("module", "")),
        total=int(raw.get("total", 0)),
        not_replayable=int(raw.get("not_replayable", 0)),
        calls=tuple(dict(c) for c in raw.get("calls", [])),
    )


def _coverage(raw: dict[str, Any]) -> CoverageMap:
    order = [str(nodeid) for nodeid in raw["order"]]
    lines: dict[str, dict[int, frozenset[str]]] = {}
    for path, per_line in dict(raw["lines"]).items():
        lines[str(path)] = {
            int(line): frozenset(order[int(i)] for i in indices)
            for line, indices in dict(per_line).items()
        }
    outside = {
        str(path): frozenset(int(line) for line in numbers)
        for path, numbers in dict(raw.get("outside", {})).items()
    }
    return CoverageMap(lines, outside, frozenset(order), tuple(order))
