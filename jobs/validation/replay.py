"""Differential replay on the host: what to record, what to replay, what the replay says.

During the baseline the probe records the calls the tests make into every
function that holds a changed line (probe_calls.Recorder). For each candidate
the calls into the function(s) it touches are replayed in the sandbox against
head and against the candidate, in the candidate's own run. A call counts
only when head's replay gives what the recording saw (otherwise it depends on
state the replay does not have: not replayable). Behaviour-preserving
candidates (everything that does not target a failing test) are also replayed
on inputs that hypothesis generates for functions whose parameters are plain
values, and must answer identically everywhere; a repair must change
something, and what it changed is shown.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from provenfix.jobs.report import Candidate, LineRange, ReplayEvidence, SpeedEvidence
from provenfix.jobs.snapshot import Snapshot
from provenfix.jobs.validation import probe_values as values
from provenfix.jobs.validation.generated_inputs import generated_calls
from provenfix.jobs.validation.probe import RecordedFunction, ReplayResult
from provenfix.jobs.validation.testrun import RecordTarget, ReplaySpec

BENCH_ROUNDS = 15
GENERATED_INPUTS = 60
# t quantiles (two-sided 95%) by degrees of freedom; beyond the table, the normal's
_T95 = {1: 12.71, 2: 4.30, 3: 3.18, 4: 2.78, 5: 2.57, 6: 2.45, 7: 2.36, 8: 2.31, 9: 2.26}
_T95.update({10: 2.23, 11: 2.20, 12: 2.18, 13: 2.16, 14: 2.14, 15: 2.13, 20: 2.09, 30: 2.04})


def is_test_path(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return (
        name.startswith("test_")
        or name.endswith("_test.py")
        or name == "conftest.py"
        or any(part in {"tests", "test", "testing"} for part in path.split("/")[:-1])
    )


def record_targets(snapshot: Snapshot) -> tuple[RecordTarget, ...]:
    """Every non-test function that holds a line the change added or modified."""
    targets: list[RecordTarget] = []
    for versions in snapshot.files:
        if is_test_path(versions.change.path):
            continue
        for span in versions.head.functions:
            region = LineRange(span.start, max(span.start, span.end))
            if versions.change.touches(region):
                targets.append(
                    RecordTarget(versions.change.path, span.qualname, span.start, span.end)
                )
    return tuple(targets)


def touched_functions(
    cand: Candidate, snapshot: Snapshot, recorded: Sequence[RecordedFunction]
) -> list[RecordedFunction]:
    """The recorded functions whose lines the candidate changes (innermost only)."""
    versions = snapshot.file(cand.path)
    if versions is None:
        return []
    spans = [
        s
        for s in versions.head.functions
        if LineRange(s.start, max(s.start, s.end)).overlaps(cand.lines)
    ]
    innermost = [
        s
        for s in spans
        if not any(o is not s and s.start <= o.start and o.end <= s.end for o in spans)
    ]
    names = {s.qualname for s in innermost}
    return [f for f in recorded if f.path == cand.path and f.qualname in names and f.module]


@dataclass(frozen=True)
class ReplayPlan:
    """What one candidate's run replays, and on which calls."""

    specs: tuple[ReplaySpec, ...]
    recorded: Mapping[str, RecordedFunction]  # qualname -> its recording
    generated: Mapping[str, int]  # qualname -> how many of its calls were generated


def plan_replay(
    cand: Candidate,
    snapshot: Snapshot,
    recorded: Sequence[RecordedFunction],
    *,
    preserving: bool,
    bench: bool,
) -> ReplayPlan:
    specs: list[ReplaySpec] = []
    generated: dict[str, int] = {}
    versions = snapshot.file(cand.path)
    for function in touched_functions(cand, snapshot, recorded):
        calls = [c["args"] for c in function.calls]
        extra: tuple[Any, ...] = ()
        if preserving and versions is not None:
            extra = generated_calls(versions.head.text, function.qualname, function.calls)
            extra = tuple(
                a for a in extra if values.canonical(a) not in {values.canonical(c) for c in calls}
            )[:GENERATED_INPUTS]
        generated[function.qualname] = len(extra)
        if not calls and not extra:
            continue
        specs.append(
            ReplaySpec(
                function.path,
                function.qualname,
                function.module,
                (*calls, *extra),
                bench_rounds=BENCH_ROUNDS if bench and calls else 0,
            )
        )
    return ReplayPlan(
        tuple(specs),
        {f.qualname: f for f in touched_functions(cand, snapshot, recorded)},
        generated,
    )


