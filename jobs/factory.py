"""The one place that builds the concrete pipeline.

`build_pipeline(settings, config)` wires the stages of one analysis from the
repository's settings (jobs.settings, read by jobs.repo_config) and the
deployment's configuration (jobs.config). A process that runs many analyses holds
one `PipelineFactory`: it opens the code model once (loaded on first use) and
checks, before any work is accepted, that the sandbox can run (`check_ready`).
The CLI, the Action and the App's worker all build their pipelines here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from provenfix.jobs.analyzer import Analyzer
from provenfix.jobs.complexity import ComplexityAnalyzer
from provenfix.jobs.config import PipelineConfig
from provenfix.jobs.diff import Change
from provenfix.jobs.errors import UsageError
from provenfix.jobs.generation.autofix import SemgrepAutofixGenerator
from provenfix.jobs.generation.base import CandidateGenerator
from provenfix.jobs.generation.code_model.backend import CodeModel
from provenfix.jobs.generation.code_model.config import ModelOptions, open_model
from provenfix.jobs.generation.code_model.examples import ExampleSource
from provenfix.jobs.generation.code_model.generator import ModelRepairGenerator
from provenfix.jobs.generation.codemods import CodemodGenerator
from provenfix.jobs.pipeline import Pipeline, Stages
from provenfix.jobs.progress import Progress, no_progress
from provenfix.jobs.repo_config import export_repo_semgrep
from provenfix.jobs.semgrep_stage import SemgrepAnalyzer
from provenfix.jobs.settings import AnalysisSettings

if TYPE_CHECKING:  # hypothesis and the Docker SDK: imported only when validating
    from provenfix.jobs.validation.stage import TestEnvironment, ValidationStage

OFF = PipelineConfig(validation="off")


class SandboxNotReady(UsageError):
    """The sandbox cannot run (no engine, no base image): the operator's to fix."""


def build_pipeline(
    settings: AnalysisSettings,
    config: PipelineConfig = OFF,
    *,
    model: CodeModel | None = None,
    progress: Progress = no_progress,
    use_repo_rules: bool = True,
    examples: ExampleSource | None = None,
) -> Pipeline:
    """The pipeline of one analysis. `model` (jobs.generation.code_model.config.open_model
    of `config.model`) writes candidates for what no rule fixes, within the repository's
    `model:` settings; `examples` gives it the fixes the repository's maintainers accepted
    (the App's bot.accepted_examples)."""
    rules = config.rules_dir
    tool_env = config.tool_environ
    timeout_s = settings.analysis_timeout_s

    def analyzers(change: Change, scratch: Path) -> Sequence[Analyzer]:
        repo_rules = (
            export_repo_semgrep(change.repo, change.base_sha, scratch / "repo-rules")
            if use_repo_rules
            else None
        )
        return [
            SemgrepAnalyzer(rules, repo_rules=repo_rules, timeout_s=timeout_s, env=tool_env),
            ComplexityAnalyzer(settings),
        ]

    environment = _environment(config, settings, progress)
    stages = Stages(
        analyzers=analyzers,
        generators=_generators(settings, model, config.model, examples),
        validation=_validation(environment, progress),
        rescanner=SemgrepAnalyzer(rules, timeout_s=timeout_s, env=tool_env),
    )
    return Pipeline(settings, stages, progress=progress)


class PipelineFactory:
    """A process's pipelines: one configuration, one code model (loaded by the first
    analysis that needs it), a pipeline per analysis."""

    def __init__(self, config: PipelineConfig, *, model: CodeModel | None = None) -> None:
        self.config = config
        self.model = model if model is not None else open_model(config.model)

    def pipeline(
        self,
        settings: AnalysisSettings,
        progress: Progress = no_progress,
        *,
        examples: ExampleSource | None = None,
    ) -> Pipeline:
        return build_pipeline(
            settings, self.config, model=self.model, progress=progress, examples=examples
        )

    def check_ready(self) -> str:
        """Before accepting work: the engine answers, the base image is there (or pulled),
        and this owner's containers left by a killed worker are removed. SandboxNotReady
        saying how to fix it otherwise; a line describing the sandbox when ready."""
        if self.config.validation != "docker":
            return f"validation: {self.config.validation}"
        from provenfix.jobs.sandbox.env_image import (
            ensure_base_image,
        )  # the Docker SDK only when used
        from provenfix.jobs.sandbox.errors import SandboxError
        from provenfix.jobs.sandbox.runner import open_sandbox

        settings = self.config.sandbox
        try:
            sandbox = open_sandbox(settings)
        except SandboxError as exc:
            raise SandboxNotReady(f"PROVENFIX_SANDBOX=docker, but {exc}") from None
        try:
            ensure_base_image(sandbox.client, settings)
            removed = sandbox.remove_leftovers(older_than_s=sandbox.longest_run_s)
        except SandboxError as exc:
            raise SandboxNotReady(str(exc)) from None
        finally:
            sandbox.client.close()
        left = f"; removed {removed} leftover container(s)" if removed else ""
        return f"validation: docker, base image {settings.base_image}{left}"


def _generators(
    settings: AnalysisSettings,
    model: CodeModel | None,
    options: ModelOptions,
    examples: ExampleSource | None = None,
) -> list[CandidateGenerator]:
    generators: list[CandidateGenerator] = [SemgrepAutofixGenerator(), CodemodGenerator()]
    if model is not None and settings.model_enabled:
        samples = min(options.samples, settings.model_samples or options.samples)
        rounds = min(options.rounds, settings.model_rounds or options.rounds)
        generators.append(
            ModelRepairGenerator(
                model,
                samples=samples,
                max_new_tokens=options.max_new_tokens,
                temperature=options.temperature,
                time_budget_s=options.time_budget_s,
                max_targets=options.max_targets,
                examples=examples,
                rounds=rounds,
                target_budget_s=options.target_budget_s,
            )
        )
    return generators


def _validation(environment: TestEnvironment | None, progress: Progress) -> ValidationStage | None:
    if environment is None:
        return None
    from provenfix.jobs.validation.stage import ValidationStage

    return ValidationStage(environment, progress=progress)


def _environment(
    config: PipelineConfig, settings: AnalysisSettings, progress: Progress
) -> TestEnvironment | None:
    if config.validation == "off":
        return None
    from provenfix.jobs.validation.stage import DockerTestEnvironment, LocalTestEnvironment

    if config.validation == "none":
        return LocalTestEnvironment(
            python=config.python, pytest_args=settings.pytest_args, environ=config.tool_environ
        )
    from provenfix.jobs.sandbox.runner import open_sandbox  # the Docker SDK only when used

    return DockerTestEnvironment(
        open_sandbox(config.sandbox),
        install_command=settings.install_command,
        pytest_args=settings.pytest_args,
        progress=progress,
    )
