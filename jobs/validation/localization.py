"""Spectrum-based fault localization among the lines a change added or modified.

For each changed line, the baseline's per-test coverage says which failing and which
passing tests execute it; its Ochiai suspiciousness is

    ef / sqrt(F · (ef + ep))

(ef, ep: failing and passing tests that execute the line; F: all failing tests). A line
that only failing tests run scores 1; one that many passing tests run too scores low.
A failing test's finding goes on the most suspicious changed line it executes.

Two corrections make "executes" mean what a reader means:

- a changed line of a function's header (its decorators, `def` line and signature:
  a default value, an annotation) runs when the module is imported, outside any test;
  it counts as executed by every test that runs the function's body;
- when a failing test executes changed code outside the test folders, the code is the
  suspect: the changed lines of test files (the test's own assertion, a fixture the
  pull request added with the code) are ranked only when it executes no other.

Ties are broken by the failing test's traceback (a changed line in one of its frames
first), then by position.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

from provenfix.jobs.report import Suspect
from provenfix.jobs.snapshot import FileVersions, Snapshot
from provenfix.jobs.validation.probe import CoverageMap
from provenfix.jobs.validation.replay import is_test_path

__all__ = ["ChangedLineSpectrum", "Suspect", "ochiai"]


def ochiai(failing_here: int, passing_here: int, failing_total: int) -> float:
    if failing_here == 0 or failing_total == 0:
        return 0.0
    return failing_here / math.sqrt(failing_total * (failing_here + passing_here))


@dataclass(frozen=True)
class _Line:
    path: str
    line: int
    tests: frozenset[str]  # the tests that execute it (header lines: the function's)
    in_tests: bool  # the line belongs to a test file


class ChangedLineSpectrum:
    """The changed lines of a snapshot with the tests that execute each, scored against
    one baseline's failing tests."""

    def __init__(self, snapshot: Snapshot, coverage: CoverageMap, failing: Iterable[str]) -> None:
        self._snapshot = snapshot
        self._coverage = coverage
        self.failing = frozenset(failing)
        self.passing = coverage.all_tests - self.failing

    @cached_property
    def _lines(self) -> tuple[_Line, ...]:
        lines: list[_Line] = []
        for versions in self._snapshot.files:
            path = versions.change.path
            per_line = self._coverage.lines.get(path, {})
            headers = _header_tests(versions, per_line)
            in_tests = is_test_path(path)
            for added in versions.change.added:
                for line in range(added.start, added.end + 1):
                    tests = per_line.get(line, frozenset()) | headers.get(line, frozenset())
                    lines.append(_Line(path, line, tests, in_tests))
        return tuple(lines)

    def suspects(
        self, test: str, frames: Mapping[str, frozenset[int]] | None = None
    ) -> list[Suspect]:
        """The changed lines `test` executes, most suspicious first (empty when it executes
        none). `frames`: path -> lines of the test's traceback, for ties."""
        mine = [line for line in self._lines if test in line.tests]
        code = [line for line in mine if not line.in_tests]
        ranked = code or mine
        framed = frames or {}
        total = len(self.failing)

        def key(line: _Line) -> tuple[float, int, str, int]:
            ef = len(line.tests & self.failing)
            score = ochiai(ef, len(line.tests & self.passing), total)
            return (-round(score, 9), 0 if line.line in framed.get(line.path, ()) else 1,
                    line.path, line.line)  # fmt: skip

        out: list[Suspect] = []
        for line in sorted(ranked, key=key):
            ef, ep = len(line.tests & self.failing), len(line.tests & self.passing)
            out.append(Suspect(line.path, line.line, round(ochiai(ef, ep, total), 4), ef, ep))
        return out


def _header_tests(
    versions: FileVersions, per_line: Mapping[int, frozenset[str]]
) -> dict[int, frozenset[str]]:
    """line -> the tests that run the body of the function whose header holds that line."""
    try:
        tree = ast.parse(versions.head.text)
    except SyntaxError:
        return {}
    out: dict[int, frozenset[str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) or not node.body:
            continue
        first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        body_start = node.body[0].lineno
        end = node.end_lineno or body_start
        if body_start <= first:
            continue  # `def f(): return x` on one line: its coverage is its own
        callers: frozenset[str] = frozenset().union(
            *(per_line.get(n, frozenset()) for n in range(body_start, end + 1))
        )
        for line in range(first, body_start):
            out[line] = out.get(line, frozenset()) | callers
    return out
