"""What a dead worker leaves behind, removed: sandbox containers, scratch folders, `runs`
rows stuck in `running`, and the check run of a job that will not run again.

A worker killed mid-job (SIGKILL, OOM, a lost machine) runs none of its cleanup:
its sandbox container keeps running, its `provenfix-job-*` folder stays on disk, its
row says `running` and its check run `in_progress`. rq notices the job itself
(bot.worker: it is retried while it has retries); the rest is the janitor's:

- `Janitor.run()`, at every worker's start and every few minutes (bot.worker),
  removes this owner's sandbox containers and the scratch folders older than a job
  may last (so none that a live job uses), and marks `running`/`retrying` rows
  older than that `failed` with a reason, unless rq still has their job waiting or
  running;
- `finish_abandoned_job`, the job bot.queue enqueues (`request_finish`) when an
  abandoned analysis has no retry left, completes its check run (conclusion
  `neutral`, with the reason) and marks its row `failed`.

Imports stay light: the web process may call `request_finish` (rq's registry
cleanup runs wherever a registry is counted, /metrics included).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, get_current_job
from rq.exceptions import DuplicateJobError, NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from provenfix.bot.db import Database, Run, utcnow
from provenfix.bot.queue import ANALYZE_FUNC, enqueue_small

if TYPE_CHECKING:
    from provenfix.bot.job_context import JobContext

__all__ = [
    "FINISH_FUNC",
    "SCRATCH_PREFIXES",
    "ContainerCleaner",
    "Janitor",
    "Swept",
    "finish_abandoned_job",
    "janitor_for",
    "request_finish",
]

log = logging.getLogger("provenfix.janitor")

FINISH_FUNC = "provenfix.bot.janitor.finish_abandoned_job"
SCRATCH_PREFIXES = ("provenfix-job-", "provenfix-apply-")
STALE_STATUSES = ("running", "retrying")
_ALIVE = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED, JobStatus.STARTED})
_BATCH = 200  # rows per pass: a backlog is worked off over a few passes


class ContainerCleaner(Protocol):
    """jobs.sandbox.runner.DockerSandbox's seam: remove this owner's old containers."""

    def remove_leftovers(self, *, older_than_s: float = 0.0) -> int: ...


@dataclass(frozen=True)
class Swept:
    containers: int = 0
    folders: int = 0
    runs: int = 0

    def __bool__(self) -> bool:
        return bool(self.containers or self.folders or self.runs)

    def __str__(self) -> str:
        return (
            f"removed {self.containers} container(s), {self.folders} scratch folder(s); "
            f"{self.runs} stale run(s) marked failed"
        )


class Janitor:
    """Removes what jobs older than `max_age_s` left. `containers` opens the sandbox
    engine for one pass (None: no sandbox containers here, e.g. PROVENFIX_SANDBOX=none)."""

    def __init__(
        self,
        database: Database,
        *,
        max_age_s: float,
        scratch_dir: Path | None = None,
        containers: Callable[[], ContainerCleaner] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.max_age_s = max_age_s
        self.scratch_dir = scratch_dir if scratch_dir is not None else Path(tempfile.gettempdir())
        self.containers = containers
        self.clock = clock

    def run(self, redis: Redis) -> Swept:
        """One pass; each part's failure is logged, never raised (the worker goes on)."""
        return Swept(
            containers=self._guarded("containers", self.remove_containers),
            folders=self._guarded("scratch folders", self.remove_scratch),
            runs=self._guarded("stale runs", lambda: self.fail_stale_runs(redis)),
        )

    def remove_containers(self) -> int:
        if self.containers is None:
            return 0
        return self.containers().remove_leftovers(older_than_s=self.max_age_s)

    def remove_scratch(self) -> int:
        """`provenfix-job-*` and `provenfix-apply-*` folders not touched for `max_age_s`."""
        cutoff = self.clock() - self.max_age_s
        removed = 0
        for path in self.scratch_dir.iterdir():
            if not path.name.startswith(SCRATCH_PREFIXES) or path.is_symlink():
                continue
            try:
                if not path.is_dir() or path.stat().st_mtime >= cutoff:
                    continue
            except FileNotFoundError:  # another worker's janitor took it
                continue
            shutil.rmtree(path, ignore_errors=True)
            removed += not path.exists()
        return removed

    def fail_stale_runs(self, redis: Redis) -> int:
        """Rows still `running`/`retrying` after `max_age_s` whose job rq no longer holds."""
        cutoff = utcnow() - timedelta(seconds=self.max_age_s)
        failed = 0
        with self.database.session() as s:
            rows = s.scalars(
                select(Run)
                .where(Run.status.in_(STALE_STATUSES), Run.started_at < cutoff)
                .limit(_BATCH)
            ).all()
            for row in rows:
                if _job_alive(redis, row.job_id):
                    continue
                row.status = "failed"
                row.error = (
                    f"the worker running this analysis stopped and nothing finished it within "
                    f"{self.max_age_s:.0f} s (marked failed by the janitor)"
                )
                row.finished_at = utcnow()
                failed += 1
        return failed

    def _guarded(self, what: str, part: Callable[[], int]) -> int:
        try:
            return part()
        except (OSError, RedisError, SQLAlchemyError) as exc:
            log.warning("janitor: %s: %s: %s", what, exc.__class__.__name__, exc)
        except Exception:  # the sandbox engine's own errors (docker, jobs.sandbox)
            log.warning("janitor: %s failed", what, exc_info=True)
        return 0


