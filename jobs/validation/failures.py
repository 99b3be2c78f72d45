"""Tests failing at head, turned into findings located in the change.

A failing test is a finding when it executes lines the change added or
modified (located at those lines, or at a traceback frame inside them), or
when it passed at base (located at the test itself). A test that already
failed at base and touches nothing the change did is not this change's doing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from provenfix.jobs.fingerprint import Fingerprinter
from provenfix.jobs.report import Category, ChangedFile, Finding, FindingSource, LineRange, Severity
from provenfix.jobs.snapshot import Snapshot
from provenfix.jobs.source import SourceFile
from provenfix.jobs.validation.probe import CoverageMap, TestOutcome

RULE_ID = "test-failure"
# pytest's long format ("pkg/mod.py:12: in f") and native tracebacks
# ('File "/work/repo/pkg/mod.py", line 12, in f')
_FRAME = re.compile(
    r'^(?P<path>[\w./\-]+\.py):(?P<line>\d+):|File "(?P<abs>[^"]+\.py)", line (?P<nline>\d+)',
    re.MULTILINE,
)
_EXCEPTION = re.compile(r"^(?:\w+\.)*\w*(?:Error|Exception|Exit|Failed)\b")


@dataclass(frozen=True)
class FailureLocation:
    path: str
    lines: LineRange
    function: str | None


def locate_in_change(
    test: TestOutcome, snapshot: Snapshot, coverage: CoverageMap
) -> FailureLocation | None:
    """Where in the change a failing test goes wrong: a traceback frame, else covered lines."""
    changed = {f.change.path: f for f in snapshot.files}
    for match in reversed(list(_FRAME.finditer(test.message))):
        if match["path"]:
            versions, line = changed.get(match["path"]), int(match["line"])
        else:
            absolute = match["abs"]
            versions = next((v for p, v in changed.items() if absolute.endswith("/" + p)), None)
            line = int(match["nline"])
        if versions and any(line in r for r in versions.change.added):
            return FailureLocation(
                versions.change.path, LineRange(line, line), versions.head.enclosing_function(line)
            )
    for path, versions in changed.items():
        executed = _executed_added(versions.change, coverage, test.nodeid)
        if executed is not None:
            return FailureLocation(path, executed, versions.head.enclosing_function(executed.start))
    return None


def _executed_added(changed: ChangedFile, coverage: CoverageMap, nodeid: str) -> LineRange | None:
    for added in changed.added:
        lines = [
            line
            for line in range(added.start, added.end + 1)
            if nodeid in coverage.lines.get(changed.path, {}).get(line, frozenset())
        ]
        if lines:
            return LineRange(min(lines), max(lines))
    return None


def failure_findings(
    failing: Iterable[TestOutcome],
    snapshot: Snapshot,
    coverage: CoverageMap,
    passed_at_base: Callable[[list[str]], set[str]],
    test_source: Callable[[str], SourceFile | None],
) -> list[Finding]:
    fingerprint = Fingerprinter()
    findings: list[Finding] = []
    elsewhere: list[TestOutcome] = []
    for test in failing:
        where = locate_in_change(test, snapshot, coverage)
        if where is None:
            elsewhere.append(test)
            continue
        scope = f" in `{where.function}`" if where.function else ""
        findings.append(
            _finding(
                fingerprint,
                test,
                where,
                f"`{test.nodeid}` fails at head ({_summary(test)}). It runs "
                f"{_lines(where.lines)}{scope}, which this change modified.",
            )
        )
    if elsewhere:
        regressed = passed_at_base([t.nodeid for t in elsewhere])
        for test in elsewhere:
            if test.nodeid not in regressed:
                continue  # failed before this change too
            where = _test_definition(test.nodeid, test_source)
            findings.append(
                _finding(
                    fingerprint,
                    test,
                    where,
                    f"`{test.nodeid}` passes at base but fails at head ({_summary(test)}).",
                )
            )
    return findings


def _finding(
    fingerprint: Fingerprinter, test: TestOutcome, where: FailureLocation, message: str
) -> Finding:
    return Finding(
        id=fingerprint(RULE_ID, where.path, where.function, test.nodeid),
        source=FindingSource.TESTS,
        rule_id=RULE_ID,
        category=Category.TEST_FAILURE,
        severity=Severity.ERROR,
        path=where.path,
        start_line=where.lines.start,
        end_line=where.lines.end,
        message=message,
        function=where.function,
        test=test.nodeid,
    )


def _test_definition(
    nodeid: str, test_source: Callable[[str], SourceFile | None]
) -> FailureLocation:
    path, _, rest = nodeid.partition("::")
    name = rest.split("[")[0].replace("::", ".")
    source = test_source(path)
    if source is not None:
        for span in source.functions:
            if span.qualname == name:
                return FailureLocation(path, LineRange(span.start, span.start), span.qualname)
    return FailureLocation(path, LineRange(1, 1), None)


def _lines(lines: LineRange) -> str:
    return f"line {lines.start}" if lines.start == lines.end else f"lines {lines.start}-{lines.end}"


def _summary(test: TestOutcome) -> str:
    for line in test.message.strip().splitlines():
        line = line.strip()
        if line.startswith("E "):  # pytest's first explanation line
            return line[2:].strip()[:200]
        if _EXCEPTION.match(line):  # a native traceback's exception line
            return line[:200]
    lines = [line.strip() for line in test.message.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else test.outcome
