"""Scaling out: several `provenfix worker` processes on one queue run every job exactly once.

Real Redis, two real `provenfix worker --burst` processes (rq workers with forked work
horses and the scheduler, as deployed), jobs enqueued through the production path
(`AnalysisQueue.submit`: one job id per repository/pull request/head sha, `unique`).
Each job records its execution in Redis (tests/deploy/deploy_jobs.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from deploy_jobs import GATE_KEY, LOG_KEY, RUNS_KEY
from deploy_support import app_env
from github_standin import GitHubStandIn
from redis import Redis
from rq.job import Job, JobStatus

from provenfix.bot.job_requests import JobRequest
from provenfix.bot.queue import AnalysisQueue, analysis_queue
from provenfix.bot.settings import load_settings

PROVENFIX = str(Path(sys.executable).parent / "provenfix")
HERE = Path(__file__).resolve().parent
JOBS = 16
WORKERS = 2


def _request(i: int) -> JobRequest:
    repo = i % 4
    return JobRequest(
        installation_id=1,
        repository_id=1000 + repo,
        owner="octo-org",
        repo=f"repo-{repo}",
        number=i + 1,
        head_sha=f"{i + 1:040x}",
        base_sha="b" * 40,
        base_ref="main",
        default_branch="main",
        clone_url=f"https://github.com/octo-org/repo-{repo}.git",
        trigger="pull_request.opened",
        updated_at=f"2026-01-01T00:00:{i:02d}Z",
    )


def test_two_workers_drain_one_queue_and_no_job_runs_twice(
    redis: Redis, redis_url: str, github_standin: GitHubStandIn, tmp_path: Path
) -> None:
    env = app_env(
        github=github_standin,
        redis_url=redis_url,
        database_url=f"sqlite:///{tmp_path / 'provenfix.db'}",
        queue="provenfix-deploy-scale",
    )
    settings = load_settings(env)
    queue = analysis_queue(settings, redis)
    submitter = AnalysisQueue(
        redis, queue, job_timeout_s=120, analyze_func="deploy_jobs.record_analysis"
    )
    requests = [_request(i) for i in range(JOBS)]
    assert [submitter.submit(r).outcome for r in requests] == ["enqueued"] * JOBS
    # A redelivered webhook for a head already queued enqueues nothing.
    assert [submitter.submit(r).outcome for r in requests] == ["duplicate"] * JOBS
    assert queue.count == JOBS

    run_env = {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/tmp"),
        "PYTHONPATH": str(HERE),  # deploy_jobs, for the work horses
        **env,
    }
    workers = [
        subprocess.Popen(
            [PROVENFIX, "worker", "--burst", "--log-level", "WARNING"],
            env=run_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(WORKERS)
    ]
    outputs: list[str] = []
    try:
        # Each job holds its worker until the gate opens; open it once every worker holds
        # one, so that no worker can drain the queue before the other has started.
        deadline = time.monotonic() + 120
        while len(_worker_pids(redis)) < WORKERS and time.monotonic() < deadline:
            assert all(w.poll() is None for w in workers), "a worker exited early"
            time.sleep(0.1)
        redis.set(GATE_KEY, "1")
        for worker in workers:
            output, _ = worker.communicate(timeout=300)
            outputs.append(output)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()
    assert [w.returncode for w in workers] == [0] * WORKERS, "\n".join(outputs)

    runs = {_text(k): int(v) for k, v in redis.hgetall(RUNS_KEY).items()}
    assert runs == {r.job_id: 1 for r in requests}  # every job, each exactly once
    log = [_text(entry).split() for entry in redis.lrange(LOG_KEY, 0, -1)]
    assert len(log) == JOBS
    per_worker: dict[int, int] = {}
    for _job_id, _name, pid in log:
        per_worker[int(pid)] = per_worker.get(int(pid), 0) + 1
    assert set(per_worker) == {w.pid for w in workers}, per_worker  # both did work
    assert len({name for _, name, _ in log}) == WORKERS

    for request in requests:
        job = Job.fetch(request.job_id, connection=redis)
        assert job.get_status() == JobStatus.FINISHED
        assert job.return_value() == request.job_id
    assert queue.count == 0
    assert queue.started_job_registry.count == 0
    assert queue.failed_job_registry.count == 0


def _worker_pids(redis: Redis) -> set[str]:
    return {_text(entry).split()[2] for entry in redis.lrange(LOG_KEY, 0, -1)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
