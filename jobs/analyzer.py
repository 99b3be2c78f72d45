"""The seam every analyzer sits behind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from provenfix.jobs.fingerprint import Fingerprinter
from provenfix.jobs.report import Finding, FunctionMetrics, Skipped
from provenfix.jobs.snapshot import Snapshot


@dataclass(frozen=True)
class AnalysisPart:
    findings: tuple[Finding, ...] = ()
    metrics: tuple[FunctionMetrics, ...] = ()
    skipped: tuple[Skipped, ...] = ()


class Analyzer(Protocol):
    name: str

    def analyze(self, snapshot: Snapshot, fingerprint: Fingerprinter) -> AnalysisPart: ...
