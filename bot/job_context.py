"""What a worker's jobs need besides their requests: the `JobContext`, built once per
worker process (`context_from_env`) and installed where rq's job functions find it
(`CONTEXT`). Tests install their own (`installed_context`) through the same seams:
the GitHub App, the publisher factory, the database and the pipeline factory.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol

from github import Github

from bot.db import Database
from bot.job_errors import classify_failure
from bot.job_requests import JobRequest
from bot.publish import PublishOptions, PublishResult
from bot.settings import BotSettings, SettingsError, load_settings
from jobs.factory import ValidationOptions, build_pipeline
from jobs.generation.code_model.config import open_model
from jobs.pipeline import Pipeline, Progress
from jobs.report import Report
from jobs.settings import AnalysisSettings

__all__ = [
    "CONTEXT",
    "ContextSlot",
    "GitHubAppLike",
    "JobContext",
    "PipelineFactory",
    "PublisherFactory",
    "PublisherLike",
    "context_from_env",
    "default_pipeline",
    "installed_context",
]


class GitHubAppLike(Protocol):
    # a str, or an object whose `.token` is the str (bot.github_api.InstallationToken)
    def installation_token(self, installation_id: int) -> object: ...

    def installation_client(self, installation_id: int) -> Github: ...


class PublisherLike(Protocol):
    def start(self) -> int: ...

    def progress(self, check_run_id: int, text: str) -> None: ...

    def finish(
        self, check_run_id: int, report: Report, *, config_errors: Sequence[str] = ()
    ) -> PublishResult: ...

    def fail(self, check_run_id: int, reason: str, *, conclusion: str = "neutral") -> None: ...


PublisherFactory = Callable[[Github, JobRequest, PublishOptions], PublisherLike]
PipelineFactory = Callable[[AnalysisSettings, ValidationOptions, Progress], Pipeline]


def default_pipeline(
    settings: AnalysisSettings, options: ValidationOptions, progress: Progress
) -> Pipeline:
    return build_pipeline(settings, validation=options, progress=progress)


@dataclass(frozen=True)
class JobContext:
    """What a job needs besides its request: built once per worker process."""

    settings: BotSettings
    github: GitHubAppLike
    publisher: PublisherFactory
    database: Database
    pipeline: PipelineFactory = default_pipeline
    progress_interval_s: float = 2.0  # within one stage, at most one check-run update this often


class ContextSlot:
    """The worker process's job context. rq calls a job with its arguments only, so the
    worker installs the context here before it starts (a forked job horse inherits it);
    without one, it is built from the environment on first use."""

    def __init__(self) -> None:
        self._context: JobContext | None = None
        self._lock = threading.Lock()

    def install(self, context: JobContext | None) -> None:
        with self._lock:
            self._context = context

    def get(self) -> JobContext:
        with self._lock:
            if self._context is None:
                self._context = context_from_env(os.environ)
            return self._context


CONTEXT = ContextSlot()


@contextmanager
def installed_context(context: JobContext) -> Iterator[JobContext]:
    """Install `context` for jobs run in this process (and its forked horses) for a block."""
    CONTEXT.install(context)
    try:
        yield context
    finally:
        CONTEXT.install(None)


def context_from_env(env: Mapping[str, str]) -> JobContext:
    """The production context: the GitHub App, the real publisher and pipeline, the
    database (its tables created), all from PROVENFIX_* variables (bot.settings)."""
    from bot.github_api import BotIdentity, GitHubApp
    from bot.publish import Publisher, PullRequestRef

    settings = load_settings(env)
    try:
        app = GitHubApp(
            settings.app_id, settings.private_key_pem(), base_url=settings.github_api_url
        )
    except ValueError as exc:
        raise SettingsError(
            f"{exc}: check PROVENFIX_PRIVATE_KEY(_PATH); use the .pem file GitHub generated"
        ) from None

    identity = BotIdentity(app)
    identity.prefetch()  # GET /app once per worker process, at start-up

    def publisher(client: Github, request: JobRequest, options: PublishOptions) -> PublisherLike:
        pr = PullRequestRef(
            request.owner, request.repo, request.number, request.head_sha, request.base_sha
        )
        try:
            login = identity.login()  # only our own earlier comments count as ours
        except Exception as exc:
            raise classify_failure(exc, "reading the App's slug (GET /app)") from exc
        publisher: PublisherLike = Publisher(
            client,
            pr,
            bot_login=login,
            max_suggestions=options.max_suggestions,
            external_id=request.job_id,
            apply_action=options.apply_action,
        )
        return publisher

    model = open_model(settings.model)  # loaded by the first job that needs it

    def pipeline(
        analysis: AnalysisSettings, options: ValidationOptions, progress: Progress
    ) -> Pipeline:
        return build_pipeline(
            analysis,
            validation=options,
            progress=progress,
            model=model,
            model_options=settings.model,
        )

    database = Database(settings.database_url)
    database.create_all()
    return JobContext(
        settings=settings,
        github=app,
        publisher=publisher,
        database=database,
        pipeline=pipeline,
    )
