"""The pipeline: diff → snapshot → analyze → filter by diff → generate → validate → score.

`Pipeline.run` is what a queued job, the GitHub Action and the CLI all call.
It knows nothing of GitHub; the concrete stages are chosen in `jobs.factory`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from provenfix.jobs import __version__
from provenfix.jobs.analyzer import AnalysisPart, Analyzer, RunningScan, StartsEarly
from provenfix.jobs.complexity import hotspots
from provenfix.jobs.diff import Change, compute_change, open_repo
from provenfix.jobs.early_scan import write_scan_tree
from provenfix.jobs.evidence import collect_evidence
from provenfix.jobs.fingerprint import Fingerprinter
from provenfix.jobs.generation.base import CandidateGenerator, ExplainsDrops
from provenfix.jobs.generation.code_model.repair_loop import model_attempts, repair_rounds
from provenfix.jobs.progress import Progress, ProgressEvent, Stage, no_progress
from provenfix.jobs.report import (
    Candidate,
    Finding,
    FunctionMetrics,
    Report,
    Skipped,
    ToolInfo,
    Validation,
    ValidationStatus,
)
from provenfix.jobs.semgrep_stage import SemgrepAnalyzer
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.snapshot import Snapshot, take_snapshot
from provenfix.jobs.suggest import assemble_suggestions, outside_reason, untouched_line
from provenfix.jobs.suppression import split_suppressed

if TYPE_CHECKING:  # the validation stage (hypothesis, the Docker SDK) only when it runs
    from provenfix.jobs.validation.probe import CoverageMap
    from provenfix.jobs.validation.stage import ValidationStage


@dataclass(frozen=True)
class AnalysisRequest:
    repo_path: Path
    base: str
    head: str = "HEAD"


@dataclass(frozen=True)
class Stages:
    analyzers: Callable[[Change, Path], Sequence[Analyzer]]  # per change: repo rules from base
    generators: Sequence[CandidateGenerator] = ()
    validation: ValidationStage | None = None  # None: candidates are reported, never proven
    rescanner: SemgrepAnalyzer | None = None  # findings after each candidate (evidence)


class Focused(CandidateGenerator, Protocol):
    def warm(self) -> None:
        """Does now, while semgrep still scans, what it can before the findings are known."""
        ...


@runtime_checkable
class Focusable(Protocol):
    """A generator that rewrites only the functions that hold a finding or are complexity
    hotspots, once told the hotspots (jobs.generation.codemods.focus)."""

    def focused(self, snapshot: Snapshot, hotspots: Iterable[FunctionMetrics]) -> Focused: ...


@dataclass(frozen=True)
class _Proven:
    verdicts: Mapping[str, Validation]
    skipped: tuple[Skipped, ...] = ()
    coverage: CoverageMap | None = None


class Pipeline:
    def __init__(
        self, settings: AnalysisSettings, stages: Stages, *, progress: Progress = no_progress
    ) -> None:
        self._settings = settings
        self._stages = stages
        self._progress = progress

    def _say(self, stage: Stage, text: str) -> None:
        self._progress(ProgressEvent(stage, text))

    def run(self, request: AnalysisRequest) -> Report:
        started = time.perf_counter()
        timer = _StageTimer()
        repo = open_repo(request.repo_path)
        with timer("diff"):
            change = compute_change(repo, request.base, request.head)
        self._say(
            Stage.DIFF,
            f"{len(change.files)} files changed between "
            f"{change.base_sha[:10]} (merge base) and {change.head_sha[:10]}",
        )
        with tempfile.TemporaryDirectory(prefix="provenfix-") as scratch_name:
            scratch = Path(scratch_name)
            with timer("analyze"):
                snapshot, parts, generators = self._analyze(change, scratch)
            findings, suppressed = split_suppressed(
                _in_change(change, parts, self._settings), snapshot
            )
            self._say(Stage.ANALYZE, f"{len(findings)} findings on changed lines")
            outcome, candidates = self._generate_and_validate(
                change, snapshot, findings, scratch, timer, generators
            )
            # Evidence is measured for proven candidates only: the others score 0
            # whatever it would say, and the re-scan is a whole semgrep run.
            proven = [
                c
                for c in candidates
                if c.id in outcome.verdicts
                and outcome.verdicts[c.id].status is ValidationStatus.PASSED
            ]
            with timer("score"):
                evidence = (
                    collect_evidence(
                        proven,
                        snapshot,
                        findings,
                        self._stages.rescanner,
                        scratch / "rescan",
                        coverage=outcome.coverage,
                        passing={
                            c.id: frozenset(outcome.verdicts[c.id].passing_tests) for c in proven
                        },
                    )
                    if self._stages.rescanner is not None and proven
                    else {}
                )
                suggestions, turned_away = assemble_suggestions(
                    candidates,
                    findings,
                    outcome.verdicts,
                    evidence,
                    weights=self._settings.weights,
                    complexity_threshold=self._settings.complexity_threshold,
                    changed={f.path: f.added for f in change.files},
                )
        findings.sort(key=lambda f: (f.path, f.start_line, f.rule_id))
        return Report(
            tool=ToolInfo(version=__version__),
            repository=str(request.repo_path),
            base=change.base_sha,
            head=change.head_sha,
            files_changed=len(change.files),
            lines_added=sum(f.lines_added for f in change.files),
            findings=tuple(findings),
            metrics=tuple(m for part in parts for m in part.metrics),
            suggestions=suggestions,
            skipped=_dedupe_skipped(
                [
                    *snapshot.skipped,
                    *(s for p in parts for s in p.skipped),
                    *suppressed,
                    *outcome.skipped,
                    *turned_away,
                    *self._dropped(),
                ]
            ),
            duration_s=round(time.perf_counter() - started, 3),
            stage_durations_s=timer.durations,
            model_attempts=model_attempts(self._stages.generators),
        )

    def _analyze(
        self, change: Change, scratch: Path
    ) -> tuple[Snapshot, list[AnalysisPart], list[CandidateGenerator]]:
        """The snapshot, each analyzer's part, and the generators for this change.

        The scans that run in other processes start first, on the files the snapshot will
        hold (jobs.early_scan); the snapshot, the in-process analyzers and the generators'
        early work (codemods on complexity hotspots) run while they scan.
        """
        generators = list(self._stages.generators)
        targets = write_scan_tree(change, self._settings, scratch / "scan")
        analyzers = self._stages.analyzers(change, scratch) if targets else []
        running: list[RunningScan | None] = [
            a.start(scratch / "scan", targets) if isinstance(a, StartsEarly) else None
            for a in analyzers
        ]
        pool = ThreadPoolExecutor(max_workers=max(1, len(analyzers)))
        try:
            snapshot = take_snapshot(change, self._settings, scratch / "head")
            if not snapshot.files:
                return snapshot, [], generators
            if not analyzers:  # nothing the scan could start on, yet something to analyze
                analyzers = self._stages.analyzers(change, scratch)
                running = [None] * len(analyzers)
            self._say(
                Stage.ANALYZE,
                f"{len(snapshot.files)} Python files with " + ", ".join(a.name for a in analyzers),
            )
            scans: dict[int, Future[AnalysisPart]] = {
                i: pool.submit(scan.result, snapshot, Fingerprinter())
                for i, scan in enumerate(running)
                if scan is not None
            }
            local = {
                i: a.analyze(snapshot, Fingerprinter())
                for i, a in enumerate(analyzers)
                if i not in scans
            }
            hot = hotspots(
                (m for part in local.values() for m in part.metrics),
                self._settings.complexity_threshold,
            )
            generators = [_focused(g, snapshot, hot) for g in generators]
            parts = [scans[i].result() if i in scans else local[i] for i in range(len(analyzers))]
        finally:
            for scan in running:  # a no-op for a finished scan; stops one an error left running
                if scan is not None:
                    scan.cancel()
            pool.shutdown()
        return snapshot, parts, generators

    def _generate_and_validate(
        self,
        change: Change,
        snapshot: Snapshot,
        findings: list[Finding],
        scratch: Path,
        timer: _StageTimer,
        generators: Sequence[CandidateGenerator],
    ) -> tuple[_Proven, list[Candidate]]:
        stage = self._stages.validation
        if stage is None or not snapshot.files:
            with timer("generate"):
                candidates, outside = self._generate(generators, findings, snapshot, change)
            reason = "validation is off" if stage is None else "no Python change to validate"
            return _Proven(_not_validated(candidates, reason), outside), candidates
        from provenfix.jobs.validation.stage import NoTestEnvironment

        try:
            with timer("validate"):
                session = stage.start(
                    change.repo, change.head_sha, change.base_sha, snapshot, scratch / "validate"
                )
                findings.extend(session.failing_test_findings())
        except NoTestEnvironment as missing:
            with timer("generate"):
                candidates, outside = self._generate(generators, findings, snapshot, change)
            skipped = (Skipped("(test environment)", missing.reason), *outside)
            return _Proven(_not_validated(candidates, missing.reason), skipped), candidates
        with timer("generate"):
            candidates, outside = self._generate(generators, findings, snapshot, change)
        with timer("validate"):
            outcome = session.validate(candidates, _targets(candidates, findings))
        outcome, candidates = repair_rounds(  # the model's next rounds, on the same baseline
            generators,
            outcome,
            candidates,
            lambda more: session.validate(more, _targets(more, findings)),
            changed={f.path: f.added for f in change.files},
            clock=timer,
            progress=self._progress,
        )
        proven = sum(1 for v in outcome.verdicts.values() if v.status is ValidationStatus.PASSED)
        self._say(Stage.VALIDATE, f"{proven} of {len(candidates)} candidates proven by the tests")
        return _Proven(outcome.verdicts, (*outcome.skipped, *outside), outcome.coverage), candidates

    def _dropped(self) -> list[Skipped]:
        return [
            item
            for generator in self._stages.generators
            if isinstance(generator, ExplainsDrops)
            for item in generator.dropped()
        ]

    def _generate(
        self,
        generators: Sequence[CandidateGenerator],
        findings: Sequence[Finding],
        snapshot: Snapshot,
        change: Change,
    ) -> tuple[list[Candidate], tuple[Skipped, ...]]:
        """The candidates, and those that rewrite lines the change did not touch (never
        proven: the posting gate would turn them away, see jobs.suggest)."""
        names = ", ".join(type(g).__name__ for g in self._stages.generators)
        self._say(Stage.GENERATE, f"writing candidate fixes ({names})")
        candidates: list[Candidate] = []
        outside: list[Skipped] = []
        seen: set[str] = set()
        changed = {f.path: f.added for f in change.files}
        for generator in generators:
            for cand in generator.generate(findings, snapshot):
                if cand.id in seen:
                    continue
                seen.add(cand.id)
                line = untouched_line(cand, changed)
                if line is None:
                    candidates.append(cand)
                else:
                    outside.append(Skipped(cand.path, outside_reason(cand, line), cand.start_line))
        self._say(
            Stage.GENERATE,
            f"{len(candidates)} candidate fixes"
            + (f" ({len(outside)} more rewrite lines the change did not touch)" if outside else ""),
        )
        return candidates, tuple(outside)


def _focused(
    generator: CandidateGenerator, snapshot: Snapshot, hot: Sequence[FunctionMetrics]
) -> CandidateGenerator:
    if not isinstance(generator, Focusable):
        return generator
    focused = generator.focused(snapshot, hot)
    focused.warm()
    return focused


def _not_validated(candidates: Sequence[Candidate], reason: str) -> dict[str, Validation]:
    return {c.id: Validation(status=ValidationStatus.NOT_RUN, detail=reason) for c in candidates}


def _targets(
    candidates: Sequence[Candidate], findings: Sequence[Finding]
) -> dict[str, frozenset[str]]:
    """Failing tests each repair must make pass: those behind the findings it addresses."""
    failing = {f.id: f.test for f in findings if f.test is not None}
    return {
        c.id: frozenset(failing[i] for i in c.finding_ids if i in failing)
        for c in candidates
        if any(i in failing for i in c.finding_ids)
    }


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


class _StageTimer:
    def __init__(self) -> None:
        self.durations: dict[str, float] = {}

    def __call__(self, name: str) -> _Timed:
        return _Timed(self.durations, name)


class _Timed:
    def __init__(self, durations: dict[str, float], name: str) -> None:
        self._durations, self._name = durations, name

    def __enter__(self) -> None:
        self._start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self._start
        self._durations[self._name] = round(self._durations.get(self._name, 0.0) + elapsed, 3)
