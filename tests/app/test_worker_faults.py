"""Faults with real processes: worker processes (bot.worker.run_worker, forked work horses,
the scheduler; tests/app/e2e_support.WorkerProcess) killed with SIGKILL mid-job, GitHub
answering 502 and rate limits, Redis restarted under a worker, GitHub unreachable at
start-up. The App runs end to end against the GitHub stand-in (the real pipeline, tests
run with PROVENFIX_SANDBOX=none); each test ends with the pull request's final state:
one check run, completed, one review, the run's row final.

The workers notice abandoned jobs with a short heartbeat (e2e_support.FAST_TIMING: 1 s
+ 5 s grace) so that each test stays well under a minute; production's (10 s + 20 s,
maintenance every 15 s) keeps detection under 60 s. Measured times are printed
(`pytest -s`).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from app_support import SECRET
from e2e_support import WorkerProcess, fast_context, wait_for, work
from flask.testing import FlaskClient
from github_standin import GitHubStandIn
from redis import Redis
from redis.exceptions import RedisError
from repo_support import GitRepo
from rq import Queue, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select

from provenfix.bot.db import Database, Run, utcnow
from provenfix.bot.github_api import GitHubApp
from provenfix.bot.janitor import Janitor, Swept
from provenfix.bot.job_context import installed_context
from provenfix.bot.queue import ABANDONED_REASON, enqueue_small, save_meta
from provenfix.bot.worker import WorkerTiming

PROVENFIX = str(Path(sys.executable).parent / "provenfix")
# E2E_TIMING=production runs the workers with production's timing (slower: over a minute)
TIMING = os.environ.get("E2E_TIMING", "fast")
NOTICE_S = WorkerTiming().detection_s + 15 if TIMING == "production" else 30


def measured(what: str, seconds: float) -> None:
    print(f"\nMEASURED {what}: {seconds:.1f} s", flush=True)


@pytest.fixture
def worker_env(app_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    work = tmp_path / "work"
    work.mkdir()
    return app_env | {"PROVENFIX_WORK_DIR": str(work), "E2E_TIMING": TIMING}


@pytest.fixture
def workers(worker_env: dict[str, str], tmp_path: Path) -> Iterator[list[WorkerProcess]]:
    started: list[WorkerProcess] = []
    yield started
    for worker in started:
        worker.stop()


def start(workers: list[WorkerProcess], env: dict[str, str], tmp_path: Path) -> WorkerProcess:
    worker = WorkerProcess(env, tmp_path / f"worker-{len(workers)}.log")
    workers.append(worker)
    return worker


def open_and_deliver(standin: GitHubStandIn, web: FlaskClient) -> str:
    opened = standin.open_pull("octo", "stats", 1, "main", "pr")
    body, headers = standin.webhook_request("pull_request", opened, SECRET)
    response = web.post("/webhook", data=body, headers=headers)
    assert response.status_code == 202, response.json
    return str(response.json["job_id"])


def status(redis: Redis, job_id: str) -> Any:
    try:
        return Job.fetch(job_id, connection=redis).get_status(refresh=True)
    except NoSuchJobError:
        return None


def in_pipeline(standin: GitHubStandIn) -> bool:
    """The analysis is running its tests (the validate stage) on a horse."""
    return any("- validate:" in str(r.summary) for r in standin.check_runs)


def assert_one_completed_analysis(
    standin: GitHubStandIn, redis: Redis, db: Database, job_id: str, workers: list[WorkerProcess]
) -> Job:
    job = Job.fetch(job_id, connection=redis)
    logs = "\n".join(w.output()[-3000:] for w in workers)
    assert job.get_status() == JobStatus.FINISHED, logs
    assert job.return_value()["outcome"] == "completed"  # type: ignore[index]
    (check,) = standin.check_runs  # the retry reused the first attempt's check run
    assert (check.status, check.external_id) == ("completed", job_id)
    assert len(standin.reviews) == 1
    with db.session() as s:
        rows = s.scalars(select(Run)).all()
        assert [(r.job_id, r.status, r.check_run_id) for r in rows] == [
            (job_id, "completed", check.id)
        ]
    return job


# --- SIGKILL -------------------------------------------------------------------------------


def test_worker_and_horse_killed_mid_pipeline_another_worker_finishes_it(
    standin: GitHubStandIn,
    repo: GitRepo,
    web: FlaskClient,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    redis: Redis,
    db: Database,
    tmp_path: Path,
) -> None:
    job_id = open_and_deliver(standin, web)
    first = start(workers, worker_env, tmp_path)
    wait_for(lambda: in_pipeline(standin), 45, "the first worker's pipeline")
    assert first.horse() is not None
    first.kill_all()  # the worker, its horse, the horse's tools, the scheduler
    killed = time.monotonic()
    assert status(redis, job_id) == JobStatus.STARTED  # nobody knows yet
    start(workers, worker_env, tmp_path)
    wait_for(
        lambda: Job.fetch(job_id, connection=redis).meta.get("reason") == ABANDONED_REASON,
        NOTICE_S,
        "the abandoned job noticed",
    )
    measured("kill -> abandoned job noticed by the new worker", time.monotonic() - killed)
    wait_for(lambda: status(redis, job_id) == JobStatus.FINISHED, 45, "the re-run")
    measured("kill -> re-run completed", time.monotonic() - killed)
    job = assert_one_completed_analysis(standin, redis, db, job_id, workers)
    assert job.meta["attempts"] == 2 and job.retries_left == 2  # one retry spent, not zeroed
    assert not list((tmp_path / "work").iterdir())  # the killed attempt's folder is gone


def test_horse_killed_the_worker_retries_on_the_same_check_run(
    standin: GitHubStandIn,
    repo: GitRepo,
    web: FlaskClient,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    redis: Redis,
    db: Database,
    tmp_path: Path,
) -> None:
    job_id = open_and_deliver(standin, web)
    worker = start(workers, worker_env, tmp_path)
    wait_for(lambda: in_pipeline(standin), 45, "the pipeline")
    horse = worker.horse()
    assert horse is not None
    os.killpg(horse, signal.SIGKILL)  # the horse and its tools, as rq's own kill does
    killed = time.monotonic()
    wait_for(lambda: status(redis, job_id) == JobStatus.FINISHED, 45, "the retry")
    measured("horse kill -> retry completed (first retry waits 10 s)", time.monotonic() - killed)
    job = assert_one_completed_analysis(standin, redis, db, job_id, workers)
    assert job.meta["attempts"] == 2
    assert worker.proc.poll() is None  # the worker lived on
    assert not list((tmp_path / "work").iterdir())


def test_abandoned_job_without_retries_gets_a_final_check_run_and_row(
    standin: GitHubStandIn,
    repo: GitRepo,
    web: FlaskClient,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    redis: Redis,
    db: Database,
    tmp_path: Path,
) -> None:
    job_id = open_and_deliver(standin, web)
    redis.hset(f"rq:job:{job_id}", "retries_left", 0)  # its last attempt
    first = start(workers, worker_env, tmp_path)
    wait_for(lambda: in_pipeline(standin), 45, "the pipeline")
    first.kill_all()
    killed = time.monotonic()
    start(workers, worker_env, tmp_path)
    wait_for(lambda: all(r.status == "completed" for r in standin.check_runs), 40, "the check run")
    measured("kill (no retry left) -> check run completed", time.monotonic() - killed)
    (check,) = standin.check_runs
    assert check.conclusion == "neutral"
    assert ABANDONED_REASON in str(check.summary) and "retries are used up" in str(check.summary)
    assert status(redis, job_id) == JobStatus.FAILED
    wait_for(lambda: _row_status(db) == "failed", 10, "the row")
    assert standin.reviews == []


def _row_status(db: Database) -> str | None:
    with db.session() as s:
        row = s.scalars(select(Run)).first()
        return row.status if row is not None else None


# --- GitHub failing -------------------------------------------------------------------------


def test_github_502_is_retried_and_the_final_state_is_right(
    standin: GitHubStandIn,
    repo: GitRepo,
    web: FlaskClient,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    redis: Redis,
    db: Database,
    tmp_path: Path,
) -> None:
    # a GET answered 502 twice: the client's own retries get through
    standin.fail_next(2, 502, match=r"^GET /repos/octo/stats/contents/")
    # the check run's POST answered 502: never repeated in place (GitHub may have done it):
    # the job fails transiently and rq retries it after 10 s
    standin.fail_next(1, 502, match=r"^POST /repos/octo/stats/check-runs$")
    job_id = open_and_deliver(standin, web)
    started = time.monotonic()
    start(workers, worker_env, tmp_path)
    wait_for(lambda: status(redis, job_id) == JobStatus.FINISHED, 50, "the analysis")
    measured("502s -> analysis completed", time.monotonic() - started)
    job = assert_one_completed_analysis(standin, redis, db, job_id, workers)
    assert job.meta["attempts"] == 2
    assert _check_run_posts(standin) == [502, 201]


def test_github_rate_limits_are_waited_for_or_retried(
    standin: GitHubStandIn,
    repo: GitRepo,
    web: FlaskClient,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    redis: Redis,
    db: Database,
    tmp_path: Path,
) -> None:
    # a short 403 rate limit: the client waits (Retry-After 1 s) and goes on
    standin.rate_limit_next(1, status=403, retry_after=1, match=r"^GET /repos/octo/stats/contents/")
    # a long one (10 minutes, more than the client waits): the job is retried by rq
    standin.rate_limit_next(
        1, status=403, retry_after=600, match=r"^POST /repos/octo/stats/check-runs$"
    )
    job_id = open_and_deliver(standin, web)
    started = time.monotonic()
    start(workers, worker_env, tmp_path)
    wait_for(lambda: status(redis, job_id) == JobStatus.FINISHED, 50, "the analysis")
    measured("403 rate limits -> analysis completed", time.monotonic() - started)
    assert_one_completed_analysis(standin, redis, db, job_id, workers)
    assert _check_run_posts(standin) == [403, 201]


def _check_run_posts(standin: GitHubStandIn) -> list[int | None]:
    return [
        r.status for r in standin.requests if r.method == "POST" and r.path.endswith("/check-runs")
    ]


# --- Redis restarted under a worker ---------------------------------------------------------


class PrivateRedis:
    """A redis-server of this test's own on a free port, saving to `folder` only when
    shut down with SAVE (so a restart brings the same data back)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        subprocess.run(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--dir", str(self.folder), "--daemonize", "yes",
             "--pidfile", str(self.folder / "redis.pid")],
            check=True, capture_output=True,
        )  # fmt: skip
        wait_for(self._answers, 10, "redis-server")

    def stop(self, *, save: bool) -> None:
        with contextlib.suppress(RedisError):  # it shut down before it could answer
            Redis.from_url(self.url).shutdown(save=save, nosave=not save)
        wait_for(lambda: not self._answers(), 10, "redis-server to stop")

    def _answers(self) -> bool:
        try:
            return bool(Redis.from_url(self.url, socket_connect_timeout=0.5).ping())
        except RedisError:
            return False


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    folder = tmp_path / "redis"
    folder.mkdir()
    server = PrivateRedis(folder)
    server.start()
    yield server
    server.stop(save=False)


