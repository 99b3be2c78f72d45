"""Analysis jobs on an rq queue: one job per (repository, pull request, head sha).

The web process only calls `AnalysisQueue.submit`, `cancel_pull_request` and
`submit_resolve`; the worker runs `bot.rq_jobs.analyze_pull_request`. Both sides
share the Redis keys below (all under `provenfix:`):

- `provenfix:pr:<repo id>:<number>`: the pull request's current job (JSON with
  job id, head sha and the pull request's `updated_at`). A delivery for an
  older head than the current one is stale and enqueues nothing, so deliveries
  arriving out of order cannot resurrect an old push.
- `provenfix:superseded:<job id>`: set when a newer push (or the pull request's
  closing) replaces a job. A queued job is cancelled outright; a running one
  checks the key between stages (`is_superseded`) and stops.
- `provenfix:delivery:<delivery id>`: webhook deliveries seen (see bot.webapp).

`submit` claims the webhook's delivery id (a `DeliveryClaim`), decides whether
the head is stale and makes it the pull request's current one in one atomic step
(`TRACK_SCRIPT`), then enqueues the job with rq's own unique enqueue.

Retries: transient GitHub and network errors (`TransientError`, raised by the
job) are retried by rq with `Retry(max=3, interval=[10, 30, 60])`, and so is a
job whose worker died under it (rq's `AbandonedJobError`, bot.worker); anything
else goes straight to the FailedJobRegistry, with a one-line reason in
`job.meta["reason"]` and the exception as the job's failure. An abandoned job
with no retry left has its check run and row completed by bot.janitor. Retry
intervals need a worker started with the scheduler (`provenfix worker` does that).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.callbacks import Callback
from rq.exceptions import AbandonedJobError, DuplicateJobError, InvalidJobOperation, NoSuchJobError
from rq.job import Job, JobStatus

from provenfix.bot import metrics
from provenfix.bot.job_errors import TransientError  # raised by the jobs this queue runs
from provenfix.bot.job_requests import (
    ApplyRequest,
    CommentReaction,
    JobRequest,
    PullRequestTarget,
)
from provenfix.bot.metrics import DELIVERIES_KEY
from provenfix.bot.settings import BotSettings

KEY_PREFIX = "provenfix"
ANALYZE_FUNC = "provenfix.bot.rq_jobs.analyze_pull_request"
RESOLVE_FUNC = "provenfix.bot.rq_jobs.resolve_and_analyze"
REACT_FUNC = "provenfix.bot.rq_jobs.react_to_comment"
APPLY_FUNC = "provenfix.bot.apply_fixes.apply_proven_fixes"
FAILURE_CALLBACK = "provenfix.bot.queue.on_job_failure"
ABANDONED_REASON = "the worker running this job stopped (killed or lost)"
RETRY_INTERVALS = (10, 30, 60)
RESULT_TTL_S = 24 * 3600  # a finished job keeps its id taken: the same head is not re-run
FAILURE_TTL_S = 7 * 24 * 3600
_WAITING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.DEFERRED})
_ALIVE = _WAITING | {JobStatus.STARTED}
DELIVERY_KEY = f"{KEY_PREFIX}:delivery:{{}}"
RETRY = Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS))
ON_FAILURE = Callback(FAILURE_CALLBACK)

# Claim the delivery, then make the head the pull request's current one, atomically.
# KEYS: 1 the delivery key ('' : nothing to claim), 2 the pull request's record, 3 this
#       job's superseded flag, 4 the delivery counters.
# ARGV: 1 the delivery key's TTL, 2 the new record (JSON), 3 its head sha, 4 its
#       updated_at, 5 the record's TTL, 6 the superseded flag's TTL, 7 the superseded flag's
#       key prefix, 8 the job id, 9/10 the counter fields of stale / duplicate_delivery.
# Returns {state, previous job id or ''}; state: duplicate_delivery | stale | current.
# A delivery for another head is stale when the current record is newer (updated_at,
# ISO 8601, compares as text); one without updated_at never is.
TRACK_SCRIPT = """
local function count(field)
  if field ~= '' then redis.call('HINCRBY', KEYS[4], field, 1) end
