"""`provenfix worker`: rq workers on the analysis queue that outlive their own deaths.

Each worker forks a work horse per job (rq's `Worker`), so a job that crashes or
times out takes only its horse down; with `--workers N` (N > 1) rq's WorkerPool
forks N workers and restarts any that dies. rq's scheduler runs in the workers too
(the delayed retries: 10, 30, 60 s). On top of rq, `ProvenFixWorker`:

- **notices abandoned jobs within a minute.** A worker refreshes its job's entry in
  rq's StartedJobRegistry every `job_heartbeat_s`; an entry not refreshed for
  `job_heartbeat_s + heartbeat_grace_s` is abandoned (its worker died with it), and
  every worker's maintenance (every `maintenance_s`, idle or busy) runs rq's
  registry cleanup, which hands it to bot.queue's failure callback (`AbandonedJobError`:
  retried with its retries, or finished by bot.janitor when none is left). A work
  horse killed under a live worker is retried by rq at once; the worker first reloads
  the job's meta, so the retry reuses the check run and row the horse recorded.
  A horse whose worker died exits (it would otherwise race the retry);
- **survives Redis outages.** Its scheduler (`ResilientScheduler`) waits for Redis
  and goes on instead of dying; the worker retries Redis at most `redis_retry_max_s`
  apart, and after an outage judges no job abandoned until live workers had a
  heartbeat's time to refresh theirs; a worker that stops anyway is started again;
- **cleans up and catches up**: the janitor (bot.janitor) at its start and every
  `janitor_s`, and a sweep of missed webhook deliveries (bot.sweeper) enqueued every
  `sweep_s` by whichever worker gets there first (not in `--burst`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Worker, worker_registration
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.job import Job
from rq.registry import clean_registries
from rq.scheduler import RQScheduler
from rq.scripts import ACQUIRE_OR_REFRESH_LOCK_SCRIPT, acquire_or_refresh_lock
from rq.utils import now, utcformat
from rq.worker_pool import WorkerPool

from provenfix.bot.janitor import Janitor, janitor_for, request_finish
from provenfix.bot.job_context import CONTEXT, JobContext
from provenfix.bot.queue import analysis_queue, save_meta
from provenfix.bot.sweeper import SweepOptions, SweepScheduler

__all__ = ["ProvenFixWorker", "ResilientScheduler", "WorkerServices", "WorkerTiming", "run_worker"]

log = logging.getLogger("provenfix.worker")

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
EXIT_ORPHANED = 75  # a work horse whose worker died


@dataclass(frozen=True)
class WorkerTiming:
    job_heartbeat_s: int = 10  # rq's job_monitoring_interval
    heartbeat_grace_s: int = 20  # not refreshed for heartbeat + grace: abandoned
    maintenance_s: int = 15  # registry cleanup (abandoned jobs), scheduler restart, janitor
    idle_poll_s: int = 15  # the longest an idle worker blocks waiting for a job
    redis_retry_max_s: float = 5.0
    janitor_s: int = 300
    sweep_s: int = 300
    restart_pause_s: float = 2.0

    @property
    def abandoned_after_s(self) -> int:
        return self.job_heartbeat_s + self.heartbeat_grace_s

    @property
    def detection_s(self) -> int:
        """The longest a killed job stays unnoticed while some worker is alive."""
        return self.abandoned_after_s + max(self.maintenance_s, self.idle_poll_s)


@dataclass(frozen=True)
class WorkerServices:
    janitor: Janitor | None = None
    sweeps: SweepScheduler | None = None  # None: no delivery sweeps


class ResilientScheduler(RQScheduler):
    """rq's scheduler, which dies on the first Redis error (and rq restarts it only at
    its next maintenance), made to wait for Redis and go on. It also stops when its
    worker died, releasing its locks, and holds them `lock_ttl_s` between heartbeats
    instead of rq's 61 s: a scheduler killed with its worker stops the retries of every
    worker only that long, until another worker's scheduler takes its locks over."""

    retry_max_s: ClassVar[float] = 5.0
    lock_ttl_s: ClassVar[int] = 15  # heartbeats come every `interval` (1 s)

    def acquire_locks(self, auto_start: bool = False) -> set[str]:
        """rq's, with `lock_ttl_s`: the queues whose lock this scheduler now holds."""
        owned = {
            name
            for name in self._queue_names
            if acquire_or_refresh_lock(
                self.connection, self.get_locking_key(name), self.name, self.lock_ttl_s
            )
            != "taken"
        }
        rq: Any = self  # rq's scheduler carries few annotations
        rq._scheduled_job_registries = []
        rq._acquired_locks = owned
        rq.lock_acquisition_time = datetime.now()
        process = self._process
        if owned and auto_start and (process is None or not process.is_alive()):
            rq.start()
        return owned

    def heartbeat(self) -> None:
        """rq's, with `lock_ttl_s`; a lock another scheduler took is given up."""
        self.last_heartbeat = now()
        names = sorted(self._acquired_locks)
        script = self.connection.register_script(ACQUIRE_OR_REFRESH_LOCK_SCRIPT)
        with self.connection.pipeline() as pipeline:
            pipeline.hset(self.key, "last_heartbeat", utcformat(self.last_heartbeat))
            pipeline.expire(self.key, self.interval + 60)
            for name in names:
                script(
                    keys=[self.get_locking_key(name)],
                    args=[self.name, self.lock_ttl_s],
                    client=pipeline,
                )
            results = pipeline.execute()
        lost = {name for name, outcome in zip(names, results[2:], strict=True) if outcome == 0}
        if lost:
            log.warning("scheduler: another scheduler took %s over", ", ".join(sorted(lost)))
            self._acquired_locks -= lost
            self._scheduled_job_registries = []

    def work(self) -> None:
        rq: Any = self  # rq's scheduler methods carry no annotations
        rq._install_signal_handlers()
        parent = os.getppid()
        pause, registered = 1.0, False
        while True:
            if self._stop_requested or os.getppid() != parent:
                try:
                    rq.stop()
                except REDIS_DOWN:
                    log.warning("scheduler: Redis unavailable while stopping")
                return
            try:
                if not registered:
                    self.register_birth()
                    registered = True
                if self.should_reacquire_locks:
                    self.acquire_locks()
                self.heartbeat()
                rq.enqueue_scheduled_jobs()
                pause = 1.0
            except REDIS_DOWN as exc:
                log.warning("scheduler: Redis unavailable (%s); retrying in %.0f s", exc, pause)
                time.sleep(pause)
                pause = min(pause * 2, self.retry_max_s)
                continue
            time.sleep(self.interval)


