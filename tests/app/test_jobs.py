"""Jobs on real rq workers (burst mode, forked work horses) against real Redis and SQLite.

The job function is the real `bot.rq_jobs.analyze_pull_request`; what it talks to
is replaced through its JobContext: a GitHub App and client that answer from
memory, a publisher that writes what it was asked to do to a file (the work
horse is another process), and a pipeline that returns a fixed report. The
repository is real and fetched with git over HTTP from the GitHub stand-in (the
job fetches from the configured GitHub's host only), with a token it issued.
tests/app/test_end_to_end.py runs the real publisher and pipeline against it.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from app_support import Deliver, MakeApp, pull_request_event
from github import GithubException, UnknownObjectException
from github_standin import GitHubStandIn
from redis import Redis
from repo_support import GitRepo, MakeRepo
from rq import Queue, Worker, get_current_job
from rq.job import Job, JobStatus
from sqlalchemy import select

from provenfix.bot import metrics
from provenfix.bot.db import Database, Run
from provenfix.bot.git_remote import token_text
from provenfix.bot.github_api import GitHubApp
from provenfix.bot.job_context import JobContext, installed_context
from provenfix.bot.job_errors import TransientError
from provenfix.bot.job_requests import JobRequest, PullRequestTarget
from provenfix.bot.publish import PublishOptions, PublishResult
from provenfix.bot.queue import AnalysisQueue, save_meta
from provenfix.bot.settings import BotSettings
from provenfix.jobs.errors import ToolFailure
from provenfix.jobs.generation.code_model.examples import ExampleSource
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.progress import Progress, ProgressEvent, Stage
from provenfix.jobs.report import Report, ToolInfo
from provenfix.jobs.settings import AnalysisSettings

# --- fixture job functions (run in the work horse) -------------------------------------------


def transient_job(request: JobRequest) -> None:
    raise TransientError("GitHub answered 502: Server Error")


def broken_job(request: JobRequest) -> None:
    raise ValueError("boom")


def slow_job(request: JobRequest) -> None:
    time.sleep(30)


def work(queue: Queue) -> None:
    Worker([queue], connection=queue.connection).work(burst=True)


def request_for(clone_url: str, head: str, base: str, *, number: int = 2) -> JobRequest:
    return JobRequest(
        installation_id=77,
        repository_id=555,
        owner="octo",
        repo="shop",
        number=number,
        head_sha=head,
        base_sha=base,
        base_ref="main",
        default_branch="main",
        clone_url=clone_url,
        trigger="pull_request.opened",
        updated_at="2026-01-01T00:00:00Z",
    )


# --- retries, failures, timeouts -------------------------------------------------------------


def test_transient_failure_is_retried_with_backoff(redis: Redis, queue: Queue) -> None:
    jobs = AnalysisQueue(redis, queue, job_timeout_s=60, analyze_func=f"{__name__}.transient_job")
    submitted = jobs.submit(
        JobRequest(1, 2, "o", "r", 3, "a" * 40, "b" * 40, "main", "main", "x", "t")
    )
    work(queue)
    job = Job.fetch(submitted.job_id, connection=redis)
    assert job.get_status() == JobStatus.SCHEDULED  # the scheduler enqueues it in 10 s
    assert job.retries_left == 2
    assert job.meta["transient"] is True
    assert job.id in queue.scheduled_job_registry.get_job_ids()
    assert queue.failed_job_registry.count == 0


def test_other_failure_lands_in_the_failed_registry_at_once(redis: Redis, queue: Queue) -> None:
    jobs = AnalysisQueue(redis, queue, job_timeout_s=60, analyze_func=f"{__name__}.broken_job")
    submitted = jobs.submit(
        JobRequest(1, 2, "o", "r", 3, "a" * 40, "b" * 40, "main", "main", "x", "t")
    )
    work(queue)
    job = Job.fetch(submitted.job_id, connection=redis)
    assert job.get_status() == JobStatus.FAILED
    assert queue.failed_job_registry.get_job_ids() == [job.id]
    assert job.meta["reason"] == "ValueError: boom"
    assert job.meta["transient"] is False
    result = job.latest_result()
    assert result is not None and result.exc_string is not None
    assert result.exc_string.rstrip().endswith("ValueError: boom")


def test_job_timeout_fails_without_retry(redis: Redis, queue: Queue) -> None:
    jobs = AnalysisQueue(redis, queue, job_timeout_s=1, analyze_func=f"{__name__}.slow_job")
    submitted = jobs.submit(
        JobRequest(1, 2, "o", "r", 3, "a" * 40, "b" * 40, "main", "main", "x", "t")
    )
    started = time.monotonic()
    work(queue)
    assert time.monotonic() - started < 15
    job = Job.fetch(submitted.job_id, connection=redis)
    assert job.get_status() == JobStatus.FAILED
    assert "JobTimeoutException" in job.meta["reason"]


# --- the analysis job with in-memory GitHub -------------------------------------------------


@dataclass
class Recorder:
    """What the publisher was asked to do, in a file: the work horse is another process."""

    path: Path

    def add(self, **entry: Any) -> None:
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry) + "\n")

    def entries(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()]

    def calls(self) -> list[str]:
        return [e["call"] for e in self.entries()]


class FakePublisher:
    def __init__(self, recorder: Recorder, request: JobRequest, options: PublishOptions) -> None:
        self.recorder = recorder
        self.request = request
        recorder.add(
            call="new",
            head=request.head_sha,
            max_suggestions=options.max_suggestions,
            apply_action=options.apply_action,
        )

    def start(self) -> int:
        self.recorder.add(call="start", head=self.request.head_sha)
        return 9000 + int(self.request.head_sha[:4], 16)

    def progress(self, check_run_id: int, text: str) -> None:
        self.recorder.add(call="progress", id=check_run_id, text=text)

    def finish(
        self, check_run_id: int, report: Report, *, config_errors: Sequence[str] = ()
    ) -> Any:
        self.recorder.add(
            call="finish", id=check_run_id, head=report.head, config_errors=list(config_errors)
        )
        return PublishResult(
            check_run_id=check_run_id,
            conclusion="neutral",
            review_id=None,
            posted=(),
            already_posted=(),
            not_posted={},
            outdated=(),
            applied=(),
            annotations=0,
        )

    def fail(self, check_run_id: int, reason: str, *, conclusion: str = "neutral") -> None:
        self.recorder.add(call="fail", id=check_run_id, reason=reason, conclusion=conclusion)


@dataclass
class FakeGitHub:
    """GitHubApp and the installation client's few calls, from memory."""

    token: str
    config: str | None = None
    pull: dict[str, Any] = field(default_factory=dict)
    token_error: Exception | None = None

    def installation_token(self, installation_id: int) -> Any:
        if self.token_error is not None:
            raise self.token_error
        return SimpleNamespace(token=self.token)

    def installation_client(self, installation_id: int) -> Any:
        return self

    def get_repo(self, full_name: str, lazy: bool = False) -> Any:
        return self

    def get_contents(self, path: str, ref: str) -> Any:
        assert path == ".github/provenfix.yml" and ref == "main"
        if self.config is None:
            raise UnknownObjectException(404, {"message": "Not Found"}, {})
        return SimpleNamespace(decoded_content=self.config.encode())

    def get_pull(self, number: int) -> Any:
        p = self.pull
        return SimpleNamespace(
            state="open",
            draft=False,
            head=SimpleNamespace(sha=p["head"]),
            base=SimpleNamespace(sha=p["base"], ref="main"),
            updated_at=None,
        )