end
if KEYS[1] ~= '' and redis.call('EXISTS', KEYS[1]) == 1 then
  count(ARGV[10])
  return {'duplicate_delivery', ''}
end
local raw = redis.call('GET', KEYS[2])
local previous = ''
local stale = false
if raw then
  local current = cjson.decode(raw)
  local updated = current['updated_at']
  if type(updated) ~= 'string' then updated = '' end
  stale = current['head_sha'] ~= ARGV[3] and ARGV[4] ~= '' and updated > ARGV[4]
  previous = tostring(current['job_id'])
end
if KEYS[1] ~= '' then redis.call('SET', KEYS[1], '1', 'EX', ARGV[1]) end
if stale then
  count(ARGV[9])
  return {'stale', ''}
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[5])
redis.call('DEL', KEYS[3])
if previous ~= '' and previous ~= ARGV[8] then
  redis.call('SET', ARGV[7] .. previous, '1', 'EX', ARGV[6])
end
return {'current', previous}
"""


class DeliveryClaim:
    """One request's claim on its delivery id, taken by whichever Redis write comes first.

    Mutable on purpose: it records whether this request holds the claim, so that a
    failure afterwards forgets it (GitHub's redelivery must not be swallowed as a
    duplicate), and only then.
    """

    __slots__ = ("event", "key", "taken", "ttl_s")

    def __init__(self, delivery: str, event: str, ttl_s: int) -> None:
        self.key = DELIVERY_KEY.format(delivery)
        self.event = event
        self.ttl_s = ttl_s
        self.taken = False

    def field(self, outcome: str) -> str:
        """The delivery counter's field for `outcome` (bot.metrics)."""
        return metrics.delivery_field(self.event, outcome)

    def take(self, redis: Redis) -> bool:
        """Claim the delivery id; False: it was claimed before (a redelivery)."""
        self.taken = bool(redis.set(self.key, "1", nx=True, ex=self.ttl_s))
        return self.taken

    def forget(self, redis: Redis) -> None:
        """Release a claim this request holds (after a failure)."""
        if self.taken:
            with contextlib.suppress(RedisError):
                redis.delete(self.key)
            self.taken = False


def _description(request: JobRequest) -> str:
    return f"analyze {request.full_name}#{request.number}@{request.head_sha[:10]}"


def _meta(request: JobRequest) -> dict[str, Any]:
    return {
        "repository": request.full_name,
        "number": request.number,
        "head_sha": request.head_sha,
        "trigger": request.trigger,
    }


@dataclass(frozen=True)
class Submitted:
    outcome: str  # enqueued | duplicate | stale | duplicate_delivery (with a DeliveryClaim)
    job_id: str
    superseded: str | None = None  # the job this one replaced
    counted: bool = False  # the delivery's counter was incremented with it


def analysis_queue(settings: BotSettings, redis: Redis) -> Queue:
    return Queue(settings.queue_name, connection=redis, default_timeout=settings.job_timeout_s)


def pr_key(repository_id: int, number: int) -> str:
    return f"{KEY_PREFIX}:pr:{repository_id}:{number}"


def superseded_key(job_id: str) -> str:
    return f"{KEY_PREFIX}:superseded:{job_id}"


def is_superseded(redis: Redis, job_id: str) -> bool:
    return bool(redis.exists(superseded_key(job_id)))


