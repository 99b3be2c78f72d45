"""The analysis pipeline: diff → snapshot → analyzers → filter by diff → report.

`Pipeline.run` is what a queued job, the GitHub Action and the CLI all call.
It knows nothing of GitHub; the concrete analyzers are chosen in
`jobs.factory`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from jobs import __version__
from jobs.analyzer import AnalysisPart, Analyzer
from jobs.diff import Change, compute_change, open_repo
from jobs.fingerprint import Fingerprinter
from jobs.model import Finding, Report, Skipped, ToolInfo
from jobs.settings import AnalysisSettings
from jobs.snapshot import Snapshot, take_snapshot

Progress = Callable[[str], None]


def no_progress(_: str) -> None:
    pass


@dataclass(frozen=True)
class AnalysisRequest:
    repo_path: Path
    base: str
    head: str = "HEAD"


class Pipeline:
    def __init__(
        self,
        settings: AnalysisSettings,
        analyzers: Callable[[Change, Path], Sequence[Analyzer]],
        *,
        progress: Progress = no_progress,
    ) -> None:
        self._settings = settings
        self._analyzers = analyzers  # built per change: repo rules come from its base
        self._progress = progress

    def run(self, request: AnalysisRequest) -> Report:
        started = time.perf_counter()
        stages: dict[str, float] = {}
        repo = open_repo(request.repo_path)
        with _timed(stages, "diff"):
            change = compute_change(repo, request.base, request.head)
        self._progress(
            f"diff: {len(change.files)} files changed between "
            f"{change.base_sha[:10]} (merge base) and {change.head_sha[:10]}"
        )
        with tempfile.TemporaryDirectory(prefix="provenfix-") as scratch:
            root = Path(scratch)
            with _timed(stages, "analyze"):
                snapshot = take_snapshot(change, self._settings, root / "head")
                parts = self._analyze(change, snapshot, root)
        findings = _in_change(change, parts, self._settings)
        self._progress(f"analyze: {len(findings)} findings on changed lines")
        return Report(
            tool=ToolInfo(version=__version__),
            repository=str(request.repo_path),
            base=change.base_sha,
            head=change.head_sha,
            files_changed=len(change.files),
            lines_added=sum(f.lines_added for f in change.files),
            findings=findings,
            metrics=tuple(m for part in parts for m in part.metrics),
            suggestions=(),
            skipped=_dedupe_skipped([*snapshot.skipped, *(s for p in parts for s in p.skipped)]),
            duration_s=round(time.perf_counter() - started, 3),
            stage_durations_s=stages,
        )

    def _analyze(self, change: Change, snapshot: Snapshot, scratch: Path) -> list[AnalysisPart]:
        if not snapshot.files:
            return []
        analyzers = self._analyzers(change, scratch)
        self._progress(
            f"analyze: {len(snapshot.files)} Python files with "
            + ", ".join(a.name for a in analyzers)
        )
        # semgrep is a subprocess: the in-process analyzers run while it scans.
        with ThreadPoolExecutor(max_workers=len(analyzers)) as pool:
            futures = [pool.submit(a.analyze, snapshot, Fingerprinter()) for a in analyzers]
            return [future.result() for future in futures]


def _in_change(
    change: Change, parts: Sequence[AnalysisPart], settings: AnalysisSettings
) -> tuple[Finding, ...]:
    """Keep findings that touch added or changed lines, once each, in file order."""
    by_path = {f.path: f for f in change.files}
    kept: dict[str, Finding] = {}
    for part in parts:
        for finding in part.findings:
            changed = by_path.get(finding.path)
            if changed is None or finding.rule_id in settings.disabled_rules:
                continue
            if not any(
                r.start <= finding.end_line and finding.start_line <= r.end for r in changed.added
            ):
                continue
            kept.setdefault(finding.id, finding)
    return tuple(sorted(kept.values(), key=lambda f: (f.path, f.start_line, f.rule_id)))


def _dedupe_skipped(items: Sequence[Skipped]) -> tuple[Skipped, ...]:
    return tuple(dict.fromkeys(items))


class _timed:
    def __init__(self, stages: dict[str, float], name: str) -> None:
        self._stages, self._name = stages, name

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self._start
        self._stages[self._name] = round(self._stages.get(self._name, 0.0) + elapsed, 3)