class ProvenFixWorker(Worker):
    """rq's forking Worker with the timing and services above (see the module's doc)."""

    timing: ClassVar[WorkerTiming] = WorkerTiming()
    services: ClassVar[WorkerServices] = WorkerServices()

    @classmethod
    def configured(cls, timing: WorkerTiming, services: WorkerServices) -> type[ProvenFixWorker]:
        """A subclass with `timing` and `services`: rq's WorkerPool builds workers from a
        class and a fixed set of arguments."""
        return type(cls.__name__, (cls,), {"timing": timing, "services": services})

    def __init__(self, queues: Any, *args: Any, **kwargs: Any) -> None:
        timing = self.timing
        kwargs.setdefault("job_monitoring_interval", timing.job_heartbeat_s)
        kwargs.setdefault("maintenance_interval", timing.maintenance_s)
        kwargs.setdefault("worker_ttl", timing.idle_poll_s + 15)  # rq blocks worker_ttl - 15
        super().__init__(queues, *args, **kwargs)
        self.max_connection_wait_time = timing.redis_retry_max_s
        self._redis_failed_at: float | None = None
        self._next_janitor = 0.0

    @property
    def stop_requested(self) -> bool:
        """A warm shutdown was asked for (SIGTERM/SIGINT), idle or busy."""
        return bool(self._stop_requested) or self._shutdown_requested_date is not None

    # --- heartbeats and abandoned jobs -------------------------------------------------

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        interval = float(self.job_monitoring_interval)
        if job.timeout and job.timeout > 0:
            interval = min(job.timeout - working_time, interval)
        return int(interval) + self.timing.heartbeat_grace_s

    def heartbeat(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().heartbeat(*args, **kwargs)
        except REDIS_DOWN:
            self._redis_failed_at = time.monotonic()
            raise

    def maintain_heartbeats(self, job: Job, execution: Any) -> None:
        """Busy: refresh this job's heartbeat (a Redis outage must not end the worker), and
        look for abandoned jobs too."""
        self._guarded("heartbeat", lambda: super(ProvenFixWorker, self).maintain_heartbeats(
            job, execution
        ))  # fmt: skip
        if self.should_run_maintenance_tasks:
            self._guarded("registry cleanup", self.clean_registries)

    def run_maintenance_tasks(self) -> None:
        """Idle: rq's maintenance (registries, a dead scheduler restarted), the janitor when
        due, the delivery sweep when due."""
        self._guarded("maintenance", super().run_maintenance_tasks)
        self._guarded("janitor", self._janitor)
        sweeps = self.services.sweeps
        if sweeps is not None:
            self._guarded("sweep", lambda: sweeps.maybe_enqueue(self.queues[0]))

    def clean_registries(self) -> None:
        """rq's registry cleanup under a lock that expires soon (rq's lasts 15 minutes: a
        worker killed while cleaning would stop everyone's cleanup that long)."""
        failed_at = self._redis_failed_at
        recent = self.timing.abandoned_after_s + self.timing.job_heartbeat_s
        if failed_at is None or time.monotonic() - failed_at > recent:
            for queue in self.queues:
                key = queue.registry_cleaning_key
                if not self.connection.set(key, 1, nx=True, ex=max(self.maintenance_interval, 5)):
                    continue
                try:
                    clean_registries(queue, self._exc_handlers)
                    worker_registration.clean_worker_registry(queue)
                    queue.intermediate_queue.cleanup(self, queue)
                finally:
                    self.connection.delete(key)
        self.last_cleaned_at = now()  # type: ignore[assignment]  # rq declares it None

    def clean_group_registries(self) -> None:
        """Nothing: ProvenFix enqueues no rq groups (rq cleans theirs, and logs it, at every
        maintenance)."""

    def handle_work_horse_killed(self, job: Job, retpid: Any, ret_val: Any, rusage: Any) -> None:
        """rq retries the job with the copy of its meta it read when the job started: reload
        what the horse saved (the check run, the row) first."""
        rq: Any = super()
        rq.handle_work_horse_killed(job, retpid, ret_val, rusage)

        def reload() -> None:
            job.get_meta(refresh=True)
            job.meta["reason"] = f"the work horse died (wait status {ret_val})"
            save_meta(job)
            if not job.retries_left:
                request_finish(job, job.meta["reason"])

        self._guarded("reloading the killed job's meta", reload)

    def main_work_horse(self, job: Job, queue: Any) -> None:
        parent = os.getppid()
        threading.Thread(
            target=_exit_with, args=(parent,), name="provenfix-orphan-watch", daemon=True
        ).start()
        super().main_work_horse(job, queue)

    # --- the scheduler and the janitor -------------------------------------------------

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        """rq's, with ResilientScheduler."""
        scheduler: Any = ResilientScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler = scheduler
        scheduler.acquire_locks()
        if not scheduler.acquired_locks:
            return
        if burst:
            try:
                scheduler.register_birth()
                scheduler.enqueue_scheduled_jobs()
            finally:
                scheduler.release_locks()
                scheduler.register_death()
        else:
            scheduler.start()

    def _janitor(self) -> None:
        janitor = self.services.janitor
        if janitor is None or time.monotonic() < self._next_janitor:
            return
        self._next_janitor = time.monotonic() + self.timing.janitor_s
        swept = janitor.run(self.connection)
        if swept:
            log.info("janitor: %s", swept)

    def _guarded(self, what: str, task: Callable[[], object]) -> None:
        try:
            task()
        except REDIS_DOWN as exc:
            self._redis_failed_at = time.monotonic()
            log.warning("worker %s: %s: Redis unavailable (%s)", self.name, what, exc)
        except RedisError as exc:
            log.warning("worker %s: %s: %s", self.name, what, exc)


def _exit_with(parent: int, period_s: float = 1.0) -> None:
    """In a work horse: exit once its worker is gone. The job stays `started` and its
    heartbeat stops, so a live worker retries it (a horse going on would race that)."""
    while True:
        time.sleep(period_s)
        if os.getppid() != parent:
            os._exit(EXIT_ORPHANED)


def run_worker(
    context: JobContext,
    redis: Redis,
    *,
    workers: int = 1,
    burst: bool = False,
    logging_level: str = "INFO",
    timing: WorkerTiming | None = None,
) -> bool:
    """Work the analysis queue until stopped (or, with `burst`, until it is empty)."""
    timing = timing or WorkerTiming()
    CONTEXT.install(context)  # inherited by the forked workers and their work horses
    context.database.create_all()
    queue = analysis_queue(context.settings, redis)
    logging.getLogger("provenfix").setLevel(logging_level)
    services = WorkerServices(
        janitor=janitor_for(context),
        sweeps=None if burst else SweepScheduler(SweepOptions(interval_s=timing.sweep_s)),
    )
    worker_class = ProvenFixWorker.configured(timing, services)
    if workers > 1:
        pool = WorkerPool([queue], connection=redis, num_workers=workers, worker_class=worker_class)
        pool.start(burst=burst, logging_level=logging_level)
        return True
    worked = False
    while True:
        worker: ProvenFixWorker | None = None
        try:
            worker = worker_class([queue], connection=redis)
            worked = (
                bool(worker.work(burst=burst, with_scheduler=True, logging_level=logging_level))
                or worked
            )
        except REDIS_DOWN as exc:  # starting, or stopping, without Redis
            log.warning("worker: Redis unavailable (%s); starting again", exc)
        if burst or (worker is not None and worker.stop_requested):
            return worked
        if worker is not None and worker.pubsub_thread is not None:
            worker.pubsub_thread.stop()  # its teardown could not: it would retry Redis forever
        log.warning(
            "worker stopped on an error; starting another in %.0f s", timing.restart_pause_s
        )
        time.sleep(timing.restart_pause_s)
