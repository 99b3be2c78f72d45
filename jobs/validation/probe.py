"""Reading what the in-sandbox probe recorded, without trusting the sandbox.

The probe's file lives in a folder that hostile test code could also write:
it is read without following symlinks, must be a regular file under a size
cap, and must have the expected shape; anything else is an error result.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobs.sandbox.errors import WorkdirError
from jobs.sandbox.workdir import read_result_file

PROBE_DIR = ".provenfix_probe"
PROBE_MODULE = "provenfix_probe"
RESULT_FILE = "result.json"
MAX_RESULT_BYTES = 64 * 1024 * 1024
_OUTCOMES = frozenset({"passed", "failed", "error", "skipped"})


class ProbeResultError(ValueError):
    """The sandbox produced no usable result; the message says why."""


@dataclass(frozen=True)
class TestOutcome:
    nodeid: str
    outcome: str  # passed | failed | error | skipped
    duration: float
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome in {"passed", "skipped"}


@dataclass(frozen=True)
class CoverageMap:
    """Which tests execute which lines: path -> line -> test node ids."""

    lines: Mapping[str, Mapping[int, frozenset[str]]] = field(default_factory=dict)
    outside: Mapping[str, frozenset[int]] = field(default_factory=dict)  # run outside tests
    all_tests: frozenset[str] = frozenset()

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
class ProbeResult:
    exitstatus: int
    duration: float
    tests: Mapping[str, TestOutcome]
    collect_errors: tuple[str, ...]
    coverage: CoverageMap | None


def install_probe(workdir: Path) -> None:
    """Put the plugin beside the checkout copy (not inside the package tree)."""
    target = workdir / PROBE_DIR
    target.mkdir(exist_ok=True)
    source = Path(__file__).with_name("probe_plugin.py")
    (target / f"{PROBE_MODULE}.py").write_text(source.read_text(encoding="utf-8"))


def read_probe_result(workdir: Path) -> ProbeResult:
    try:
        data = read_result_file(workdir, f"{PROBE_DIR}/{RESULT_FILE}", max_bytes=MAX_RESULT_BYTES)
    except WorkdirError as exc:
        raise ProbeResultError(f"the test run left no usable result ({exc})") from None
    return parse_probe_result(data)


def parse_probe_result(data: bytes) -> ProbeResult:
    try:
        raw = json.loads(data)
        tests = {
            str(nodeid): TestOutcome(
                nodeid=str(nodeid),
                outcome=_outcome(entry["outcome"]),
                duration=float(entry.get("duration", 0.0)),
                message=str(entry.get("message", ""))[:4000],
            )
            for nodeid, entry in dict(raw["tests"]).items()
        }
        errors = tuple(str(e.get("message", ""))[:4000] for e in raw.get("collect_errors", []))
        return ProbeResult(
            exitstatus=int(raw["exitstatus"]),
            duration=float(raw.get("duration", 0.0)),
            tests=tests,
            collect_errors=errors,
            coverage=_coverage(raw.get("coverage")),
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ProbeResultError(f"the test result is malformed ({exc.__class__.__name__})") from None


def _outcome(value: Any) -> str:
    if value not in _OUTCOMES:
        raise ValueError(f"unknown outcome {value!r}")
    return str(value)


def _coverage(raw: Any) -> CoverageMap | None:
    if raw is None:
        return None
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
    return CoverageMap(lines, outside, frozenset(order))
