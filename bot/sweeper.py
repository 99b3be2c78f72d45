"""Recovering webhook deliveries the App missed (its web process or Redis was down).

GitHub does not redeliver a failed App webhook by itself; it keeps three days of
deliveries, each attempt listed by `GET /app/hook/deliveries` (the App's JWT) and
redelivered on request (`POST /app/hook/deliveries/{delivery_id}/attempts`). The
sweeper, every few minutes:

1. lists the attempts of the last `lookback_s` (newest first, following the `Link`
   header's cursor, at most `max_pages` pages), grouped by delivery (`guid`, which a
   redelivery keeps: it is our `X-GitHub-Delivery`);
2. leaves out every delivery that succeeded once (status 2xx/3xx), that the web
   process claimed (`provenfix:delivery:<guid>`, bot.queue: GitHub may have timed
   out on an answer we processed), that our web process refused on purpose (400,
   401, 413, 415: a redelivery would be refused again), and that the sweeper asked
   for before (`provenfix:sweeper:asked:<guid>`, set before asking, kept as long as
   GitHub keeps deliveries: never asked twice);
3. asks GitHub to redeliver each of the others once.

The redelivery goes through the web process like any delivery, which claims its id:
each is processed exactly once, whoever redelivers it. Workers run the sweep as an
rq job (`sweep_deliveries`): `SweepScheduler.maybe_enqueue`, called by every worker's
maintenance, enqueues it at most once per `interval_s` (a Redis key with that TTL,
and a job id per interval), and the job holds a lock while it sweeps.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from redis import Redis
from rq import Queue, get_current_job
from rq.exceptions import DuplicateJobError

from provenfix.bot.github_api import GitHubError
from provenfix.bot.job_context import CONTEXT, AppApi
from provenfix.bot.job_errors import TransientError
from provenfix.bot.queue import DELIVERY_KEY, KEY_PREFIX

__all__ = [
    "SWEEP_FUNC",
    "DeliveriesApi",
    "DeliveryAttempt",
    "DeliverySweeper",
    "GitHubDeliveries",
    "SweepOptions",
    "SweepResult",
    "SweepScheduler",
    "sweep_deliveries",
]

log = logging.getLogger("provenfix.sweeper")

SWEEP_FUNC = "provenfix.bot.sweeper.sweep_deliveries"
ASKED_KEY = f"{KEY_PREFIX}:sweeper:asked:{{}}"
DUE_KEY = f"{KEY_PREFIX}:sweeper:due"
LOCK_KEY = f"{KEY_PREFIX}:sweeper:lock"
REFUSED = frozenset({400, 401, 413, 415})  # bot.webapp's deliberate answers
SWEEP_TIMEOUT_S = 300


@dataclass(frozen=True)
class SweepOptions:
    interval_s: int = 300
    lookback_s: int = 3 * 3600
    per_page: int = 100
    max_pages: int = 10
    asked_ttl_s: int = 3 * 24 * 3600  # GitHub keeps deliveries three days


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt of a delivery, as `GET /app/hook/deliveries` lists it."""

    id: int
    guid: str
    delivered_at: datetime
    status_code: int
    event: str
    action: str | None = None
    redelivery: bool = False

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status_code < 400

    @classmethod
    def from_json(cls, item: Mapping[str, Any]) -> DeliveryAttempt:
        stamp = str(item["delivered_at"]).replace("Z", "+00:00")
        delivered = datetime.fromisoformat(stamp)
        return cls(
            id=int(item["id"]),
            guid=str(item["guid"]),
            delivered_at=delivered if delivered.tzinfo else delivered.replace(tzinfo=UTC),
            status_code=int(item.get("status_code") or 0),
            event=str(item.get("event") or ""),
            action=item.get("action"),
            redelivery=bool(item.get("redelivery")),
        )


class DeliveriesApi(Protocol):
    def page(
        self, cursor: str | None, per_page: int
    ) -> tuple[list[DeliveryAttempt], str | None]: ...

    def redeliver(self, attempt_id: int) -> None: ...


class GitHubDeliveries:
    """The two App endpoints, through bot.github_api.GitHubApp (JWT, retries)."""

    def __init__(self, app: AppApi) -> None:
        self._app = app

    def page(self, cursor: str | None, per_page: int) -> tuple[list[DeliveryAttempt], str | None]:
        """One page of attempts, newest first, and the cursor of the next (None: last)."""
        parameters: dict[str, Any] = {"per_page": per_page}
        if cursor is not None:
            parameters["cursor"] = cursor
        headers, data = self._app.app_request("GET", "/app/hook/deliveries", parameters=parameters)
        items = [DeliveryAttempt.from_json(item) for item in data or []]
        return items, _next_cursor(headers)

    def redeliver(self, attempt_id: int) -> None:
        self._app.app_request("POST", f"/app/hook/deliveries/{int(attempt_id)}/attempts")


