"""Job functions the scale-out test's workers run (imported by the rq work horses).

Kept free of test imports: the workers import this module by name from PYTHONPATH.
"""

from __future__ import annotations

import os
import time

from rq import get_current_job

from provenfix.bot.job_requests import JobRequest

RUNS_KEY = "provenfix-deploy-test:runs"  # hash: job id -> executions
LOG_KEY = "provenfix-deploy-test:log"  # list of "<job id> <worker name> <pid of the worker>"
GATE_KEY = "provenfix-deploy-test:open"  # set by the test once every worker holds a job
GATE_WAIT_S = 60.0


def record_analysis(request: JobRequest) -> str:
    """Stands in for bot.rq_jobs.analyze_pull_request: records that (and where) it ran.

    Until the test opens the gate, each job holds its worker: the test opens it once
    both workers hold one, so neither can drain the queue alone before the other starts.
    """
    job = get_current_job()
    assert job is not None
    redis = job.connection
    redis.hincrby(RUNS_KEY, job.id, 1)
    redis.rpush(LOG_KEY, f"{job.id} {job.worker_name} {os.getppid()}")
    deadline = time.monotonic() + GATE_WAIT_S
    while not redis.exists(GATE_KEY) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.05)  # a little work, so that both workers keep taking jobs
    return request.job_id
