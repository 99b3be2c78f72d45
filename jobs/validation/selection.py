"""Test impact selection: the tests that execute what a candidate changes.

A candidate is judged by the tests that execute its lines; a candidate that
changes code run outside any test (at import, in session fixtures) by the
whole suite. Lines no test can
execute on its own (a `def` line with its defaults, decorators, an `else:`)
widen the scope to the innermost function around them, so a signature fix is
judged by the tests that call the function.
"""

from __future__ import annotations

from collections.abc import Sequence

from provenfix.jobs.report import Candidate, LineRange
from provenfix.jobs.snapshot import Snapshot
from provenfix.jobs.validation.probe import CoverageMap


def selection_scope(cand: Candidate, snapshot: Snapshot, coverage: CoverageMap) -> LineRange:
    region = cand.lines
    if coverage.tests_covering(cand.path, range(region.start, region.end + 1)):
        touches_def = False
        versions = snapshot.file(cand.path)
        if versions is not None:
            touches_def = any(span.start in region for span in versions.head.functions)
        if not touches_def:
            return region
    versions = snapshot.file(cand.path)
    if versions is None:
        return region
    around = [s for s in versions.head.functions if s.start <= region.end and region.start <= s.end]
    if not around:
        return region
    inner = max(around, key=lambda s: s.start)
    return LineRange(min(inner.start, region.start), max(inner.end, region.end))


def select_tests(
    candidates: Sequence[Candidate], snapshot: Snapshot, coverage: CoverageMap
) -> dict[str, frozenset[str]]:
    selected: dict[str, frozenset[str]] = {}
    for cand in candidates:
        if _runs_outside_tests(cand, snapshot, coverage):
            selected[cand.id] = coverage.all_tests
            continue
        scope = selection_scope(cand, snapshot, coverage)
        selected[cand.id] = coverage.tests_covering(cand.path, range(scope.start, scope.end + 1))
    return selected


def _runs_outside_tests(cand: Candidate, snapshot: Snapshot, coverage: CoverageMap) -> bool:
    """Does the candidate change code that runs at import or in shared fixtures?

    Such code can affect any test, so the whole suite judges it. `def` lines
    are left out: every module runs them at import, and a function's body is
    judged by the tests that call it.
    """
    outside = coverage.outside.get(cand.path, frozenset())
    versions = snapshot.file(cand.path)
    headers = {span.start for span in versions.head.functions} if versions else set()
    return any(
        line in outside and line not in headers
        for line in range(cand.start_line, cand.end_line + 1)
    )