class AnalysisQueue:
    def __init__(
        self,
        redis: Redis,
        queue: Queue,
        *,
        job_timeout_s: int,
        analyze_func: str = ANALYZE_FUNC,
        resolve_func: str = RESOLVE_FUNC,
    ) -> None:
        self.redis = redis
        self.queue = queue
        self.job_timeout_s = job_timeout_s
        self.analyze_func = analyze_func  # another function only in tests
        self.resolve_func = resolve_func
        self._superseded_ttl_s = max(job_timeout_s * 2, 3600)
        self._track_script = redis.register_script(TRACK_SCRIPT)

    def claim(self, claim: DeliveryClaim) -> bool:
        """Claim a webhook delivery on its own; False: a redelivery."""
        return claim.take(self.redis)

    def submit(
        self, request: JobRequest, *, rerun: bool = False, claim: DeliveryClaim | None = None
    ) -> Submitted:
        """Enqueue the analysis of `request`'s head, superseding the pull request's older job.

        Without `rerun` a head whose analysis is waiting, running or completed (within
        RESULT_TTL_S) is not analyzed again; with it (a re-run button, a command) a completed
        one is replaced too. A waiting or running job is always kept. With `claim`, the
        webhook's delivery id is claimed (a redelivery: "duplicate_delivery", nothing done)
        and counted in the same round trip.
        """
        job_id = request.job_id
        state, previous = self._track(request, claim)
        if state == "duplicate_delivery":
            return Submitted(state, job_id, counted=True)
        if state == "stale":
            return Submitted("stale", job_id, counted=claim is not None)
        replaced = previous if previous and previous != job_id else None
        if replaced is not None:  # the script flagged it superseded; cancel it if waiting
            self._cancel_waiting(replaced)
        job = self._analysis_job(request)
        try:
            self.queue.enqueue_job(job, unique=True)
        except DuplicateJobError:
            # this head was submitted before (a redelivery under another id, a re-run)
            self._drop_finished(job_id, rerun=rerun)
            try:
                self.queue.enqueue_job(job, unique=True)
            except DuplicateJobError:
                return Submitted("duplicate", job_id, replaced)
        return Submitted("enqueued", job_id, replaced)

    def _analysis_job(self, request: JobRequest) -> Job:
        """The rq job of `request` (not saved)."""
        return self.queue.create_job(
            self.analyze_func,
            args=(request,),
            timeout=self.job_timeout_s,
            result_ttl=RESULT_TTL_S,
            failure_ttl=FAILURE_TTL_S,
            job_id=request.job_id,
            description=_description(request),
            meta=_meta(request),
            retry=RETRY,
            on_failure=ON_FAILURE,
        )

    def _track(self, request: JobRequest, claim: DeliveryClaim | None) -> tuple[str, str | None]:
        """TRACK_SCRIPT: (state, the job it replaces)."""
        job_id = request.job_id
        current = {"job_id": job_id, "head_sha": request.head_sha, "updated_at": request.updated_at}
        keys = [
            claim.key if claim is not None else "",
            pr_key(request.repository_id, request.number),
            superseded_key(job_id),
            DELIVERIES_KEY,
        ]
        args: list[str | int] = [
            claim.ttl_s if claim is not None else 0,
            json.dumps(current),
            request.head_sha,
            request.updated_at,
            FAILURE_TTL_S,
            self._superseded_ttl_s,
            superseded_key(""),
            job_id,
            *(claim.field(f) if claim is not None else "" for f in ("stale", "duplicate_delivery")),
        ]
        state, previous = self._track_script(keys=keys, args=args)
        if claim is not None and state != b"duplicate_delivery":
            claim.taken = True
        return state.decode(), previous.decode() or None

    def submit_resolve(self, target: PullRequestTarget) -> str:
        """Enqueue a small job that looks the pull request's head up, then submits it."""
        description = f"resolve {target.owner}/{target.repo}#{target.number}"
        return enqueue_small(self.queue, self.resolve_func, target, 120, description).id

    def submit_reaction(self, reaction: CommentReaction) -> str:
        where = f"{reaction.owner}/{reaction.repo}"
        description = f"react {reaction.content} on {where} comment"
        return enqueue_small(self.queue, REACT_FUNC, reaction, 60, description).id

    def submit_apply(self, request: ApplyRequest) -> Submitted:
        """Enqueue "apply the proven fixes of this head"; a second click while one is waiting
        or running is a duplicate, one after it finished runs again."""
        try:
            job = Job.fetch(request.job_id, connection=self.redis)
        except NoSuchJobError:
            pass
        else:
            if job.get_status(refresh=True) in _ALIVE:
                return Submitted("duplicate", request.job_id)
            job.delete()
        where = f"{request.full_name}#{request.number}@{request.head_sha[:10]}"
        try:
            enqueue_small(
                self.queue, APPLY_FUNC, request, 600, f"apply fixes {where}", job_id=request.job_id
            )
        except DuplicateJobError:
            return Submitted("duplicate", request.job_id)
        return Submitted("enqueued", request.job_id)

    def cancel_pull_request(self, repository_id: int, number: int) -> str | None:
        """The pull request was closed: cancel its waiting job, stop its running one."""
        raw = self.redis.getdel(pr_key(repository_id, number))
        if raw is None:
            return None
        job_id = str(json.loads(raw)["job_id"])
        self._supersede(job_id)
        return job_id

    def _supersede(self, job_id: str) -> None:
        self.redis.set(superseded_key(job_id), "1", ex=self._superseded_ttl_s)
        self._cancel_waiting(job_id)

    def _cancel_waiting(self, job_id: str) -> None:
        """Cancel a waiting job; one waiting for a retry with a check run runs instead: it
        sees that it was superseded and marks the check run cancelled."""
        try:
            job = Job.fetch(job_id, connection=self.redis)
        except NoSuchJobError:
            return
        if job.get_status(refresh=True) in _WAITING and "check_run_id" not in job.meta:
            with contextlib.suppress(InvalidJobOperation):  # cancelled meanwhile
                job.cancel()

    def _drop_finished(self, job_id: str, *, rerun: bool) -> None:
        """Delete an earlier job of this head that did not complete an analysis (cancelled,
        stopped, failed, or superseded: the head is back, e.g. a reopened pull request or a
        force-push back to it), and with `rerun` a completed one too; keep a waiting or
        running one."""
        try:
            job = Job.fetch(job_id, connection=self.redis)
        except NoSuchJobError:
            return
        status = job.get_status(refresh=True)
        if status in _ALIVE:
            return
        completed = status == JobStatus.FINISHED and job.meta.get("outcome") == "completed"
        if rerun or not completed:
            job.delete()


