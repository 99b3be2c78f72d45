"""What a worker's jobs need besides their requests: the `JobContext`, built once per
worker process (`context_from_settings`, the worker's composition root) and installed
where rq's job functions find it (`CONTEXT`). Tests install their own
(`installed_context`) through the same seams: the GitHub App, the publisher factory,
the database and the pipeline source.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from github import Github

from provenfix.bot.db import Database
from provenfix.bot.github_api import GitHubError, bot_login
from provenfix.bot.job_errors import classify_failure
from provenfix.bot.job_requests import JobRequest
from provenfix.bot.publish import PublishOptions, PublishResult
from provenfix.bot.settings import BotSettings, SettingsError
from provenfix.jobs.progress import Progress
from provenfix.jobs.report import Report
from provenfix.jobs.settings import AnalysisSettings

if TYPE_CHECKING:
    from provenfix.jobs.generation.code_model.examples import ExampleSource
    from provenfix.jobs.pipeline import AnalysisRequest

log = logging.getLogger("provenfix.worker")

PREFETCH_TIMEOUT_S = 3.0  # the App's slug at start-up: one quick try, else the first job reads it


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


class AppApi(Protocol):
    """Requests authenticated as the App itself (bot.github_api.GitHubApp): what the
    delivery sweeper (bot.sweeper) needs."""

    def app_request(
        self, method: str, path: str, *, parameters: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, Any], Any]: ...


class SlugSource(Protocol):
    def app_slug(self, *, timeout_s: float | None = None) -> str: ...


class PipelineLike(Protocol):
    def run(self, request: AnalysisRequest) -> Report: ...


class PipelineSource(Protocol):
    """jobs.factory.PipelineFactory, or a test's stand-in."""

    def pipeline(
        self,
        settings: AnalysisSettings,
        progress: Progress,
        *,
        examples: ExampleSource | None = None,  # the model's accepted fixes (AcceptedFixExamples)
    ) -> PipelineLike: ...


@dataclass(frozen=True)
class JobContext:
    """What a job needs besides its request: built once per worker process."""

    settings: BotSettings
    github: GitHubAppLike
    publisher: PublisherFactory
    database: Database
    pipelines: PipelineSource
    progress_interval_s: float = 2.0  # within one stage, at most one check-run update this often
    app_api: AppApi | None = None  # None: no delivery sweeps (a test's context)


class ContextSlot:
    """The worker process's job context. rq calls a job with its arguments only, so
    `provenfix worker` installs the context here before it starts (a forked job horse
    inherits it); a job run without one is a deployment error, said as such."""

    def __init__(self) -> None:
        self._context: JobContext | None = None
        self._lock = threading.Lock()

    def install(self, context: JobContext | None) -> None:
        with self._lock:
            self._context = context

    def get(self) -> JobContext:
        with self._lock:
            if self._context is None:
                raise RuntimeError(
                    "no job context: ProvenFix jobs run in `provenfix worker`, which builds it "
                    "from the PROVENFIX_* settings before it takes work"
                )
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


class BotIdentity:
    """The App's bot account, `<slug>[bot]`, read with `GET /app` once per process: the
    author of every comment the App writes, so the publisher can tell its own comments
    from anyone else's without guessing."""

    def __init__(self, app: SlugSource) -> None:
        self._app = app
        self._login: str | None = None
        self._lock = threading.Lock()

    def login(self) -> str:
        with self._lock:
            if self._login is None:
                self._login = bot_login(self._app.app_slug())
            return self._login

    def prefetch(self, *, timeout_s: float = PREFETCH_TIMEOUT_S) -> None:
        """Read it now with one quick request (start-up does not wait for GitHub); when
        GitHub does not answer in time, the first job reads it."""
        try:
            slug = self._app.app_slug(timeout_s=timeout_s)
        except GitHubError as exc:
            log.warning("GET /app failed at start-up (%s); the first job reads it", exc)
            return
        with self._lock:
            self._login = bot_login(slug)


class AppPublishers:
    """The App's publisher per job: our own earlier comments are recognised by the App's
    login (GET /app, read once per worker process)."""

    def __init__(self, identity: BotIdentity) -> None:
        self._identity = identity

    def __call__(
        self, client: Github, request: JobRequest, options: PublishOptions
    ) -> PublisherLike:
        from provenfix.bot.publish import Publisher

        try:
            login = self._identity.login()
        except Exception as exc:
            raise classify_failure(exc, "reading the App's slug (GET /app)") from exc
        return Publisher(
            client,
            request,  # a PullRequestRef
            bot_login=login,
            max_suggestions=options.max_suggestions,
            external_id=request.job_id,
            apply_action=options.apply_action,
            acceptance=options.acceptance,
        )


def context_from_settings(
    settings: BotSettings, *, pipelines: PipelineSource | None = None
) -> JobContext:
    """The production context: the GitHub App, the real publisher and pipelines (the code
    model opened once, loaded by the first job that needs it), the database (its tables
    created). `provenfix worker` builds it, after checking that the sandbox can run."""
    from provenfix.bot.github_api import GitHubApp
    from provenfix.jobs.factory import PipelineFactory

    try:
        app = GitHubApp(
            settings.app_id, settings.private_key_pem(), base_url=settings.github_api_url
        )
    except ValueError as exc:
        raise SettingsError(
            f"{exc}: check PROVENFIX_PRIVATE_KEY(_PATH); use the .pem file GitHub generated"
        ) from None
    identity = BotIdentity(app)
    identity.prefetch()  # GET /app once per worker process, at start-up, never waiting long
    database = Database(settings.database_url)
    database.create_all()
    return JobContext(
        settings=settings,
        github=app,
        publisher=AppPublishers(identity),
        database=database,
        pipelines=pipelines if pipelines is not None else PipelineFactory(settings.pipeline),
        app_api=app,
    )
