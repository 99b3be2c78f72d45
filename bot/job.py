"""The worker side: analyze one pull request head and publish the result on GitHub.

`analyze_pull_request(request)` is what the rq job calls. In order:

1. stop at once when a newer push already superseded this job;
2. mint an installation token (GitHubApp) and read `.github/provenfix.yml` from
   the repository's DEFAULT branch through the contents API (a broken file is
   reported in the check run and the defaults are used); rules the repository
   ignored with `/provenfix ignore` are added to the disabled rules;
3. start the check run (a retry reuses the one its first attempt started);
4. fetch the pull request head (`refs/pull/N/head`) and the base into an empty
   repository over HTTPS; the token travels as an `http.extraHeader` in the
   environment of those git commands only (GIT_CONFIG_COUNT), so it is never
   written to `.git/config`, a remote URL, a log or an exception message;
5. run the jobs/ pipeline, reporting each stage as check-run progress and
   checking between stages whether the job was superseded;
6. publish (finish the check run, post the review), and record the run and
   every posted suggestion in the database.

Errors: transient GitHub and network failures raise `TransientError`, which rq
retries (bot.queue); anything else fails the check run with a readable reason
and the job lands in rq's FailedJobRegistry as a `JobFailed`.
"""

from __future__ import annotations

import base64
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import git
import requests
from github import Github, GithubException, UnknownObjectException
from redis import Redis
from rq import Queue, get_current_job
from rq.job import Job
from urllib3.exceptions import MaxRetryError

from bot import metrics
from bot.db import Database, PostedSuggestion, Run, record_proven_fixes, upsert_repository, utcnow
from bot.github_api import (
    GitHubError,
    GitHubUnavailable,
    NotFound,
    RateLimited,
    redact,
    translate,
)
from bot.publish import PublishOptions, PublishResult
from bot.queue import (
    AnalysisQueue,
    CommentReaction,
    JobRequest,
    PullRequestTarget,
    Superseded,
    TransientError,
    is_superseded,
    save_meta,
)
from bot.settings import BotSettings, SettingsError, load_settings
from jobs.errors import ConfigError, ProvenFixError
from jobs.factory import ValidationOptions, build_pipeline
from jobs.generation.model.config import open_model
from jobs.model import Report, Suggestion
from jobs.pipeline import AnalysisRequest, Pipeline, Progress
from jobs.settings import REPO_CONFIG_PATH, AnalysisSettings, load_repo_config

__all__ = [
    "JobContext",
    "JobRequest",
    "analyze_pull_request",
    "react_to_comment",
    "resolve_and_analyze",
]

log = logging.getLogger("provenfix.job")

_NETWORK_HINTS = (
    "could not resolve host",
    "failed to connect",
    "connection timed out",
    "connection reset",
    "operation timed out",
    "early eof",
    "rpc failed",
    "the requested url returned error: 5",
    "the requested url returned error: 429",
    "remote end hung up",
)


class JobFailed(ProvenFixError):
    """The analysis failed for a reason a retry would not change; the message says why."""


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


class _ContextSlot:
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


CONTEXT = _ContextSlot()


def context_from_env(env: Mapping[str, str]) -> JobContext:
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
            raise _classify(exc, "reading the App's slug (GET /app)") from exc
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


# --- the job functions ------------------------------------------------------------------


def analyze_pull_request(request: JobRequest) -> dict[str, Any]:
    job = get_current_job()
    if job is None:
        raise RuntimeError("analyze_pull_request runs inside an rq job")
    context = CONTEXT.get()
    context.database.engine.dispose(close=False)  # a forked horse opens its own connections
    return _Analysis(request, context, job).run()


