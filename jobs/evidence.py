"""Measuring each candidate's effect: findings, complexity and coverage of its region.

The region is the lines a candidate replaces at head and, after the change,
the lines its replacement occupies. Findings after the change come from ONE
semgrep run over every candidate's patched file.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from provenfix.jobs.complexity import function_blocks
from provenfix.jobs.generation.edits import apply_candidates
from provenfix.jobs.report import Candidate, Finding, LineRange
from provenfix.jobs.scoring import Evidence
from provenfix.jobs.semgrep_stage import SemgrepAnalyzer
from provenfix.jobs.snapshot import Snapshot
from provenfix.jobs.validation.probe import CoverageMap
from provenfix.jobs.validation.selection import selection_scope


def after_region(cand: Candidate) -> LineRange:
    count = max(1, len(cand.replacement.splitlines()))
    return LineRange(cand.start_line, cand.start_line + count - 1)


def collect_evidence(
    candidates: Sequence[Candidate],
    snapshot: Snapshot,
    findings: Sequence[Finding],
    semgrep: SemgrepAnalyzer,
    scratch: Path,
    *,
    coverage: CoverageMap | None = None,
    passing: Mapping[str, frozenset[str]] | None = None,
) -> dict[str, Evidence]:
    """`passing`: per candidate, the tests that genuinely passed with it (exercised lines)."""
    patched: dict[str, str] = {}
    targets: list[str] = []
    for index, cand in enumerate(candidates):
        versions = snapshot.file(cand.path)
        if versions is None:
            continue
        text = apply_candidates(versions.head.text, [cand])
        patched[cand.id] = text
        relative = f"{index}/{cand.path}"
        (scratch / relative).parent.mkdir(parents=True, exist_ok=True)
        (scratch / relative).write_text(text, encoding="utf-8")
        targets.append(relative)
    after_hits: dict[str, int] = {}
    after_rules: dict[str, set[str]] = {}
    for result in semgrep.rescan(scratch, targets):
        index_text, _, _ = str(result["path"]).partition("/")
        cand = candidates[int(index_text)]
        region = after_region(cand)
        if LineRange(int(result["start"]["line"]), int(result["end"]["line"])).overlaps(region):
            after_hits[cand.id] = after_hits.get(cand.id, 0) + 1
            after_rules.setdefault(cand.id, set()).add(str(result["check_id"]))
    evidence: dict[str, Evidence] = {}
    for cand in candidates:
        versions = snapshot.file(cand.path)
        if versions is None or cand.id not in patched:
            continue
        before = cand.lines
        tests = (passing or {}).get(cand.id, frozenset())
        evidence[cand.id] = Evidence(
            region_lines_before=before.end - before.start + 1,
            region_lines_after=after_region(cand).end - after_region(cand).start + 1,
            findings_before=sum(
                1
                for f in findings
                if f.path == cand.path and LineRange(f.start_line, f.end_line).overlaps(before)
            ),
            findings_after=after_hits.get(cand.id, 0),
            complexity_before=_complexity(versions.head.text, before),
            complexity_after=_complexity(patched[cand.id], after_region(cand)),
            coverage=_coverage(versions.head.text, cand, snapshot, coverage, tests),
            rules_after=frozenset(after_rules.get(cand.id, ())),
        )
    return evidence


def _complexity(text: str, region: LineRange) -> int:
    try:
        blocks = function_blocks(text)
    except (SyntaxError, ValueError, RecursionError):
        return 0
    # the innermost functions around the region; module-level code counts as 1
    touching = [b for b in blocks if LineRange(b.start, max(b.start, b.end)).overlaps(region)]
    innermost = [
        b
        for b in touching
        if not any(o is not b and b.start <= o.start and o.end <= b.end for o in touching)
    ]
    return sum(b.complexity for b in innermost) or 1


def _coverage(
    text: str,
    cand: Candidate,
    snapshot: Snapshot,
    coverage: CoverageMap | None,
    tests: Iterable[str],
) -> float | None:
    """Share of the statements the candidate replaces that the (passing) tests execute."""
    if coverage is None:
        return None
    statements = _statement_lines(text, cand.lines) or _statement_lines(
        text, selection_scope(cand, snapshot, coverage)
    )
    if not statements:
        return None
    covered = coverage.covered_lines(cand.path, statements, tests)
    return covered / len(statements)


def _statement_lines(text: str, region: LineRange) -> list[int]:
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return []
    return sorted(
        {
            node.lineno
            for node in ast.walk(tree)
            if isinstance(node, ast.stmt)
            and node.lineno in region
            and not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        }
    )
