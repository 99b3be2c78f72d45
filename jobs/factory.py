"""The one place that builds the concrete pipeline from settings."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from jobs.analyzer import Analyzer
from jobs.complexity import ComplexityAnalyzer
from jobs.diff import Change
from jobs.generation.autofix import SemgrepAutofixGenerator
from jobs.generation.base import CandidateGenerator
from jobs.generation.code_model.backend import CodeModel
from jobs.generation.code_model.config import ModelOptions
from jobs.generation.code_model.generator import ModelRepairGenerator
from jobs.generation.codemods import CodemodGenerator
from jobs.pipeline import Pipeline, Progress, Stages, no_progress
from jobs.repo_config import export_repo_semgrep
from jobs.semgrep_stage import SemgrepAnalyzer, bundled_rules_dir
from jobs.settings import AnalysisSettings
from jobs.validation.stage import (
    DockerTestEnvironment,
    LocalTestEnvironment,
    TestEnvironment,
    ValidationStage,
)

SANDBOX_MODES = ("docker", "none", "off")


@dataclass(frozen=True)
class ValidationOptions:
    """How candidates are proven: `docker` (hardened containers), `none` (this host's
    Python, no isolation: see jobs.validation.local_runner), or `off`."""

    mode: str = "docker"
    python: str = sys.executable  # for mode "none"
    install_command: str | None = None
    pytest_args: Sequence[str] = ()


def build_pipeline(
    settings: AnalysisSettings,
    *,
    validation: ValidationOptions | None = None,
    env: Mapping[str, str] | None = None,
    rules_dir: Path | None = None,
    use_repo_rules: bool = True,
    progress: Progress = no_progress,
    model: CodeModel | None = None,
    model_options: ModelOptions | None = None,
) -> Pipeline:
    """`model` (see jobs.generation.code_model.config.open_model) writes candidates for what no
    rule fixes, tuned by `model_options` and the repository's `model:` settings."""
    rules = rules_dir or bundled_rules_dir()
    validation = validation or ValidationOptions(mode="off")

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

    stage = None
    environment = _environment(validation, env if env is not None else os.environ, progress)
    if environment is not None:
        stage = ValidationStage(environment, progress=progress)
    stages = Stages(
        analyzers=analyzers,
        generators=_generators(settings, model, model_options or ModelOptions()),
        validation=stage,
        rescanner=SemgrepAnalyzer(rules, timeout_s=settings.analysis_timeout_s),
    )
    return Pipeline(settings, stages, progress=progress)


def _generators(
    settings: AnalysisSettings, model: CodeModel | None, options: ModelOptions
) -> list[CandidateGenerator]:
    generators: list[CandidateGenerator] = [SemgrepAutofixGenerator(), CodemodGenerator()]
    if model is not None and settings.model_enabled:
        samples = min(options.samples, settings.model_samples or options.samples)
        generators.append(
            ModelRepairGenerator(
                model,
                samples=samples,
                max_new_tokens=options.max_new_tokens,
                temperature=options.temperature,
                time_budget_s=options.time_budget_s,
                max_targets=options.max_targets,
            )
        )
    return generators


def _environment(
    options: ValidationOptions, env: Mapping[str, str], progress: Progress
) -> TestEnvironment | None:
    if options.mode == "off":
        return None
    if options.mode == "none":
        return LocalTestEnvironment(python=options.python, pytest_args=options.pytest_args)
    from jobs.sandbox.runner import sandbox_from_env  # the Docker SDK only when used

    return DockerTestEnvironment(
        sandbox_from_env(env),
        install_command=options.install_command,
        pytest_args=options.pytest_args,
        progress=progress,
    )