def janitor_for(context: JobContext) -> Janitor:
    """The production janitor: this owner's sandbox containers (PROVENFIX_SANDBOX=docker),
    scratch folders under PROVENFIX_WORK_DIR (or the temp folder), stale rows."""
    settings = context.settings
    sandbox = settings.pipeline.sandbox

    def containers() -> Any:
        from provenfix.jobs.sandbox.runner import open_sandbox  # the Docker SDK only when used

        return _ClosingSandbox(open_sandbox(sandbox))

    return Janitor(
        context.database,
        max_age_s=settings.job_timeout_s + 60,
        scratch_dir=settings.work_dir,
        containers=containers if settings.pipeline.validation == "docker" else None,
    )


class _ClosingSandbox:
    """A DockerSandbox for one janitor pass: its client is closed afterwards."""

    def __init__(self, sandbox: Any) -> None:
        self._sandbox = sandbox

    def remove_leftovers(self, *, older_than_s: float = 0.0) -> int:
        try:
            return int(self._sandbox.remove_leftovers(older_than_s=older_than_s))
        finally:
            self._sandbox.client.close()


def _job_alive(redis: Redis, job_id: str) -> bool:
    for candidate in (job_id, finish_job_id(job_id)):
        try:
            job = Job.fetch(candidate, connection=redis)
        except NoSuchJobError:
            continue
        if job.get_status(refresh=False) in _ALIVE:
            return True
    return False


def finish_job_id(job_id: str) -> str:
    return f"provenfix-finish-{job_id}"


def request_finish(job: Job, reason: str) -> None:
    """Enqueue `finish_abandoned_job` for an analysis that will not run again."""
    if job.func_name != ANALYZE_FUNC:
        return
    queue = Queue(job.origin, connection=job.connection)
    try:
        enqueue_small(
            queue,
            FINISH_FUNC,
            (job.id, reason),
            120,
            f"finish {job.description}",
            job_id=finish_job_id(job.id),
            callback=False,
        )
    except DuplicateJobError:
        log.info("%s: its finishing job is queued already", job.id)


def finish_abandoned_job(job_id: str, reason: str) -> dict[str, Any]:
    """rq job: complete the check run and the row of analysis `job_id`, which stopped
    with its worker and has no retry left."""
    from provenfix.bot.job_context import CONTEXT
    from provenfix.bot.job_errors import classify_failure
    from provenfix.bot.job_requests import JobRequest
    from provenfix.bot.publish import PublishOptions
    from provenfix.bot.run_records import RunRecords

    current = get_current_job()
    if current is None:
        raise RuntimeError("finish_abandoned_job runs inside an rq job")
    context = CONTEXT.get()
    context.database.engine.dispose(close=False)  # a forked horse opens its own connections
    try:
        job = Job.fetch(job_id, connection=current.connection)
    except NoSuchJobError:
        return {"outcome": "gone"}
    if job.get_status(refresh=True) in _ALIVE:  # submitted again meanwhile
        return {"outcome": "running again"}
    request = job.args[0] if job.args else None
    check_run_id = job.meta.get("check_run_id")
    text = (
        f"ProvenFix stopped: {reason}, and its retries are used up. Re-run it from the "
        "Checks tab or with `/provenfix analyze`."
    )
    if isinstance(request, JobRequest) and check_run_id is not None:
        try:
            client = context.github.installation_client(request.installation_id)
            context.publisher(client, request, PublishOptions()).fail(int(check_run_id), text)
        except Exception as exc:
            raise classify_failure(exc, f"completing check run {check_run_id}") from exc
    started = job.started_at or job.enqueued_at or job.created_at
    if started is not None and started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    duration = (utcnow() - started).total_seconds() if started is not None else 0.0
    RunRecords(context.database, job_id, job.meta.get("run_id")).update(
        status="failed", error=reason, duration=max(duration, 0.0)
    )
    log.info("%s: finished as failed (%s)", job_id, reason)
    return {"outcome": "finished", "check_run_id": check_run_id}
