"""The worker side: analyze one pull request head and publish the result on GitHub.

`analyze_pull_request(request)` is what the rq job calls. In order:

1. stop at once when a newer push already superseded this job;
2. mint an installation token (GitHubApp) and read `.github/provenfix.yml` from
   the repository's DEFAULT branch through the contents API (a broken file is
   reported in the check run and the defaults are used); rules the repository
   ignored with `/provenfix ignore` are added to the disabled rules;
3. start the check run (a retry reuses the one an earlier attempt started: from
   the job's meta, or, when that attempt died before saving its id, found on the
   head by its external id) and record the run in the database (bot.run_records);
4. fetch the pull request head (`refs/pull/N/head`) and the base into an empty
   repository over HTTPS (bot.git_remote: the token travels in the environment of
   those git commands only, never on disk, in a URL, a log or an error message);
5. run the jobs/ pipeline, checking between stages whether the job was
   superseded; each stage's progress goes to the check run from a background
   thread (bot.progress_sender), so the pipeline never waits for GitHub, and that
   thread is stopped before the check run is completed or failed;
6. publish (finish the check run, post the review), and record the run's end and
   every posted suggestion in the database.

`resolve_and_analyze` (a command or re-run that names the pull request only) and
`react_to_comment` (a command's acknowledgement) are the other job functions;
bot.queue enqueues all three by their dotted names in this module.

Errors (bot.job_errors): transient GitHub and network failures raise
`TransientError`, which rq retries (bot.queue); anything else fails the check run
with a readable reason and the job lands in rq's FailedJobRegistry as a `JobFailed`.
The job's context (GitHub App, publisher, database, pipeline) is bot.job_context's.
"""

from __future__ import annotations

import logging
import re
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from github import Github, GithubException, UnknownObjectException
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, get_current_job
from rq.job import Job

from provenfix.bot import metrics
from provenfix.bot.accepted_examples import AcceptedFixExamples
from provenfix.bot.git_remote import (
    GitOrigin,
    can_push,
    checked_sha,
    fetch_pull_request,
    token_text,
)
from provenfix.bot.github_api import NotFound, redact, translate
from provenfix.bot.job_context import CONTEXT, JobContext, PublisherLike
from provenfix.bot.job_errors import JobFailed, Superseded, TransientError, classify_failure
from provenfix.bot.job_requests import CommentReaction, JobRequest, PullRequestTarget
from provenfix.bot.outcomes import OutcomeStore
from provenfix.bot.progress_sender import ProgressSender
from provenfix.bot.publish import PublishOptions
from provenfix.bot.queue import AnalysisQueue, is_superseded, save_meta
from provenfix.bot.run_records import RunRecords
from provenfix.jobs.errors import ConfigError
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.progress import ProgressEvent, Stage
from provenfix.jobs.repo_config import settings_from_text
from provenfix.jobs.settings import REPO_CONFIG_PATH, AnalysisSettings

log = logging.getLogger("provenfix.job")


# --- the job functions (enqueued by dotted name: bot.queue) -------------------------------


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
        doing = f"looking up {target.owner}/{target.repo}#{target.number}"
        raise classify_failure(exc, doing) from exc
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
        delivered_at=target.delivered_at,
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
        raise classify_failure(exc, f"reacting to comment {reaction.comment_id}") from exc
    return {"outcome": "reacted", "content": reaction.content}


# --- the analysis ----------------------------------------------------------------------------