@dataclass
class FakePipeline:
    """Records the settings it got; waits for a Redis key when told to, then reports."""

    recorder: Recorder
    settings: AnalysisSettings
    progress: Progress
    redis_url: str
    wait_for: str | None = None
    error: Exception | None = None

    def run(self, request: AnalysisRequest) -> Report:
        self.recorder.add(
            call="pipeline",
            disabled=sorted(self.settings.disabled_rules),
            complexity=self.settings.complexity_threshold,
            fetched=(request.repo_path / ".git").is_dir(),
        )
        self.progress(ProgressEvent(Stage.ANALYZE, "looking"))
        if self.wait_for is not None:
            redis = Redis.from_url(self.redis_url)
            job = get_current_job()
            assert job is not None
            redis.set("test:started", job.id)
            deadline = time.monotonic() + 30
            while not redis.exists(self.wait_for) and time.monotonic() < deadline:
                time.sleep(0.05)
        if self.error is not None:
            raise self.error
        self.progress(ProgressEvent(Stage.VALIDATE, "0 of 0 candidates proven by the tests"))
        return Report(
            tool=ToolInfo(version="test"),
            repository=str(request.repo_path),
            base=request.base,
            head=request.head,
            files_changed=1,
            lines_added=1,
            findings=(),
            metrics=(),
            suggestions=(),
            skipped=(),
            duration_s=0.1,
        )