def _next_cursor(headers: Mapping[str, Any]) -> str | None:
    link = next((str(v) for k, v in headers.items() if k.lower() == "link"), "")
    for part in link.split(","):
        target, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            query = parse_qs(urlsplit(target.strip().strip("<>")).query)
            return query.get("cursor", [None])[0]
    return None


@dataclass(frozen=True)
class SweepResult:
    attempts: int  # attempts listed
    failed: int  # deliveries none of whose attempts succeeded
    redelivered: tuple[str, ...]  # guids asked for now
    claimed: int  # failed at GitHub, processed by us (e.g. GitHub timed out)
    asked_before: int
    refused: int  # refused by our web process on purpose
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class DeliverySweeper:
    def __init__(
        self,
        redis: Redis,
        api: DeliveriesApi,
        options: SweepOptions | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.redis = redis
        self.api = api
        self.options = options or SweepOptions()
        self.clock = clock

    def attempts(self) -> list[DeliveryAttempt]:
        """The attempts of the last `lookback_s`."""
        since = self.clock() - timedelta(seconds=self.options.lookback_s)
        found: list[DeliveryAttempt] = []
        cursor: str | None = None
        for _ in range(self.options.max_pages):
            items, cursor = self.api.page(cursor, self.options.per_page)
            found += [a for a in items if a.delivered_at >= since]
            if cursor is None or not items or min(a.delivered_at for a in items) < since:
                break
        return found

    def sweep(self) -> SweepResult:
        attempts = self.attempts()
        by_guid: dict[str, list[DeliveryAttempt]] = defaultdict(list)
        for attempt in attempts:
            by_guid[attempt.guid].append(attempt)
        failed = [tries for tries in by_guid.values() if not any(a.succeeded for a in tries)]
        redelivered: list[str] = []
        errors: list[str] = []
        claimed = asked_before = refused = 0
        for tries in failed:
            latest = max(tries, key=lambda a: (a.delivered_at, a.id))
            guid = latest.guid
            if latest.status_code in REFUSED:
                refused += 1
            elif self.redis.exists(DELIVERY_KEY.format(guid)):
                claimed += 1
            elif not self.redis.set(
                ASKED_KEY.format(guid), latest.id, nx=True, ex=self.options.asked_ttl_s
            ):
                asked_before += 1
            else:
                try:
                    self.api.redeliver(latest.id)
                except GitHubError as exc:
                    # not asked after all: the next sweep tries again
                    self.redis.delete(ASKED_KEY.format(guid))
                    errors.append(f"{guid}: {exc}")
                    continue
                redelivered.append(guid)
                log.info("asked GitHub to redeliver %s (%s, %s)", guid, latest.event, latest.id)
        return SweepResult(
            attempts=len(attempts),
            failed=len(failed),
            redelivered=tuple(redelivered),
            claimed=claimed,
            asked_before=asked_before,
            refused=refused,
            errors=tuple(errors),
        )


class SweepScheduler:
    """Enqueues `sweep_deliveries` at most once per `interval_s`, whichever worker asks."""

    def __init__(self, options: SweepOptions | None = None) -> None:
        self.options = options or SweepOptions()

    def maybe_enqueue(self, queue: Queue) -> str | None:
        """The job id when this call enqueued the sweep; None when one was due elsewhere."""
        interval = self.options.interval_s
        if not queue.connection.set(DUE_KEY, "1", nx=True, ex=interval):
            return None
        job_id = f"provenfix-sweep-{int(time.time() // interval)}"
        try:
            queue.enqueue_call(
                SWEEP_FUNC,
                timeout=SWEEP_TIMEOUT_S,
                result_ttl=interval * 4,
                failure_ttl=24 * 3600,
                job_id=job_id,
                description="sweep missed webhook deliveries",
                unique=True,
            )
        except DuplicateJobError:
            return None
        return job_id


def sweep_deliveries(options: SweepOptions | None = None) -> dict[str, Any]:
    """rq job: one sweep, under a lock (two never run at once)."""
    job = get_current_job()
    if job is None:
        raise RuntimeError("sweep_deliveries runs inside an rq job")
    context = CONTEXT.get()
    if context.app_api is None:
        return {"outcome": "skipped", "reason": "no App API in this worker's context"}
    redis: Redis = job.connection
    if not redis.set(LOCK_KEY, job.id, nx=True, ex=SWEEP_TIMEOUT_S):
        return {"outcome": "skipped", "reason": "another sweep is running"}
    try:
        result = DeliverySweeper(redis, GitHubDeliveries(context.app_api), options).sweep()
    except GitHubError as exc:
        raise TransientError(f"listing the App's webhook deliveries: {exc}") from exc
    finally:
        redis.delete(LOCK_KEY)
    if result.redelivered or result.errors:
        log.info("sweep: %s", result)
    return {"outcome": "swept", **result.to_dict()}
