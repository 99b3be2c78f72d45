"""radon stage: cyclomatic complexity per changed function, maintainability per file.

A function is "changed" when the change added or modified one of its lines.
Each is measured at head and, under the same qualified name, at the merge
base. Findings are raised when the change pushes a function above the
threshold, makes one that was already above it notably worse, or drops a
file's maintainability index below its threshold.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from radon.complexity import cc_rank, cc_visit
from radon.metrics import mi_visit

from provenfix.jobs.analyzer import AnalysisPart
from provenfix.jobs.fingerprint import Fingerprinter
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
                mi_head = _mi(versions.head.text)
                mi_base = _mi(versions.base.text) if versions.base else None
                file_metrics = list(self._measure(versions, mi_head, mi_base))
            except (SyntaxError, ValueError, RecursionError) as exc:
                skipped.append(Skipped(versions.change.path, f"radon could not measure it: {exc}"))
                continue
            metrics.extend(file_metrics)
            findings.extend(self._judge(file_metrics, fingerprint))
            findings.extend(self._judge_file(versions, mi_head, mi_base, fingerprint))
        return AnalysisPart(tuple(findings), tuple(metrics), tuple(skipped))

    def _measure(
        self, versions: FileVersions, mi_head: float, mi_base: float | None
    ) -> Iterator[FunctionMetrics]:
        head_blocks = function_blocks(versions.head.text)
        base_blocks = (
            {b.name: b for b in function_blocks(versions.base.text)} if versions.base else {}
        )
        for block in head_blocks:
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
                mi_head=mi_head,
                mi_base=mi_base,
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


def _mi(text: str) -> float:
    return round(float(mi_visit(text, multi=True)), 2)


def _ranked(cc: int) -> str:
    return f"{cc} (rank {cc_rank(cc)})"


def function_blocks(text: str) -> list[FunctionBlock]:
    """Every function and method with its qualified name, closures included."""
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

    for top in cc_visit(text):
        if getattr(top, "is_method", False):
            continue  # radon lists methods both inside their class and on their own
        add(top, "")
    return out