def test_retry_runs_soon_after_a_redis_restart(
    private_redis: PrivateRedis,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    tmp_path: Path,
) -> None:
    """Production timing. The retry is due 10 s after the failure, while Redis is down;
    the worker and its scheduler wait for Redis instead of dying, and the retry runs
    within seconds of Redis being back."""
    env = worker_env | {"PROVENFIX_REDIS_URL": private_redis.url, "E2E_TIMING": "production"}
    redis = Redis.from_url(private_redis.url)
    queue = Queue(worker_env["PROVENFIX_QUEUE"], connection=redis)
    marker = tmp_path / "failed-once"
    worker = start(workers, env, tmp_path)
    job = enqueue_small(queue, "e2e_support.fail_once", str(marker), 60, "fails once")
    wait_for(lambda: job.get_status(refresh=True) == JobStatus.SCHEDULED, 30, "the failure")
    wait_for(lambda: _idle(queue), 30, "the worker idle")  # its start-up sweep done
    scheduler = [pid for pid in _children(worker.pid) if pid != worker.horse()]
    private_redis.stop(save=True)
    time.sleep(15)  # the retry falls due meanwhile
    private_redis.start()
    back = time.monotonic()
    wait_for(lambda: job.get_status(refresh=True) == JobStatus.FINISHED, 30, "the retry")
    measured("Redis back -> retry (due during the outage) finished", time.monotonic() - back)
    assert job.return_value() == "done"
    assert worker.proc.poll() is None
    assert scheduler and set(scheduler) <= set(_children(worker.pid))  # the same scheduler


