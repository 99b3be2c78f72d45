"""Tests failing at head, turned into findings located in the change.

A failing test is a finding when it executes lines the change added or
modified, or when it passed at base (located at the test itself). A test that
already failed at base and touches nothing the change did is not this change's
doing. Among the changed lines a failing test executes, its finding goes on the
most suspicious one (jobs.validation.localization: Ochiai over every failing and
passing test of the baseline) and names the next ones; a traceback frame inside
the change is used only where coverage says nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from provenfix.jobs.fingerprint import Fingerprinter
from provenfix.jobs.report import (
    Category,
    ChangedFile,
    Finding,
    FindingSource,
    LineRange,
    Severity,
    Suspect,
)
from provenfix.jobs.snapshot import Snapshot
from provenfix.jobs.source import SourceFile
from provenfix.jobs.validation.localization import ChangedLineSpectrum
from provenfix.jobs.validation.probe import CoverageMap, TestOutcome

RULE_ID = "test-failure"
NEXT_SUSPECTS = 3  # named in the message after the most suspicious line
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
    suspects: tuple[Suspect, ...] = ()


def frames_in_change(test: TestOutcome, snapshot: Snapshot) -> dict[str, frozenset[int]]:
    """The changed files' lines that appear in the test's traceback."""
    changed = {f.change.path for f in snapshot.files}
    found: dict[str, set[int]] = {}
    for match in _FRAME.finditer(test.message):
        if match["path"]:
            path, line = match["path"], int(match["line"])
        else:
            path = next((p for p in changed if match["abs"].endswith("/" + p)), "")
            line = int(match["nline"])
        if path in changed:
            found.setdefault(path, set()).add(line)
    return {path: frozenset(lines) for path, lines in found.items()}


def localize(
    test: TestOutcome, snapshot: Snapshot, spectrum: ChangedLineSpectrum, coverage: CoverageMap
) -> FailureLocation | None:
    """The most suspicious changed line `test` executes; without coverage of it, a frame of
    its traceback inside the change (locate_in_change)."""
    suspects = spectrum.suspects(test.nodeid, frames_in_change(test, snapshot))
    if not suspects:
        return locate_in_change(test, snapshot, coverage)
    top = suspects[0]
    head = next(f.head for f in snapshot.files if f.change.path == top.path)
    return FailureLocation(
        top.path, LineRange(top.line, top.line), head.enclosing_function(top.line),
        tuple(suspects),
    )  # fmt: skip


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
    failing = list(failing)
    spectrum = ChangedLineSpectrum(snapshot, coverage, (t.nodeid for t in failing))
    for test in failing:
        where = localize(test, snapshot, spectrum, coverage)
        if where is None:
            elsewhere.append(test)
            continue
        scope = f" in `{where.function}`" if where.function else ""
        message = (
            f"`{test.nodeid}` fails at head ({_summary(test)}). It runs "
            f"{_lines(where.lines)}{scope}, which this change modified"
        )
        findings.append(_finding(fingerprint, test, where, message + _suspicion(where, spectrum)))
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
        suspects=where.suspects,
    )


def _suspicion(where: FailureLocation, spectrum: ChangedLineSpectrum) -> str:
    """Why this line of the change and not another: its suspiciousness, and the next."""
    if len(where.suspects) < 2:
        return "."
    top, rest = where.suspects[0], where.suspects[1 : 1 + NEXT_SUSPECTS]
    failing = len(spectrum.failing)
    others = ", ".join(
        f"{'' if s.path == top.path else s.path + ' '}line {s.line} ({s.score:.2f})" for s in rest
    )
    return (
        f": the most suspicious of the {len(where.suspects)} changed lines it runs "
        f"(Ochiai {top.score:.2f}: run by {top.failing} of {failing} failing test(s) and "
        f"{top.passing} passing); next: {others}."
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
