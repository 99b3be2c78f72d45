"""The hostile-links repository (tests/hostile_repo.py) proven in the sandbox: the links are
reported as skipped and left out of every work directory, and the covering test counts once."""

from __future__ import annotations

from hostile_repo import check_hostile_report, make_stats_repo
from repo_support import MakeRepo

from provenfix.jobs.config import PipelineConfig
from provenfix.jobs.factory import build_pipeline
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.sandbox.settings import SandboxSettings
from provenfix.jobs.settings import AnalysisSettings


def test_the_pipeline_in_the_sandbox(
    make_repo: MakeRepo, sandbox_settings: SandboxSettings
) -> None:
    config = PipelineConfig(validation="docker", sandbox=sandbox_settings)
    report = build_pipeline(AnalysisSettings(), config).run(
        AnalysisRequest(make_stats_repo(make_repo, hostile=True).path, "main", "pr")
    )
    check_hostile_report(report)
