"""`provenfix worker`: rq workers on the analysis queue.

Each worker forks a work horse per job (rq's default `Worker`), so a job that
crashes or times out takes only its horse down. The scheduler runs in the
workers too: rq needs it to enqueue the delayed retries (10 s, 30 s, 60 s).
With `--workers N` (N > 1) rq's WorkerPool forks N such workers and restarts
any that dies.
"""

from __future__ import annotations

import logging

from redis import Redis
from rq import Worker
from rq.worker_pool import WorkerPool

from bot.job_context import CONTEXT, JobContext
from bot.queue import analysis_queue


def run_worker(
    context: JobContext,
    redis: Redis,
    *,
    workers: int = 1,
    burst: bool = False,
    logging_level: str = "INFO",
) -> bool:
    """Work the analysis queue until stopped (or, with `burst`, until it is empty)."""
    CONTEXT.install(context)  # inherited by the forked workers and their work horses
    context.database.create_all()
    queue = analysis_queue(context.settings, redis)
    logging.getLogger("provenfix").setLevel(logging_level)
    if workers > 1:
        pool = WorkerPool([queue], connection=redis, num_workers=workers)
        pool.start(burst=burst, logging_level=logging_level)
        return True
    worker = Worker([queue], connection=redis)
    return worker.work(burst=burst, with_scheduler=True, logging_level=logging_level)
