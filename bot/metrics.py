"""Prometheus metrics kept in Redis, so every web and worker process adds to the same counts.

Counters are Redis hashes incremented with HINCRBY; `render` reads them, and
the job gauges straight from rq's registries, into the Prometheus text
exposition format (version 0.0.4). A refused webhook delivery counts twice: as a
delivery (`outcome` bad_request, bad_signature, too_large) and in
`provenfix_webhook_rejected_total` by `reason` and, for a wrong payload field,
the `field` (its path in the payload, list indices as `*`: bounded by the models
of bot.payloads).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue

DELIVERIES_KEY = "provenfix:metrics:deliveries"
REJECTED_KEY = "provenfix:metrics:rejected"
JOBS_KEY = "provenfix:metrics:jobs"
DURATION_KEY = "provenfix:metrics:job_duration"
SUGGESTIONS_KEY = "provenfix:metrics:suggestions"
SUGGESTION_OUTCOMES = ("posted", "applied", "dismissed", "superseded", "left_open")
DURATION_BUCKETS_S = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0)
KNOWN_EVENTS = frozenset(
    {
        "pull_request",
        "check_run",
        "issue_comment",
        "installation",
        "installation_repositories",
        "pull_request_review_thread",
        "pull_request_review_comment",
        "ping",
        "unverified",
    }
)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SEP = "\x1f"


def record_delivery(redis: Redis, event: str, outcome: str) -> None:
    """Count one webhook delivery; an event we do not handle is counted as `other`, one that
    failed verification as `unverified` (its headers are not to be trusted as labels)."""
    redis.hincrby(DELIVERIES_KEY, delivery_field(event, outcome), 1)


def record_rejection(redis: Redis, event: str, outcome: str, reason: str, field: str = "") -> None:
    """Count a refused delivery: as a delivery with `outcome`, and by `reason` (and `field`)."""
    pipe = redis.pipeline(transaction=False)
    pipe.hincrby(DELIVERIES_KEY, delivery_field(event, outcome), 1)
    label = event if event in KNOWN_EVENTS else "other"
    pipe.hincrby(REJECTED_KEY, _SEP.join((label, reason, field)), 1)
    pipe.execute()


def delivery_field(event: str, outcome: str) -> str:
    """The field of DELIVERIES_KEY that counts `event` deliveries with `outcome` (bot.queue
    increments stale and duplicate ones from Lua, in the step that decides them)."""
    label = event if event in KNOWN_EVENTS else "other"
    return f"{label}{_SEP}{outcome}"


def record_job(redis: Redis, outcome: str, duration_s: float) -> None:
    """Count one finished job execution (completed, failed, superseded) and its duration."""
    pipe = redis.pipeline(transaction=False)
    pipe.hincrby(JOBS_KEY, outcome, 1)
    bucket = next((b for b in DURATION_BUCKETS_S if duration_s <= b), math.inf)
    pipe.hincrby(DURATION_KEY, f"{outcome}{_SEP}{_fmt(bucket)}", 1)
    pipe.hincrbyfloat(DURATION_KEY, f"{outcome}{_SEP}sum", duration_s)
    pipe.hincrby(DURATION_KEY, f"{outcome}{_SEP}count", 1)
    pipe.execute()


def record_outcomes(redis: Redis, entered: Mapping[str, int]) -> None:
    """Count suggestions posted, and suggestions entering a decided state (bot.outcomes);
    never fails the caller: the database already holds the truth."""
    counts = {k: v for k, v in entered.items() if v and k in SUGGESTION_OUTCOMES}
    if not counts:
        return
    try:
        pipe = redis.pipeline(transaction=False)
        for outcome, count in counts.items():
            pipe.hincrby(SUGGESTIONS_KEY, outcome, count)
        pipe.execute()
    except RedisError:
        pass


def render(redis: Redis, queue: Queue) -> str:
    lines: list[str] = []
    deliveries = _hash(redis, DELIVERIES_KEY)
    lines += [
        "# HELP provenfix_webhook_deliveries_total Webhook deliveries by event and outcome.",
        "# TYPE provenfix_webhook_deliveries_total counter",
    ]
    for field in sorted(deliveries):
        event, _, outcome = field.partition(_SEP)
        lines.append(
            f"provenfix_webhook_deliveries_total{_labels(event=event, outcome=outcome)} "
            f"{deliveries[field]}"
        )
    rejected = _hash(redis, REJECTED_KEY)
    lines += [
        "# HELP provenfix_webhook_rejected_total Refused webhook deliveries by event, reason "
        "and payload field.",
        "# TYPE provenfix_webhook_rejected_total counter",
    ]
    for key in sorted(rejected):
        event, reason, field = [*key.split(_SEP), "", ""][:3]
        labels = _labels(event=event, reason=reason, field=field)
        lines.append(f"provenfix_webhook_rejected_total{labels} {rejected[key]}")
    lines += [
        "# HELP provenfix_jobs Jobs in the analysis queue's registries, by state.",
        "# TYPE provenfix_jobs gauge",
    ]
    for state, count in job_states(queue):
        lines.append(f"provenfix_jobs{_labels(queue=queue.name, state=state)} {count}")
    finished = _hash(redis, JOBS_KEY)
    lines += [
        "# HELP provenfix_job_runs_total Job executions that ended, by outcome.",
        "# TYPE provenfix_job_runs_total counter",
    ]
    for outcome in sorted(finished):
        lines.append(f"provenfix_job_runs_total{_labels(outcome=outcome)} {finished[outcome]}")
    lines += _histogram(_hash(redis, DURATION_KEY))
    suggestions = _hash(redis, SUGGESTIONS_KEY)
    lines += [
        "# HELP provenfix_suggestions_total Suggestions posted, and posted suggestions that were "
        "applied, dismissed, superseded or left open.",
        "# TYPE provenfix_suggestions_total counter",
    ]
    for outcome in SUGGESTION_OUTCOMES:
        total = suggestions.get(outcome, "0")
        lines.append(f"provenfix_suggestions_total{_labels(outcome=outcome)} {total}")
    return "\n".join(lines) + "\n"


def job_states(queue: Queue) -> Iterable[tuple[str, int]]:
    yield "queued", queue.count
    yield "started", queue.started_job_registry.count
    yield "deferred", queue.deferred_job_registry.count
    yield "scheduled", queue.scheduled_job_registry.count
    yield "finished", queue.finished_job_registry.count
    yield "failed", queue.failed_job_registry.count
    yield "canceled", queue.canceled_job_registry.count


def _histogram(raw: dict[str, str]) -> list[str]:
    name = "provenfix_job_duration_seconds"
    lines = [
        f"# HELP {name} Wall time of analysis job executions, by outcome.",
        f"# TYPE {name} histogram",
    ]
    outcomes = sorted({field.partition(_SEP)[0] for field in raw})
    for outcome in outcomes:
        cumulative = 0
        for bound in (*DURATION_BUCKETS_S, math.inf):
            cumulative += int(raw.get(f"{outcome}{_SEP}{_fmt(bound)}", "0"))
            lines.append(f"{name}_bucket{_labels(outcome=outcome, le=_fmt(bound))} {cumulative}")
        total = float(raw.get(f"{outcome}{_SEP}sum", "0"))
        lines.append(f"{name}_sum{_labels(outcome=outcome)} {total:.3f}")
        lines.append(
            f"{name}_count{_labels(outcome=outcome)} {raw.get(f'{outcome}{_SEP}count', '0')}"
        )
    return lines


def _hash(redis: Redis, key: str) -> dict[str, str]:
    raw = redis.hgetall(key)
    return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _fmt(bound: float) -> str:
    return "+Inf" if math.isinf(bound) else repr(bound)


def _labels(**labels: str) -> str:
    def escape(value: str) -> str:
        return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')

    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels.items()) + "}"