def _idle(queue: Queue) -> bool:
    workers = Worker.all(queue=queue)
    busy = [w for w in workers if w.get_state() != "idle"]
    return bool(workers) and not busy and queue.count == 0


def _children(pid: int) -> list[int]:
    from e2e_support import children

    return children(pid)


# --- GitHub unreachable at start-up -----------------------------------------------------------


def test_worker_starts_and_exits_without_github(env: dict[str, str], queue: Queue) -> None:
    """`provenfix worker --burst` with GitHub refusing connections, then never answering."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused = f"http://127.0.0.1:{closed.getsockname()[1]}"
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections are accepted by the kernel, nothing ever answers
        mute = f"http://127.0.0.1:{silent.getsockname()[1]}"
        job = queue.enqueue("builtins.sorted", [2, 1])
        for name, url in (("refused", refused), ("silent", mute)):
            started = time.monotonic()
            proc = subprocess.run(
                [PROVENFIX, "worker", "--burst"],
                env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}
                | env
                | {"PROVENFIX_GITHUB_API_URL": url},
                capture_output=True,
                text=True,
                timeout=60,
            )
            took = time.monotonic() - started
            measured(f"worker --burst with GitHub {name}", took)
            assert proc.returncode == 0, proc.stderr
            assert "GET /app failed at start-up" in proc.stderr
            assert took < 15
    assert job.get_status(refresh=True) == JobStatus.FINISHED


# --- the janitor ------------------------------------------------------------------------------


@dataclass
class FakeContainers:
    """jobs.sandbox.runner.DockerSandbox's seam (tests/sandbox run the real one)."""

    asked: list[float] = field(default_factory=list)

    def remove_leftovers(self, *, older_than_s: float = 0.0) -> int:
        self.asked.append(older_than_s)
        return 2