def resolve_and_analyze(target: PullRequestTarget) -> dict[str, Any]:
    """A command or a re-run named the pull request only: look its head up, then submit."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("resolve_and_analyze runs inside an rq job")
    context = CONTEXT.get()
    try:
        client = context.github.installation_client(target.installation_id)
        pull = client.get_repo(f"{target.owner}/{target.repo}").get_pull(target.number)
        state = pull.state  # an explicit request analyzes a draft too
        head_sha, base_sha, base_ref = pull.head.sha, pull.base.sha, pull.base.ref
        updated = pull.updated_at.isoformat().replace("+00:00", "Z") if pull.updated_at else ""
    except Exception as exc:
        raise _classify(exc, f"looking up {target.owner}/{target.repo}#{target.number}") from exc
    if state != "open":
        return {"outcome": "ignored", "reason": "pull request is not open"}
    request = JobRequest(
        installation_id=target.installation_id,
        repository_id=target.repository_id,
        owner=target.owner,
        repo=target.repo,
        number=target.number,
        head_sha=head_sha,
        base_sha=base_sha,
        base_ref=base_ref,
        default_branch=target.default_branch,
        clone_url=target.clone_url,
        trigger=target.trigger,
        delivery_id=target.delivery_id,
        sender=target.sender,
        updated_at=updated,
    )
    queue = Queue(job.origin, connection=job.connection)
    submitted = AnalysisQueue(
        job.connection, queue, job_timeout_s=context.settings.job_timeout_s
    ).submit(request, rerun=True)
    return {"outcome": submitted.outcome, "job_id": submitted.job_id}


def react_to_comment(reaction: CommentReaction) -> dict[str, Any]:
    """Acknowledge a command with a reaction on its comment (the contract's
    `POST /repos/{owner}/{repo}/issues/comments/{comment_id}/reactions`)."""
    context = CONTEXT.get()
    path = (
        f"/repos/{reaction.owner}/{reaction.repo}/issues/comments/{reaction.comment_id}/reactions"
    )
    try:
        client = context.github.installation_client(reaction.installation_id)
        client.requester.requestJsonAndCheck("POST", path, input={"content": reaction.content})
    except Exception as exc:
        raise _classify(exc, f"reacting to comment {reaction.comment_id}") from exc
    return {"outcome": "reacted", "content": reaction.content}


class _Analysis:
    def __init__(self, request: JobRequest, context: JobContext, job: Job) -> None:
        self.request = request
        self.context = context
        self.job = job
        self.redis: Redis = job.connection
        self.started = time.monotonic()
        self.check_run_id: int | None = job.meta.get("check_run_id")
        self.publisher: PublisherLike | None = None
        self.run_row: int | None = job.meta.get("run_id")  # a retry updates its first row
        self.token: str | None = None
        self._last_progress: tuple[str, float] | None = None

    def run(self) -> dict[str, Any]:
        request = self.request
        if is_superseded(self.redis, self.job.id):
            return self._superseded(before_start=True)
        try:
            return self._run()
        except Superseded:
            return self._superseded(before_start=False)
        except TransientError as exc:
            self._failed(str(exc), final=not self.job.retries_left)
            raise
        except Exception as exc:
            failure = _classify(exc, f"analyzing {request.full_name}#{request.number}")
            final = isinstance(failure, JobFailed) or not self.job.retries_left
            self._failed(str(failure), final=final)
            raise failure from exc

    def _run(self) -> dict[str, Any]:
        request, context = self.request, self.context
        try:
            granted = context.github.installation_token(request.installation_id)
            self.token = token_text(granted)
            client = context.github.installation_client(request.installation_id)
        except Exception as exc:
            doing = f"authenticating as installation {request.installation_id}"
            raise _classify(exc, doing) from exc
        settings, config_errors = self._repo_settings(client)
        publishing = PublishOptions(settings.max_suggestions, apply_action=can_push(granted))
        self.publisher = context.publisher(client, request, publishing)
        if self.check_run_id is None:
            try:
                self.check_run_id = int(self.publisher.start())
            except Exception as exc:
                raise _classify(exc, "starting the check run") from exc
            self.job.meta["check_run_id"] = self.check_run_id
            save_meta(self.job)
        self._record_start()
        scratch_parent = context.settings.work_dir
        if scratch_parent is not None:
            scratch_parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="provenfix-job-", dir=scratch_parent) as scratch:
            self._progress(
                f"fetch: {request.full_name}#{request.number} at {request.head_sha[:10]}"
            )
            repo_path = fetch_pull_request(request, self.token, Path(scratch) / "repo")
            self._check_superseded()
            options = ValidationOptions(
                mode=context.settings.sandbox,
                install_command=settings.install_command,
                pytest_args=settings.pytest_args,
            )
            pipeline = context.pipeline(settings, options, self._progress)
            report = pipeline.run(
                AnalysisRequest(repo_path=repo_path, base=request.base_sha, head=request.head_sha)
            )
        self._check_superseded()
        try:
            result = self.publisher.finish(self.check_run_id, report, config_errors=config_errors)
        except Exception as exc:
            raise _classify(exc, "publishing the results") from exc
        duration = time.monotonic() - self.started
        self._record_end(report, result, config_errors, duration)
        metrics.record_job(self.redis, "completed", duration)
        self.job.meta["outcome"] = "completed"
        save_meta(self.job)
        return {
            "outcome": "completed",
            "check_run_id": self.check_run_id,
            "findings": len(report.findings),
            "suggestions": len(report.suggestions),
            "proven": report.suggestions_validated,
            "duration_s": round(duration, 3),
        }

    # --- configuration -----------------------------------------------------------------

    def _repo_settings(self, client: Github) -> tuple[AnalysisSettings, tuple[str, ...]]:
        request = self.request
        errors: tuple[str, ...] = ()
        source = f"{REPO_CONFIG_PATH} on {request.default_branch}"
        try:
            text = read_repo_config(client, request.full_name, request.default_branch)
        except Exception as exc:
            raise _classify(exc, f"reading {source}") from exc
        settings = AnalysisSettings()
        if text is not None:
            try:
                settings = load_repo_config(text, source=source)
            except ConfigError as exc:
                errors = (f"{exc} — the defaults were used for this run",)
        ignored = self.context.database.ignored_rules(request.repository_id)
        if ignored:
            settings = replace(settings, disabled_rules=settings.disabled_rules | ignored)
        return settings, errors

    # --- progress and superseding ------------------------------------------------------

    def _check_superseded(self) -> None:
        if is_superseded(self.redis, self.job.id):
            raise Superseded(self.job.id)

    def _progress(self, text: str) -> None:
        self._check_superseded()
        log.info("%s: %s", self.job.id, text)
        stage, now = text.partition(":")[0], time.monotonic()
        last = self._last_progress
        interval = self.context.progress_interval_s
        if last is not None and last[0] == stage and now - last[1] < interval:
            return  # the first message of every stage goes out; repeats are throttled
        self._last_progress = (stage, now)
        if self.publisher is not None and self.check_run_id is not None:
            try:
                self.publisher.progress(self.check_run_id, text)
            except Exception:  # progress is cosmetic: never fail an analysis over it
                log.warning("%s: could not report progress", self.job.id, exc_info=True)

    def _superseded(self, *, before_start: bool) -> dict[str, Any]:
        duration = time.monotonic() - self.started
        reason = "a newer push (or the pull request's closing) superseded this analysis"
        if not before_start and self.publisher is not None and self.check_run_id is not None:
            self._safe_fail(f"Cancelled: {reason}.", conclusion="cancelled")
        self._update_run(status="superseded", error=reason, duration=duration)
        metrics.record_job(self.redis, "superseded", duration)
        self.job.meta["outcome"] = "superseded"
        save_meta(self.job)
        return {"outcome": "superseded"}

    # --- failures ----------------------------------------------------------------------

    def _failed(self, reason: str, *, final: bool) -> None:
        reason = self._redact(reason)
        duration = time.monotonic() - self.started
        if final:
            if self.publisher is not None and self.check_run_id is not None:
                self._safe_fail(reason)
            self._update_run(status="failed", error=reason, duration=duration)
            metrics.record_job(self.redis, "failed", duration)
        else:
            retry = self.job.get_retry_interval() if self.job.retries_left else 0
            if self.publisher is not None and self.check_run_id is not None:
                try:
                    self.publisher.progress(self.check_run_id, f"{reason}; retrying in {retry} s")
                except Exception:
                    log.warning("%s: could not report the retry", self.job.id, exc_info=True)
            self._update_run(status="retrying", error=reason, duration=duration)

    def _safe_fail(self, reason: str, *, conclusion: str = "neutral") -> None:
        assert self.publisher is not None and self.check_run_id is not None
        try:
            self.publisher.fail(self.check_run_id, self._redact(reason), conclusion=conclusion)
        except Exception:
            log.warning("%s: could not mark the check run failed", self.job.id, exc_info=True)

    def _redact(self, text: str) -> str:
        if self.token:
            text = text.replace(self.token, "***")
        return redact(text)

    # --- the database ------------------------------------------------------------------

    def _record_start(self) -> None:
        request = self.request
        if self.run_row is not None:
            self._update_run(status="running", error=None, duration=None)
            return
        with self.context.database.session() as s:
            upsert_repository(
                s,
                request.repository_id,
                request.full_name,
                installation_id=request.installation_id,
            )
            row = Run(
                job_id=self.job.id,
                repository_id=request.repository_id,
                repository=request.full_name,
                pr_number=request.number,
                head_sha=request.head_sha,
                base_sha=request.base_sha,
                trigger=request.trigger,
                status="running",
                check_run_id=self.check_run_id,
            )
            s.add(row)
            s.flush()
            self.run_row = row.id
        self.job.meta["run_id"] = self.run_row
        save_meta(self.job)

    def _update_run(self, *, status: str, error: str | None, duration: float | None) -> None:
        if self.run_row is None:
            return
        try:
            with self.context.database.session() as s:
                row = s.get(Run, self.run_row)
                if row is None:
                    return
                row.status = status
                row.error = error
                if duration is not None:
                    row.finished_at = utcnow()
                    row.duration_s = round(duration, 3)
        except Exception:
            log.warning("%s: could not record the run's end", self.job.id, exc_info=True)

    def _record_end(
        self, report: Report, result: PublishResult, config_errors: Sequence[str], duration: float
    ) -> None:
        posted = posted_suggestions(report, result)
        with self.context.database.session() as s:
            row = s.get(Run, self.run_row) if self.run_row is not None else None
            if row is None:
                return
            row.status = "completed"
            row.findings = len(report.findings)
            row.suggestions_posted = len(posted)
            row.suggestions_proven = sum(1 for p in posted if p[0].committable)
            row.config_errors = "\n".join(config_errors) or None
            row.finished_at = utcnow()
            row.duration_s = round(duration, 3)
            record_proven_fixes(s, row.id, report)
            for suggestion, comment_id in posted:
                s.add(
                    PostedSuggestion(
                        run_id=row.id,
                        suggestion_id=suggestion.id,
                        path=suggestion.path,
                        start_line=suggestion.start_line,
                        end_line=suggestion.end_line,
                        kind=str(suggestion.kind),
                        source=suggestion.source,
                        rule_ids=" ".join(_rule_ids(report, suggestion.finding_ids)),
                        validation=str(suggestion.validation.status),
                        committable=suggestion.committable,
                        reliability=suggestion.score.reliability,
                        comment_id=comment_id,
                    )
                )


def can_push(token: object) -> bool:
    """Did the installation grant Contents: write (needed by "Apply proven fixes")?"""
    permissions = getattr(token, "permissions", None) or {}
    return isinstance(permissions, Mapping) and permissions.get("contents") == "write"


def token_text(token: object) -> str:
    text = token if isinstance(token, str) else getattr(token, "token", None)
    if not isinstance(text, str) or not text:
        raise JobFailed("the GitHub App returned no installation token")
    return text


def posted_suggestions(
    report: Report, result: PublishResult
) -> list[tuple[Suggestion, int | None]]:
    """The suggestions the publisher posted, each with its review comment id when known."""
    by_id = {s.id: s for s in report.suggestions}
    return [
        (by_id[item.suggestion_id], item.comment_id)
        for item in result.posted
        if item.suggestion_id in by_id
    ]


def _rule_ids(report: Report, finding_ids: Sequence[str]) -> list[str]:
    rules = {f.id: f.rule_id for f in report.findings}
    return sorted({rules[i] for i in finding_ids if i in rules})


# --- GitHub reads and the clone -----------------------------------------------------------


def read_repo_config(client: Github, full_name: str, ref: str) -> str | None:
    """`.github/provenfix.yml` at `ref` through the contents API; None when absent."""
    try:
        content = client.get_repo(full_name, lazy=True).get_contents(REPO_CONFIG_PATH, ref=ref)
    except UnknownObjectException:
        return None
    except GithubException as exc:
        if isinstance(translate(exc), NotFound):
            return None
        raise
    if isinstance(content, list):  # a folder of that name
        raise ConfigError(f"{REPO_CONFIG_PATH} is a folder; it must be a YAML file")
    raw = content.decoded_content
    return raw.decode("utf-8", errors="replace")


def auth_environment(token: str) -> dict[str, str]:
    """git configuration, through the environment, that sends the token as a header.

    `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n` apply to the one git
    process they are given to: nothing is written to `.git/config`, and the value
    appears in no command line (`ps`) and no GitPython error message."""
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
    }


def fetch_pull_request(request: JobRequest, token: str | None, dest: Path) -> Path:
    """An object-only clone (no checkout) holding the pull request's head and base."""
    dest.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(dest)
    with repo:
        repo.git.remote("add", "origin", request.clone_url)
        env = auth_environment(token) if token else {"GIT_TERMINAL_PROMPT": "0"}
        head_ref = f"refs/remotes/origin/pull/{request.number}"
        base_ref = f"refs/remotes/origin/{request.base_ref}"
        try:
            repo.git.fetch(
                "--no-tags",
                "--quiet",
                "origin",
                f"+refs/pull/{request.number}/head:{head_ref}",
                f"+refs/heads/{request.base_ref}:{base_ref}",
                env=env,
            )
            missing = [sha for sha in (request.head_sha, request.base_sha) if not _has(repo, sha)]
            if missing:  # the pull request or its base moved on since the event
                repo.git.fetch("--no-tags", "--quiet", "origin", *missing, env=env)
        except git.GitCommandError as exc:
            raise _git_failure(exc, request, token) from None
        for sha in (request.head_sha, request.base_sha):
            if not _has(repo, sha):
                raise JobFailed(f"commit {sha} is not in {request.clone_url}")
    return dest


