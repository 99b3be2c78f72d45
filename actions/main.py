"""`provenfix action` (or `python -m actions`): the GitHub Action's step.

Runs on a workflow runner, on the pull request of the triggering event, with
the same pipeline as the App (`jobs.factory.build_pipeline`, the repository's
settings read from the BASE commit), and publishes the same check run and
review as the App (`bot.publish.Publisher`) with the workflow's token. Writes
the JSON report, the SARIF file, the job summary and the step outputs
(`findings`, `proven`, `report`, `sarif`, `published`) whatever GitHub says.

A pull request from a fork, or a token that may not write checks or reviews,
degrades to the job summary plus workflow-command annotations; a GitHub error
or rate limit is one clear line, never a traceback, and never fails the step.

Exit status: 0 the analysis ran (or the event has nothing to analyze), 3 a
finding reached `fail-on`, 2 a usage or configuration error, 1 an internal error.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path

from provenfix.actions import runner
from provenfix.actions.checkout import ensure_commits
from provenfix.actions.event import NotApplicable, PullRequestEvent, read_event, read_token
from provenfix.actions.options import (
    ActionOptions,
    add_arguments,
    options_from,
    pipeline_environment,
    pipeline_flags,
)
from provenfix.actions.publishing import FORBIDDEN_HINT, GitHubChannel, github_client
from provenfix.bot.check_summary import Placement, render_check_summary
from provenfix.bot.github_api import install_log_redaction, redact
from provenfix.bot.publish import PublishResult
from provenfix.jobs.cli import EXIT_FINDINGS
from provenfix.jobs.config import PipelineConfig, load_pipeline_config
from provenfix.jobs.diff import open_repo
from provenfix.jobs.errors import ProvenFixError, UsageError
from provenfix.jobs.factory import PipelineFactory
from provenfix.jobs.formats import RENDERERS
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.progress import ProgressEvent
from provenfix.jobs.repo_config import (
    config_change_notice,
    known_rule_ids,
    read_repo_settings,
    read_settings_file,
)
from provenfix.jobs.report import Report
from provenfix.jobs.settings import AnalysisSettings

SUMMARY_LIMIT = 1_000_000  # GitHub takes up to 1 MiB of job summary per step


class Console:
    """The step's log: workflow commands on stdout, progress on stderr, never the token."""

    def __init__(self, token: str | None) -> None:
        self._token = token

    def clean(self, text: str) -> str:
        if self._token:
            text = text.replace(self._token, "***")
        return redact(text)

    def info(self, text: str) -> None:
        print(f"[provenfix] {self.clean(text)}", file=sys.stderr, flush=True)

    def command(self, name: str, text: str) -> None:
        print(runner.workflow_command(name, self.clean(text)), flush=True)

    def annotate(self, annotation: runner.Annotation) -> None:
        print(self.clean(annotation.command()), flush=True)


def run_action(args: argparse.Namespace) -> int:
    env = dict(os.environ)
    install_log_redaction()
    token = read_token(env)
    console = Console(token)
    try:
        options = options_from(args, env)
    except UsageError as exc:
        console.command("error", f"ProvenFix: {exc}")
        return 2
    return ActionRun(options, env, token, console).run()