def on_job_failure(
    job: Job,
    connection: Redis,
    exc_type: type[BaseException] | None,
    exc: BaseException | None,
    tb: TracebackType | None,
) -> None:
    """rq failure callback: only transient errors and abandoned jobs (their worker died:
    rq's registry cleanup calls this, in any process) are retried; keep a readable reason."""
    transient = isinstance(exc, TransientError)
    abandoned = isinstance(exc, AbandonedJobError)
    if not transient and not abandoned:
        job.retries_left = 0
    reason = f"{exc_type.__name__ if exc_type else 'Error'}: {exc}".strip()
    if abandoned:
        reason = ABANDONED_REASON
    job.meta["reason"] = reason.splitlines()[0][:500] if reason else "unknown error"
    job.meta["transient"] = transient or abandoned
    save_meta(job)
    if abandoned and not job.retries_left:
        from provenfix.bot.janitor import (
            request_finish,
        )  # the web process runs this callback too, rarely

        request_finish(job, ABANDONED_REASON)


def enqueue_small(
    queue: Queue,
    func: str,
    arg: object,
    timeout: int,
    description: str,
    *,
    job_id: str | None = None,
    callback: bool = True,
) -> Job:
    """Enqueue a short job (retried like an analysis); with `job_id`, unique
    (DuplicateJobError when it exists). A tuple `arg` is the argument list."""
    return queue.enqueue_call(
        func,
        args=arg if isinstance(arg, tuple) else (arg,),
        timeout=timeout,
        result_ttl=3600,
        failure_ttl=FAILURE_TTL_S,
        job_id=job_id,
        description=description,
        retry=RETRY,
        on_failure=ON_FAILURE if callback else None,
        unique=job_id is not None,
    )


def save_meta(job: Job) -> None:
    job.save_meta()  # type: ignore[no-untyped-call]