@dataclass
class Harness:
    context: JobContext
    recorder: Recorder
    github: FakeGitHub
    repo: GitRepo
    base: str
    head: str
    pipeline_options: dict[str, Any]  # FakePipeline's wait_for / error, set before work()
    clone_url: str  # the repository on the stand-in (git over HTTP)


@pytest.fixture
def harness(
    settings: BotSettings,
    db: Database,
    make_repo: MakeRepo,
    tmp_path: Path,
    redis_url: str,
    github_standin: GitHubStandIn,
    github_app: GitHubApp,
) -> Iterator[Harness]:
    repo = make_repo({"shop.py": "x = 1\n"}, {"shop.py": "x = 2\n"})
    repo.git("update-ref", "refs/pull/2/head", "pr")
    github_standin.add_repo("octo", "shop", repo.path)
    settings = replace(settings, github_api_url=github_standin.url)
    recorder = Recorder(tmp_path / "calls.jsonl")
    github = FakeGitHub(token_text(github_app.installation_token(github_standin.installation_id)))
    options: dict[str, Any] = {}

    class FakePipelines:
        """The pipeline source of the worker's settings (jobs.factory.PipelineFactory's seam)."""

        config = settings.pipeline

        def pipeline(
            self, s: AnalysisSettings, progress: Progress, *, examples: ExampleSource | None = None
        ) -> Any:
            recorder.add(call="options", mode=self.config.validation)
            return FakePipeline(recorder, s, progress, redis_url, **options)

    context = JobContext(
        settings=settings,
        github=github,
        publisher=lambda client, request, options: FakePublisher(recorder, request, options),
        database=db,
        pipelines=FakePipelines(),
        progress_interval_s=0,
    )
    with installed_context(context):
        yield Harness(
            context,
            recorder,
            github,
            repo,
            repo.git("rev-parse", "main"),
            repo.git("rev-parse", "pr"),
            options,
            github_standin.git_url("octo", "shop"),
        )


def runs(db: Database) -> list[Run]:
    with db.session() as s:
        return list(s.scalars(select(Run).order_by(Run.id)))


def test_analysis_publishes_start_progress_finish_and_records_the_run(
    harness: Harness, redis: Redis, queue: Queue, db: Database
) -> None:
    harness.github.config = "rules:\n  disable: [eq-none]\nthresholds:\n  complexity: 7\n"
    db.ignore_rule(555, "octo/shop", "bare-except", "maintainer")
    request = request_for(harness.clone_url, harness.head, harness.base)
    jobs = AnalysisQueue(redis, queue, job_timeout_s=60)
    assert jobs.submit(request).outcome == "enqueued"
    work(queue)
    job = Job.fetch(request.job_id, connection=redis)
    assert job.get_status() == JobStatus.FINISHED, job.latest_result().exc_string
    assert job.return_value()["outcome"] == "completed"
    calls = harness.recorder.calls()
    assert calls[:2] == ["new", "start"]
    assert calls[-1] == "finish"
    assert "fail" not in calls
    entries = harness.recorder.entries()
    assert {"call": "options", "mode": "none"} in entries
    pipeline = next(e for e in entries if e["call"] == "pipeline")
    assert pipeline == {
        "call": "pipeline",
        "disabled": ["bare-except", "eq-none"],  # the repo's config + /provenfix ignore
        "complexity": 7,
        "fetched": True,
    }
    # progress goes out from a background thread that keeps only the latest text: the
    # stages shown come in order, and the last one is sent before the check run completes
    stages = [e["text"].partition(":")[0] for e in entries if e["call"] == "progress"]
    assert stages[-1] == "validate"
    assert stages == [s for s in ("fetch", "analyze", "validate") if s in stages]
    assert entries[-1]["config_errors"] == [] and entries[-1]["head"] == harness.head
    (run,) = runs(db)
    assert (run.status, run.job_id, run.head_sha, run.pr_number) == (
        "completed",
        request.job_id,
        harness.head,
        2,
    )
    assert run.check_run_id == 9000 + int(harness.head[:4], 16)
    assert run.duration_s is not None and run.finished_at is not None


