"""The seam every analyzer sits behind."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

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


class RunningScan(Protocol):
    def result(self, snapshot: Snapshot, fingerprint: Fingerprinter) -> AnalysisPart:
        """Waits for the scan; its findings on the snapshot's files."""
        ...

    def cancel(self) -> None: ...


@runtime_checkable
class StartsEarly(Protocol):
    """An analyzer whose scan runs in another process (semgrep): the pipeline starts it
    on the change's files before the snapshot is taken (jobs.early_scan)."""

    name: str

    def start(self, root: Path, targets: Sequence[str]) -> RunningScan: ...
