"""The one place that builds the concrete pipeline from settings."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from jobs.analyzer import Analyzer
from jobs.complexity import ComplexityAnalyzer
from jobs.diff import Change
from jobs.pipeline import Pipeline, Progress, no_progress
from jobs.repo_config import export_repo_semgrep
from jobs.semgrep_stage import SemgrepAnalyzer, bundled_rules_dir
from jobs.settings import AnalysisSettings


def build_pipeline(
    settings: AnalysisSettings,
    *,
    rules_dir: Path | None = None,
    use_repo_rules: bool = True,
    progress: Progress = no_progress,
) -> Pipeline:
    rules = rules_dir or bundled_rules_dir()

    def analyzers(change: Change, scratch: Path) -> Sequence[Analyzer]:
        repo_rules = (
            export_repo_semgrep(change.repo, change.base_sha, scratch / "repo-rules")
            if use_repo_rules
            else None
        )
        return [
            SemgrepAnalyzer(rules, repo_rules=repo_rules, timeout_s=settings.analysis_timeout_s),
            ComplexityAnalyzer(settings),
        ]

    return Pipeline(settings, analyzers, progress=progress)