def test_broken_repo_config_is_reported_and_defaults_are_used(
    harness: Harness, redis: Redis, queue: Queue
) -> None:
    harness.github.config = "thresholds:\n  complexity: 0\n"
    request = request_for(harness.clone_url, harness.head, harness.base)
    AnalysisQueue(redis, queue, job_timeout_s=60).submit(request)
    work(queue)
    entries = harness.recorder.entries()
    pipeline = next(e for e in entries if e["call"] == "pipeline")
    assert pipeline["complexity"] == 10
    (error,) = entries[-1]["config_errors"]
    assert "thresholds.complexity" in error and "on main" in error
    assert "defaults were used" in error


def test_failure_is_reported_on_the_check_run_and_not_retried(
    harness: Harness, redis: Redis, queue: Queue, db: Database
) -> None:
    harness.pipeline_options["error"] = ToolFailure("semgrep crashed: out of memory")
    request = request_for(harness.clone_url, harness.head, harness.base)
    AnalysisQueue(redis, queue, job_timeout_s=60).submit(request)
    work(queue)
    job = Job.fetch(request.job_id, connection=redis)
    assert job.get_status() == JobStatus.FAILED
    assert job.meta["reason"] == (
        "JobFailed: analyzing octo/shop#2: semgrep crashed: out of memory"
    )
    fail = harness.recorder.entries()[-1]
    assert fail["call"] == "fail" and "semgrep crashed" in fail["reason"]
    assert fail["conclusion"] == "neutral"  # the bot's own failure does not block a merge
    assert [r.status for r in runs(db)] == ["failed"]
    assert queue.failed_job_registry.get_job_ids() == [request.job_id]


def test_transient_github_error_is_retried_before_any_check_run(
    harness: Harness, redis: Redis, queue: Queue
) -> None:
    harness.github.token_error = GithubException(502, {"message": "Bad Gateway"}, {})
    request = request_for(harness.clone_url, harness.head, harness.base)
    AnalysisQueue(redis, queue, job_timeout_s=60).submit(request)
    work(queue)
    job = Job.fetch(request.job_id, connection=redis)
    assert job.get_status() == JobStatus.SCHEDULED and job.retries_left == 2
    assert "502" in job.meta["reason"] and job.meta["transient"] is True
    assert harness.recorder.calls() == []  # no check run started for a failed attempt


def test_unreachable_clone_url_fails_readably(
    harness: Harness, redis: Redis, queue: Queue, tmp_path: Path
) -> None:
    request = request_for(harness.clone_url, harness.head, harness.base)
    nowhere = harness.clone_url.replace("/shop.git", "/nowhere.git")
    request = JobRequest(**(request.to_dict() | {"clone_url": nowhere}))
    AnalysisQueue(redis, queue, job_timeout_s=60).submit(request)
    work(queue)
    job = Job.fetch(request.job_id, connection=redis)
    assert job.get_status() == JobStatus.FAILED
    assert job.meta["reason"].startswith(f"JobFailed: git fetch from {nowhere} failed")
    assert harness.github.token not in json.dumps(harness.recorder.entries())
    assert harness.recorder.calls()[-1] == "fail"