def add_run(db: Database, job_id: str, status: str, age_s: float) -> None:
    with db.session() as s:
        s.add(
            Run(
                job_id=job_id,
                repository_id=1,
                repository="octo/stats",
                pr_number=1,
                head_sha="a" * 40,
                trigger="test",
                status=status,
                started_at=utcnow() - timedelta(seconds=age_s),
            )
        )


def run_states(db: Database) -> dict[str, str]:
    with db.session() as s:
        return {r.job_id: r.status for r in s.scalars(select(Run))}


def aged(path: Path, age_s: float) -> Path:
    path.mkdir(parents=True)
    (path / "file").write_text("x")
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


def test_janitor_removes_what_dead_jobs_left_and_nothing_else(
    db: Database, redis: Redis, queue: Queue, tmp_path: Path
) -> None:
    scratch = tmp_path / "scratch"
    old_job = aged(scratch / "provenfix-job-provenfix-1-1-abc-x1", 7200)
    old_apply = aged(scratch / "provenfix-apply-q2", 7200)
    fresh = aged(scratch / "provenfix-job-fresh", 10)
    other = aged(scratch / "someone-else", 7200)
    (scratch / "provenfix-job-link").symlink_to(other)
    add_run(db, "dead", "running", 7200)
    add_run(db, "dead-retrying", "retrying", 7200)
    add_run(db, "young", "running", 10)
    add_run(db, "done", "completed", 7200)
    add_run(db, "waiting", "running", 7200)
    queue.enqueue_at(utcnow() + timedelta(hours=1), "builtins.len", "x", job_id="waiting")
    containers = FakeContainers()
    janitor = Janitor(db, max_age_s=3600, scratch_dir=scratch, containers=lambda: containers)
    swept = janitor.run(redis)
    assert swept == Swept(containers=2, folders=2, runs=2)
    assert containers.asked == [3600]
    assert not old_job.exists() and not old_apply.exists()
    assert fresh.exists() and other.exists() and (scratch / "provenfix-job-link").is_symlink()
    assert run_states(db) == {
        "dead": "failed",
        "dead-retrying": "failed",
        "young": "running",
        "done": "completed",
        "waiting": "running",  # rq still holds its job
    }
    assert janitor.run(redis) == Swept(containers=2)


def test_worker_runs_the_janitor_when_it_starts(
    standin: GitHubStandIn,
    worker_env: dict[str, str],
    workers: list[WorkerProcess],
    db: Database,
    tmp_path: Path,
) -> None:
    env = worker_env | {"PROVENFIX_JOB_TIMEOUT_S": "60"}  # older than 120 s: left by the dead
    leftover = aged(tmp_path / "work" / "provenfix-job-killed-abc", 600)
    add_run(db, "killed", "running", 600)
    started = time.monotonic()
    start(workers, env, tmp_path)
    wait_for(
        lambda: not leftover.exists() and run_states(db) == {"killed": "failed"}, 30, "janitor"
    )
    measured("worker start -> janitor done", time.monotonic() - started)


# --- an attempt that died between creating its check run and saving its id -------------------


def test_a_retry_finds_the_check_run_its_predecessor_did_not_record(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    repo: GitRepo,
    web: FlaskClient,
    app_env: dict[str, str],
    redis: Redis,
    queue: Queue,
    db: Database,
) -> None:
    job_id = open_and_deliver(standin, web)
    head = standin.head_sha("octo", "stats", 1)
    client = github_app.installation_client(standin.installation_id)
    _, created = client.requester.requestJsonAndCheck(
        "POST",
        "/repos/octo/stats/check-runs",
        input={
            "name": "ProvenFix",
            "head_sha": head,
            "external_id": job_id,
            "status": "in_progress",
        },
    )
    job = Job.fetch(job_id, connection=redis)
    job.meta["attempts"] = 1  # the first attempt got that far, then died
    save_meta(job)
    with installed_context(fast_context(app_env, github_app)):
        work(queue)
    (check,) = standin.check_runs
    assert (check.id, check.status) == (created["id"], "completed")
    assert Job.fetch(job_id, connection=redis).meta["check_run_id"] == created["id"]
    assert len(standin.reviews) == 1