class ActionRun:
    def __init__(
        self, options: ActionOptions, env: Mapping[str, str], token: str | None, console: Console
    ) -> None:
        self.options = options
        self.env = env
        self.token = token
        self.console = console
        self.channel: GitHubChannel | None = None

    def run(self) -> int:
        event = read_event(self.env)
        if isinstance(event, NotApplicable):
            self.console.command("notice" if event.exit_code == 0 else "error", event.message)
            self._summary(f"## ProvenFix\n\n{event.message}\n")
            return event.exit_code
        if event.event_name == "pull_request_target" and self.options.sandbox != "off":
            return self._stopped(
                "on `pull_request_target` the workflow holds a write token and secrets, so "
                "ProvenFix will not run the pull request's code (its tests prove the fixes): "
                "trigger the workflow `on: pull_request`, or set `sandbox: off` to analyze "
                "without running anything (docs/action.md)",
                2,
            )
        try:
            return self._analyze(event)
        except UsageError as exc:
            return self._stopped(str(exc), 2)
        except ProvenFixError as exc:
            return self._stopped(str(exc), 1)
        except Exception as exc:  # the last resort: one line, never a traceback or a token
            if self.env.get("PROVENFIX_DEBUG"):
                raise
            return self._stopped(f"internal error: {exc.__class__.__name__}: {exc}", 1)

    def _analyze(self, event: PullRequestEvent) -> int:
        options, console = self.options, self.console
        ensure_commits(
            options.repo_path, event, self.token, log=console.info, server_url=options.server_url
        )
        config = load_pipeline_config(
            pipeline_environment(self.env, self.token),
            pipeline_flags(options),
            python=options.python,
        )
        settings, config_errors = self._settings(event, config)
        config = replace(config, validation=self._sandbox_mode(config))
        problem = self._open_channel(event, settings)
        factory = PipelineFactory(config)
        if config.model.enabled:
            console.info(f"code model: {config.model.label} (loaded when a function needs it)")
        pipeline = factory.pipeline(settings, self._progress)
        report = pipeline.run(
            AnalysisRequest(options.repo_path, base=event.base_sha, head=event.head_sha)
        )
        _write(options.report, RENDERERS["json"](report))
        _write(options.sarif, RENDERERS["sarif"](report))
        console.info(f"report written to {options.report}, SARIF to {options.sarif}")
        result = self.channel.finish(report, config_errors) if self.channel else None
        if self.channel is not None and result is None:
            problem = self.channel.problem
        pr_url = f"{options.server_url.rstrip('/')}/{event.full_name}/pull/{event.number}"
        notes = self._notes(event, result, problem, pr_url)
        placement = _placement(report, result, pr_url)
        self._summary(
            render_check_summary(
                report, placement, config_errors=config_errors, notes=notes, limit=SUMMARY_LIMIT
            )
        )
        if result is None:
            found = runner.finding_annotations(report, fixes_where="the job summary")
            for annotation in runner.limited(found):
                console.annotate(annotation)
        self._outputs(
            findings=str(len(report.findings)),
            proven=str(report.suggestions_validated),
            report=str(options.report),
            sarif=str(options.sarif),
            published=str(result is not None).lower(),
        )
        return EXIT_FINDINGS if report.reaches(options.fail_on) else 0

    def _settings(
        self, event: PullRequestEvent, pipeline: PipelineConfig
    ) -> tuple[AnalysisSettings, tuple[str, ...]]:
        errors: tuple[str, ...] = ()
        config = self.options.config
        repo = open_repo(self.options.repo_path)
        if config is not None:  # named by the workflow: broken stops the step (exit 2)
            known = known_rule_ids(pipeline.rules_dir, repo, event.base_sha)
            settings = read_settings_file(config, known_rules=known).raise_problems()
        else:  # the base's: a pull request cannot change the settings that judge it
            read = read_repo_settings(repo, event.base_sha, rules_dir=pipeline.rules_dir)
            settings, errors = read.settings, read.notices()
            notice = config_change_notice(repo, event.base_sha, event.head_sha)
            if notice is not None:
                errors = (*errors, notice)
        if self.options.max_suggestions is not None:
            settings = replace(settings, max_suggestions=self.options.max_suggestions)
        return settings, errors

    def _sandbox_mode(self, config: PipelineConfig) -> str:
        mode = self.options.sandbox
        if mode in ("none", "off"):
            return mode
        from provenfix.jobs.sandbox.errors import SandboxUnavailable
        from provenfix.jobs.sandbox.runner import open_sandbox

        try:
            open_sandbox(config.sandbox).client.close()
        except SandboxUnavailable as exc:
            if mode == "docker":
                raise UsageError(f"sandbox: docker, but {exc}") from None
            self.console.command(
                "notice",
                "ProvenFix: Docker is not available on this runner, so candidate fixes are "
                "reported but not proven. Set `sandbox: none` to prove them with this "
                "runner's Python (docs/action.md).",
            )
            return "off"
        return "docker"

    def _open_channel(self, event: PullRequestEvent, settings: AnalysisSettings) -> str | None:
        """Start the check run; the reason when the results cannot go to the pull request."""
        if event.is_fork:
            return (
                f"this pull request comes from a fork ({event.head_repo or 'deleted'}), and "
                "a workflow's token may not write checks or reviews on it"
            )
        if self.token is None:
            return "no token: set the `token` input (default `${{ github.token }}`)"
        channel = GitHubChannel(
            github_client(self.token, self.options.api_url),
            event,
            max_suggestions=settings.max_suggestions,
            bot_login=self.options.bot_login,
            clean=self.console.clean,
        )
        if not channel.start():
            return channel.problem
        self.channel = channel
        return None

    def _progress(self, event: ProgressEvent) -> None:
        self.console.info(str(event))
        if self.channel is not None:
            self.channel.progress(event)

    def _notes(
        self,
        event: PullRequestEvent,
        result: PublishResult | None,
        problem: str | None,
        pr_url: str,
    ) -> list[str]:
        if result is None:
            why = problem or "nothing was published"
            self.console.command("warning", f"ProvenFix did not post on the pull request: {why}")
            return [
                f"Not posted on the pull request: {why}. The findings are annotated on the "
                "diff and the proven fixes are below, to apply by hand."
            ]
        notes = [
            f"Posted on [#{event.number}]({pr_url}): the check run and "
            f"{len(result.posted)} suggested change{'s' if len(result.posted) != 1 else ''}."
        ]
        for error in result.errors:
            if "403" in error:  # e.g. checks: write granted, pull-requests: write not
                error = f"{error} — {FORBIDDEN_HINT}"
            self.console.command("warning", f"ProvenFix: {error}")
            notes.append(error)
        if self.channel is not None and self.channel.progress_problem:
            self.console.info(f"progress updates stopped: {self.channel.progress_problem}")
        return notes

    def _stopped(self, reason: str, code: int) -> int:
        reason = self.console.clean(reason)
        if self.channel is not None:
            self.channel.fail(reason)
        self.console.command("error", f"ProvenFix: {reason}")
        self._summary(f"## ProvenFix could not analyze this pull request\n\n> {reason}\n")
        return code

    def _summary(self, markdown: str) -> None:
        if self.options.summary is None:
            return
        try:
            runner.append_summary(self.options.summary, self.console.clean(markdown))
        except OSError as exc:
            self.console.command("warning", f"ProvenFix: no job summary: {exc}")

    def _outputs(self, **values: str) -> None:
        if self.options.outputs is None:
            return
        try:
            runner.write_outputs(self.options.outputs, values)
        except OSError as exc:
            self.console.command("warning", f"ProvenFix: no step outputs: {exc}")


def _placement(report: Report, result: PublishResult | None, pr_url: str) -> Placement:
    if result is None:
        why = "not posted on the pull request (see the note above)"
        return Placement(not_posted={s.id: why for s in report.suggestions if s.committable})
    posted = {
        p.suggestion_id: f"{pr_url}#discussion_r{p.comment_id}" if p.comment_id else pr_url
        for p in result.posted
    }
    return Placement(
        posted=posted,
        already_posted={sid: f"{pr_url}/files" for sid in result.already_posted},
        not_posted=result.not_posted,
    )


def _write(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m actions", description="The ProvenFix GitHub Action's step."
    )
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_action(build_parser().parse_args(argv))