def test_running_job_stops_when_a_newer_push_supersedes_it(
    harness: Harness, redis: Redis, queue: Queue, make_app: MakeApp, db: Database
) -> None:
    """A synchronize arrives while the first analysis runs: it stops at its next stage."""
    harness.pipeline_options["wait_for"] = "test:go"
    deliver = Deliver(
        make_app(github_api_url=harness.context.settings.github_api_url).test_client()
    )
    first = request_for(harness.clone_url, harness.head, harness.base)
    AnalysisQueue(redis, queue, job_timeout_s=60).submit(first)
    newer = harness.repo.commit({"shop.py": "x = 3\n"}, "second push")
    harness.repo.git("update-ref", "refs/pull/2/head", newer)

    def push() -> None:
        deadline = time.monotonic() + 30
        while not redis.exists("test:started") and time.monotonic() < deadline:
            time.sleep(0.05)
        payload = pull_request_event("synchronize", head_sha=newer, number=2)
        payload["repository"].update(id=555, clone_url=harness.clone_url, name="shop")
        payload["repository"]["owner"]["login"] = "octo"
        payload["repository"]["default_branch"] = "main"
        payload["pull_request"]["base"].update(sha=harness.base, ref="main")
        payload["pull_request"]["updated_at"] = "2026-01-01T00:05:00Z"
        payload["installation"] = {"id": 77}
        response = deliver("pull_request", payload)
        assert response.json["superseded"] == first.job_id
        redis.set("test:go", "1")

    pusher = threading.Thread(target=push)
    pusher.start()
    work(queue)  # runs the first job (superseded), then the newer one
    pusher.join()
    old = Job.fetch(first.job_id, connection=redis)
    assert old.get_status() == JobStatus.FINISHED
    assert old.return_value() == {"outcome": "superseded"}
    new = Job.fetch(f"provenfix-555-2-{newer}", connection=redis)
    assert new.get_status() == JobStatus.FINISHED
    assert new.return_value()["outcome"] == "completed"
    entries = harness.recorder.entries()
    fails = [e for e in entries if e["call"] == "fail"]
    assert len(fails) == 1 and fails[0]["reason"].startswith("Cancelled: a newer push")
    assert fails[0]["conclusion"] == "cancelled"
    assert [e["head"] for e in entries if e["call"] == "finish"] == [newer]
    assert [r.status for r in runs(db)] == ["superseded", "completed"]
    outcomes = redis.hgetall(metrics.JOBS_KEY)
    assert outcomes == {b"superseded": b"1", b"completed": b"1"}

    # a force-push back to the first head: its superseded job does not block a new analysis
    back = AnalysisQueue(redis, queue, job_timeout_s=60).submit(
        JobRequest(**(first.to_dict() | {"updated_at": "2026-01-01T00:10:00Z"}))
    )
    assert (back.outcome, back.superseded) == ("enqueued", new.id)


def test_resolve_looks_up_the_head_then_analyzes(
    harness: Harness, redis: Redis, queue: Queue
) -> None:
    harness.github.pull = {"head": harness.head, "base": harness.base}
    target = PullRequestTarget(
        installation_id=77,
        repository_id=555,
        owner="octo",
        repo="shop",
        number=2,
        default_branch="main",
        clone_url=harness.clone_url,
        trigger="issue_comment.analyze",
        sender="maintainer",
    )
    resolve = AnalysisQueue(redis, queue, job_timeout_s=60).submit_resolve(target)
    work(queue)
    resolved = Job.fetch(resolve, connection=redis)
    job_id = f"provenfix-555-2-{harness.head}"
    assert resolved.return_value() == {"outcome": "enqueued", "job_id": job_id}
    analysis = Job.fetch(job_id, connection=redis)
    assert analysis.get_status() == JobStatus.FINISHED
    assert analysis.args[0].trigger == "issue_comment.analyze"
    assert harness.recorder.calls()[-1] == "finish"


def test_a_retry_superseded_while_it_waits_cancels_its_check_run(
    harness: Harness, redis: Redis, queue: Queue
) -> None:
    """An attempt started the check run and died; before the retry runs, the pull request
    is closed. The waiting retry is not cancelled outright: it runs, sees it was
    superseded and marks the check run cancelled (else it would stay in progress)."""
    request = request_for(harness.clone_url, harness.head, harness.base)
    jobs = AnalysisQueue(redis, queue, job_timeout_s=60)
    jobs.submit(request)
    job = Job.fetch(request.job_id, connection=redis)
    job.meta["check_run_id"] = 4242
    save_meta(job)
    assert jobs.cancel_pull_request(555, 2) == request.job_id
    assert job.get_status(refresh=True) == JobStatus.QUEUED
    work(queue)
    assert job.return_value() == {"outcome": "superseded"}
    fails = [e for e in harness.recorder.entries() if e["call"] == "fail"]
    assert [(f["id"], f["conclusion"]) for f in fails] == [(4242, "cancelled")]
    assert "start" not in harness.recorder.calls()