def _has(repo: git.Repo, sha: str) -> bool:
    try:
        repo.git.cat_file("-e", f"{sha}^{{commit}}")
    except git.GitCommandError:
        return False
    return True


def _git_failure(exc: git.GitCommandError, request: JobRequest, token: str | None) -> Exception:
    stderr = str(exc.stderr or "").strip()
    if token:
        stderr = stderr.replace(token, "***")
    stderr = redact(stderr)
    message = f"git fetch from {request.clone_url} failed: {stderr or exc.status}"
    if any(hint in stderr.lower() for hint in _NETWORK_HINTS):
        return TransientError(message)
    return JobFailed(message)


# --- error classification ----------------------------------------------------------------


def _classify(exc: BaseException, doing: str) -> Exception:
    """A TransientError (retried) or a JobFailed (not retried) with a readable message."""
    if isinstance(exc, TransientError | JobFailed | Superseded):
        return exc
    github_or_network = (
        GitHubError,
        GithubException,
        requests.RequestException,
        MaxRetryError,
        ConnectionError,
        TimeoutError,
    )
    if isinstance(exc, github_or_network):
        error = translate(exc)
        text = redact(f"{doing}: {error}")
        if isinstance(error, GitHubUnavailable | RateLimited):
            return TransientError(text)
        return JobFailed(text)
    if isinstance(exc, ProvenFixError):
        return JobFailed(redact(f"{doing}: {exc}"))
    return JobFailed(redact(f"{doing}: {exc.__class__.__name__}: {exc}"))


@contextmanager
def installed_context(context: JobContext) -> Iterator[JobContext]:
    """Install `context` for jobs run in this process (and its forked horses) for a block."""
    CONTEXT.install(context)
    try:
        yield context
    finally:
        CONTEXT.install(None)
