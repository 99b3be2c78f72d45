"""radon stage: cyclomatic complexity per changed function, maintainability per file.

A function is "changed" when the change added or modified one of its lines.
Each is measured at head and, under the same qualified name, at the merge
base. Findings are raised when the change pushes a function above the
threshold, makes one that was already above it notably worse, or drops a
file's maintainability index below its threshold.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from radon.complexity import cc_rank
from radon.metrics import h_visit_ast, mi_compute
from radon.visitors import ComplexityVisitor

from provenfix.jobs.analyzer import AnalysisPart
from provenfix.jobs.fingerprint import Fingerprinter
from provenfix.jobs.radon_raw import raw_metrics
from provenfix.jobs.report import (
    Category,
    Finding,
    FindingSource,
    FunctionMetrics,
    LineRange,
    Severity,
    Skipped,
)
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.snapshot import FileVersions, Snapshot


@dataclass(frozen=True)
class FunctionBlock:
    name: str
    start: int
    end: int
    complexity: int


class ComplexityAnalyzer:
    name = "radon"

    def __init__(self, settings: AnalysisSettings) -> None:
        self._settings = settings

    def analyze(self, snapshot: Snapshot, fingerprint: Fingerprinter) -> AnalysisPart:
        findings: list[Finding] = []
        metrics: list[FunctionMetrics] = []
        skipped: list[Skipped] = []
        for versions in snapshot.files:
            try:
                head = _measure_text(versions.head.text)
                base = _measure_text(versions.base.text) if versions.base else None
                file_metrics = list(self._measure(versions, head, base))
            except (SyntaxError, ValueError, RecursionError) as exc:
                skipped.append(Skipped(versions.change.path, f"radon could not measure it: {exc}"))
                continue
            metrics.extend(file_metrics)
            findings.extend(self._judge(file_metrics, fingerprint))
            mi_base = base.maintainability if base else None
            findings.extend(self._judge_file(versions, head.maintainability, mi_base, fingerprint))
        return AnalysisPart(tuple(findings), tuple(metrics), tuple(skipped))

    def _measure(
        self, versions: FileVersions, head: _Measured, base: _Measured | None
    ) -> Iterator[FunctionMetrics]:
        base_blocks = {b.name: b for b in base.blocks} if base else {}
        for block in head.blocks:
            if not versions.change.touches(LineRange(block.start, block.end)):
                continue
            before = base_blocks.get(block.name)
            yield FunctionMetrics(
                path=versions.change.path,
                name=block.name,
                start_line=block.start,
                end_line=block.end,
                cc_head=max(1, block.complexity),
                cc_base=max(1, before.complexity) if before else None,
                mi_head=head.maintainability,
                mi_base=base.maintainability if base else None,
            )

    def _judge(
        self, metrics: list[FunctionMetrics], fingerprint: Fingerprinter
    ) -> Iterator[Finding]:
        limit = self._settings.complexity_threshold
        for m in metrics:
            if m.cc_head <= limit:
                continue
            if m.cc_base is None or m.cc_base <= limit:
                was = "new in this change" if m.cc_base is None else f"it was {_ranked(m.cc_base)}"
                rule = "complexity-above-threshold"
                message = (
                    f"`{m.name}` has cyclomatic complexity {_ranked(m.cc_head)}, above the "
                    f"limit of {limit} ({was}). Split it into smaller functions or simplify "
                    "its branching so each path can be tested."
                )
            elif m.cc_head - m.cc_base >= self._settings.complexity_increase:
                rule = "complexity-increased"
                message = (
                    f"This change raises the cyclomatic complexity of `{m.name}` from "
                    f"{_ranked(m.cc_base)} to {_ranked(m.cc_head)}; it was already above the "
                    f"limit of {limit}. Extract the new branches into a helper."
                )
            else:
                continue
            yield Finding(
                id=fingerprint(rule, m.path, m.name, m.name),
                source=FindingSource.RADON,
                rule_id=rule,
                category=Category.MAINTAINABILITY,
                severity=Severity.WARNING,
                path=m.path,
                start_line=m.start_line,
                end_line=m.start_line,
                message=message,
                function=m.name,
            )

    def _judge_file(
        self,
        versions: FileVersions,
        mi_head: float,
        mi_base: float | None,
        fingerprint: Fingerprinter,
    ) -> Iterator[Finding]:
        limit = self._settings.maintainability_threshold
        if mi_head >= limit or (mi_base is not None and mi_base < limit):
            return
        line = versions.change.added[0].start
        path = versions.change.path
        before = "" if mi_base is None else f" (it was {mi_base:.1f})"
        yield Finding(
            id=fingerprint("maintainability-below-threshold", path, None, path),
            source=FindingSource.RADON,
            rule_id="maintainability-below-threshold",
            category=Category.MAINTAINABILITY,
            severity=Severity.INFO,
            path=path,
            start_line=line,
            end_line=line,
            message=(
                f"The maintainability index of this file drops to {mi_head:.1f}{before}, "
                f"below {limit:g} (radon rank C). Long, branchy functions are the usual cause."
            ),
            function=None,
        )


def hotspots(metrics: Iterable[FunctionMetrics], threshold: int) -> tuple[FunctionMetrics, ...]:
    """The changed functions worth rewriting even where no finding points at them: above
    the complexity threshold at head (radon rank C or worse) and new or made more complex
    by the change, reported or not (one already above it that the change made only a
    little worse is no finding). A complex function the change touched without adding
    to its complexity is not one: rewrites of it are not this change's business."""
    return tuple(
        m for m in metrics if m.cc_head > threshold and (m.cc_base is None or m.cc_head > m.cc_base)
    )


@dataclass(frozen=True)
class _Measured:
    maintainability: float
    blocks: list[FunctionBlock]


def _measure_text(text: str) -> _Measured:
    """radon's `mi_visit(text, multi=True)` and `cc_visit(text)` from one parse and one
    complexity pass: each alone parses the module again."""
    tree = ast.parse(text)
    raw = raw_metrics(text)
    complexity = ComplexityVisitor.from_ast(tree)
    comments = (raw.comments + raw.multi) / float(raw.sloc) * 100 if raw.sloc != 0 else 0
    volume = h_visit_ast(tree).total.volume
    mi = mi_compute(volume, complexity.total_complexity, raw.lloc, comments)
    return _Measured(round(float(mi), 2), _blocks(complexity.blocks))


def _ranked(cc: int) -> str:
    return f"{cc} (rank {cc_rank(cc)})"


def function_blocks(text: str) -> list[FunctionBlock]:
    """Every function and method with its qualified name, closures included."""
    return _blocks(ComplexityVisitor.from_ast(ast.parse(text)).blocks)


def _blocks(visited: Iterable[object]) -> list[FunctionBlock]:
    out: list[FunctionBlock] = []

    def add(block: object, prefix: str) -> None:
        name = f"{prefix}{block.name}"  # type: ignore[attr-defined]
        if hasattr(block, "methods"):  # a class
            for method in block.methods:
                add(method, f"{name}.")
            for inner in getattr(block, "inner_classes", []):
                add(inner, f"{name}.")
            return
        out.append(
            FunctionBlock(
                name,
                block.lineno,  # type: ignore[attr-defined]
                block.endline,  # type: ignore[attr-defined]
                block.complexity,  # type: ignore[attr-defined]
            )
        )
        for closure in getattr(block, "closures", []):
            add(closure, f"{name}.")

    for top in visited:
        if getattr(top, "is_method", False):
            continue  # radon lists methods both inside their class and on their own
        add(top, "")
    return out