class _Analysis:
    def __init__(self, request: JobRequest, context: JobContext, job: Job) -> None:
        self.request = request
        self.context = context
        self.job = job
        self.redis: Redis = job.connection
        self.started = time.monotonic()
        self.check_run_id: int | None = job.meta.get("check_run_id")
        self.publisher: PublisherLike | None = None
        # a retry updates the row its first attempt created
        self.records = RunRecords(context.database, job.id, job.meta.get("run_id"))
        self.token: str | None = None
        self.updates: ProgressSender | None = None  # while the fetch and the pipeline run
        self._last_progress: tuple[Stage, float] | None = None

    def run(self) -> dict[str, Any]:
        request = self.request
        if self._is_superseded():
            if self.check_run_id is None:
                return self._superseded(before_start=True)
            self._reopen_publisher()  # an earlier attempt's check run: cancel it
            return self._superseded(before_start=False)
        try:
            return self._run()
        except Superseded:
            return self._superseded(before_start=False)
        except TransientError as exc:
            self._failed(str(exc), final=not self.job.retries_left)
            raise
        except Exception as exc:
            failure = classify_failure(exc, f"analyzing {request.full_name}#{request.number}")
            final = isinstance(failure, JobFailed) or not self.job.retries_left
            self._failed(str(failure), final=final)
            raise failure from exc

    def _run(self) -> dict[str, Any]:
        request, context = self.request, self.context
        checked_sha(request.head_sha, "head")  # it goes into API paths before git sees it
        try:
            granted = context.github.installation_token(request.installation_id)
            self.token = token_text(granted)
            client = context.github.installation_client(request.installation_id)
        except Exception as exc:
            doing = f"authenticating as installation {request.installation_id}"
            raise classify_failure(exc, doing) from exc
        origin = GitOrigin.for_github(context.settings.github_api_url)
        earlier_attempts = int(self.job.meta.get("attempts", 0))
        self.job.meta["attempts"] = earlier_attempts + 1
        save_meta(self.job)
        settings, config_errors = self._repo_settings(client)
        outcomes = OutcomeStore(context.database)
        book = outcomes.acceptance_book(request.repository_id, context.settings.acceptance)
        publishing = PublishOptions(
            settings.max_suggestions, apply_action=can_push(granted), acceptance=book
        )
        publisher = self.publisher = context.publisher(client, request, publishing)
        if self.check_run_id is None:
            try:
                if earlier_attempts:
                    self.check_run_id = find_check_run(client, request, self.job.id)
                if self.check_run_id is None:
                    self.check_run_id = int(publisher.start())
            except Exception as exc:
                raise classify_failure(exc, "starting the check run") from exc
            self.job.meta["check_run_id"] = self.check_run_id
            save_meta(self.job)
        self._record_start()
        scratch_parent = context.settings.work_dir or Path(tempfile.gettempdir())
        scratch_parent.mkdir(parents=True, exist_ok=True)
        prefix = f"provenfix-job-{re.sub(r'[^A-Za-z0-9-]', '_', self.job.id)[:120]}-"
        for leftover in scratch_parent.glob(f"{prefix}*"):  # of an attempt killed before this
            shutil.rmtree(leftover, ignore_errors=True)
        # Until the block ends the sender is the client's only user; its exit (an exception
        # drops the text still waiting) waits for the update in flight, so none can land
        # after the check run is completed below or failed by run().
        self.updates = ProgressSender(publisher, self.check_run_id, label=self.job.id)
        with (
            self.updates,
            tempfile.TemporaryDirectory(prefix=prefix, dir=scratch_parent) as scratch,
        ):
            where = f"{request.full_name}#{request.number} at {request.head_sha[:10]}"
            self._progress(ProgressEvent(Stage.FETCH, where))
            repo_path = fetch_pull_request(
                request, self.token, Path(scratch) / "repo", origin=origin
            )
            self._check_superseded()
            pipeline = context.pipelines.pipeline(
                settings,
                self._progress,
                examples=AcceptedFixExamples(context.database, request.repository_id),
            )
            report = pipeline.run(
                AnalysisRequest(repo_path=repo_path, base=request.base_sha, head=request.head_sha)
            )
        self.updates = None
        self._check_superseded()
        try:
            result = publisher.finish(self.check_run_id, report, config_errors=config_errors)
        except Exception as exc:
            raise classify_failure(exc, "publishing the results") from exc
        duration = time.monotonic() - self.started
        self.records.complete(
            report,
            result,
            config_errors,
            duration,
            installation_id=request.installation_id,
            acceptance=book,
        )
        entered = outcomes.after_review(
            request.repository_id,
            request.head_sha,
            request.sender,
            applied=result.applied,
            outdated=result.outdated,
            disliked=result.disliked,
        )
        entered["posted"] += len(result.posted)
        metrics.record_outcomes(self.redis, entered)
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

    def _reopen_publisher(self) -> None:
        request = self.request
        try:
            client = self.context.github.installation_client(request.installation_id)
            self.publisher = self.context.publisher(client, request, PublishOptions())
        except Exception:
            cancel = (self.job.id, self.check_run_id)
            log.warning("%s: could not cancel check run %s", *cancel, exc_info=True)

    def _record_start(self) -> None:
        first_attempt = self.records.row_id is None
        run_id = self.records.start(self.request, self.check_run_id)
        if first_attempt:
            self.job.meta["run_id"] = run_id
            save_meta(self.job)

    # --- configuration -----------------------------------------------------------------

    def _repo_settings(self, client: Github) -> tuple[AnalysisSettings, tuple[str, ...]]:
        request = self.request
        source = f"{REPO_CONFIG_PATH} on {request.default_branch}"
        try:
            text = read_repo_config(client, request.full_name, request.default_branch)
        except Exception as exc:
            raise classify_failure(exc, f"reading {source}") from exc
        read = settings_from_text(text, source=source)
        settings, errors = read.settings, read.notices()
        ignored = self.context.database.ignored_rules(request.repository_id)
        if ignored:
            settings = replace(settings, disabled_rules=settings.disabled_rules | ignored)
        return settings, errors

    # --- progress and superseding ------------------------------------------------------

    def _is_superseded(self) -> bool:
        try:
            return is_superseded(self.redis, self.job.id)
        except RedisError as exc:  # superseding saves work; Redis down must not fail the job
            log.warning("%s: could not check for a newer push: %s", self.job.id, exc)
            return False

    def _check_superseded(self) -> None:
        if self._is_superseded():
            raise Superseded(self.job.id)

    def _progress(self, event: ProgressEvent) -> None:
        self._check_superseded()
        text = str(event)
        log.info("%s: %s", self.job.id, text)
        stage, now = event.stage, time.monotonic()
        last = self._last_progress
        interval = self.context.progress_interval_s
        if last is not None and last[0] == stage and now - last[1] < interval:
            return  # the first message of every stage goes out; repeats are throttled
        self._last_progress = (stage, now)
        if self.updates is not None:
            self.updates.send(text)

    def _superseded(self, *, before_start: bool) -> dict[str, Any]:
        duration = time.monotonic() - self.started
        reason = "a newer push (or the pull request's closing) superseded this analysis"
        if not before_start and self.publisher is not None and self.check_run_id is not None:
            self._safe_fail(f"Cancelled: {reason}.", conclusion="cancelled")
        self.records.update(status="superseded", error=reason, duration=duration)
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
            self.records.update(status="failed", error=reason, duration=duration)
            metrics.record_job(self.redis, "failed", duration)
        else:
            retry = self.job.get_retry_interval() if self.job.retries_left else 0
            if self.publisher is not None and self.check_run_id is not None:
                try:
                    self.publisher.progress(self.check_run_id, f"{reason}; retrying in {retry} s")
                except Exception:
                    log.warning("%s: could not report the retry", self.job.id, exc_info=True)
            self.records.update(status="retrying", error=reason, duration=duration)

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


# --- GitHub reads -----------------------------------------------------------------------------


def find_check_run(client: Github, request: JobRequest, job_id: str) -> int | None:
    """The check run an earlier attempt of `job_id` started on the head and left in
    progress (its external id is the job id), if any."""
    path = f"/repos/{request.full_name}/commits/{request.head_sha}/check-runs"
    _, data = client.requester.requestJsonAndCheck(
        "GET", path, parameters={"filter": "all", "per_page": 100}
    )
    runs = data.get("check_runs", []) if isinstance(data, dict) else []
    for run in runs:
        if run.get("external_id") == job_id and run.get("status") != "completed":
            return int(run["id"])
    return None


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