@dataclass(frozen=True)
class ReplayVerdict:
    evidence: ReplayEvidence
    problem: str  # why the candidate's behaviour rejects it; "" when it holds
    speed: SpeedEvidence | None


def judge_replay(
    plan: ReplayPlan, results: Sequence[ReplayResult], *, preserving: bool
) -> ReplayVerdict | None:
    if not plan.recorded:
        return None
    by_name = {r.qualname: r for r in results}
    recorded_total = sum(f.total for f in plan.recorded.values())
    not_replayable = sum(f.not_replayable for f in plan.recorded.values())
    replayed = generated_total = changed = 0
    example = problem = ""
    speed: SpeedEvidence | None = None
    for spec in plan.specs:
        recording = plan.recorded[spec.qualname]
        result = by_name.get(spec.qualname)
        if result is None or result.error:
            not_replayable += len(spec.calls)
            if result is not None and result.error and not problem:
                problem = f"`{spec.qualname}` could not be loaded for replay: {result.error}"
            continue
        n_recorded = len(recording.calls)
        for index, (head, cand) in enumerate(result.results):
            args = spec.calls[index] if index < len(spec.calls) else None
            if index < n_recorded:
                seen = _observable(recording.calls[index])
                if "unencodable" in seen or _canon(_observable(head)) != _canon(seen):
                    not_replayable += 1  # head itself answers otherwise out of context
                    continue
                replayed += 1
            else:
                if "timeout" in head:
                    continue
                generated_total += 1
            if _canon(_observable(head)) == _canon(_observable(cand)):
                continue
            changed += 1
            if not example:
                origin = "recorded" if index < n_recorded else "generated"
                example = f"{_call(spec.qualname, args)}: {_show(head)} → {_show(cand)} ({origin})"
        if result.bench_head_s and result.bench_cand_s:
            speed = speed_interval(result.bench_head_s, result.bench_cand_s, calls=n_recorded)
    if preserving and changed and not problem:
        problem = (
            f"changes behaviour on {changed} replayed call(s), e.g. {example}; "
            "a fix of this kind must not"
        )
    evidence = ReplayEvidence(
        functions=tuple(spec.qualname for spec in plan.specs) or tuple(plan.recorded),
        calls_recorded=recorded_total,
        calls_replayed=replayed,
        not_replayable=not_replayable,
        inputs_generated=generated_total,
        calls_changed=changed,
        example=example,
    )
    return ReplayVerdict(evidence, problem, speed)


def speed_interval(
    head_s: Sequence[float], cand_s: Sequence[float], *, calls: int
) -> SpeedEvidence | None:
    """Geometric-mean speed-up with a 95% t interval over the rounds' log ratios."""
    ratios = [math.log(h / c) for h, c in zip(head_s, cand_s, strict=False) if h > 0 and c > 0]
    if len(ratios) < 3:
        return None
    mean = statistics.fmean(ratios)
    spread = statistics.stdev(ratios) / math.sqrt(len(ratios))
    df = len(ratios) - 1
    t = _T95.get(df) or next((v for k, v in sorted(_T95.items()) if k >= df), 1.96)
    return SpeedEvidence(
        speedup=round(math.exp(mean), 3),
        low=round(math.exp(mean - t * spread), 3),
        high=round(math.exp(mean + t * spread), 3),
        rounds=len(ratios),
        calls=calls,
    )


def _observable(outcome: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: outcome[k]
        for k in ("result", "raises", "after", "unencodable", "timeout")
        if k in outcome
    }


def _canon(data: Any) -> str:
    return values.canonical(data)


def _show(outcome: Mapping[str, Any]) -> str:
    if "raises" in outcome:
        return f"raises {outcome['raises']}"
    if "timeout" in outcome:
        return f"runs past {outcome['timeout']} s"
    if "result" in outcome:
        text = values.describe(outcome["result"])
        if "after" in outcome:
            text += f" (arguments become {values.describe(outcome['after'])})"
        return text
    return "an unencodable result"


def _call(qualname: str, args: Any) -> str:
    if args is None:
        return f"{qualname}(…)"
    try:
        positional, keywords = values.decode(args)
        parts = [repr(a) for a in positional] + [f"{k}={v!r}" for k, v in keywords.items()]
    except (ValueError, TypeError):
        return f"{qualname}(…)"
    text = ", ".join(parts)
    if len(text) > 100:
        text = text[:99] + "…"
    return f"`{qualname.rsplit('.', 1)[-1]}({text})`"
