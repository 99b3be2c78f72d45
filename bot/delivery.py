"""A webhook delivery's writes to Redis, in one round trip when it enqueues an analysis.

The webhook answers in milliseconds (bot.webapp), and on a loaded host each Redis
round trip costs more than the CPU work of a delivery. So the usual delivery (a
`pull_request` push that enqueues an analysis) does everything in one Lua
script, `SUBMIT_SCRIPT`, atomically:

1. claim the delivery id (`provenfix:delivery:<id>`; a redelivery stops here,
   counted as `duplicate_delivery`),
2. make the job the pull request's current one (`provenfix:pr:<repo>:<number>`),
   unless a newer head is current (stale: counted, nothing enqueued), and flag
   the job it replaces as superseded,
3. store the rq job's hash, with the fields rq's own unique enqueue writes, and
   push its id on the queue: a `JobTemplate`, made once from a job rq built, holds
   the fields every analysis job shares; per delivery only the arguments, the
   description, the meta and the timestamps are serialised (with rq's
   serializer), a tenth of what building an rq `Job` and its hash costs,
4. count the delivery in the Prometheus counters (bot.metrics).

What needs rq's logic stays in Python after the script: cancelling the replaced
job when it is still waiting, and a head whose job exists already (a
redelivery under another id, a re-run), which goes through rq's enqueue.
Every other event claims the delivery on its own (`DeliveryClaim.take`) before
doing anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq.job import Job
from rq.utils import now

from bot import metrics

DELIVERY_KEY = "provenfix:delivery:{}"


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


def job_hash(job: Job) -> list[bytes]:
    """rq's job hash as HSET field/value pairs (as rq's own unique enqueue builds them),
    encoded already: redis-py packs bytes at half the cost of other values."""
    pairs: list[bytes] = []
    for name, value in job.to_dict().items():
        if value is None:
            continue
        if isinstance(value, Enum):
            value = value.value
        pairs.append(name.encode())
        pairs.append(value if isinstance(value, bytes) else str(value).encode())
    return pairs


@dataclass(frozen=True)
class JobTemplate:
    """The hash of an rq job of one function and options, ready but for what varies per job.

    Made from a job rq built (`of`), so every field rq writes is there with rq's value;
    `fields` adds what varies as rq serialises it: `data` is the serialised (function,
    instance, args, kwargs) that rq's `Job.data` is, `meta` the serialised dict.
    """

    func_name: str
    serializer: Any  # rq's resolved serializer: dumps/loads
    constant: tuple[bytes, ...]  # field/value pairs
    ttl_s: int  # the hash's TTL, as rq sets it (-1: none)

    VARYING = frozenset({"created_at", "enqueued_at", "data", "description", "meta"})

    @classmethod
    def of(cls, job: Job) -> JobTemplate:
        pairs = job_hash(job)
        constant = [
            part
            for name, value in zip(pairs[::2], pairs[1::2], strict=True)
            if name.decode() not in cls.VARYING
            for part in (name, value)
        ]
        ttl = job.ttl if job.ttl is not None else -1
        return cls(str(job.func_name), job.serializer, tuple(constant), ttl)

    def fields(
        self, args: tuple[Any, ...], description: str, meta: Mapping[str, Any]
    ) -> list[bytes]:
        stamp = timestamp(now()).encode()
        # not zlib-compressed as rq's own enqueue does: rq reads uncompressed data as well
        # (`Job.restore` falls back to it), compressing 500 bytes saves nothing, and setting
        # up zlib's state costs 20 us in a web worker (a twentieth of the whole delivery)
        data = self.serializer.dumps((self.func_name, None, args, {}))
        return [
            *self.constant,
            *(b"created_at", stamp, b"enqueued_at", stamp, b"data", data),
            *(b"description", description.encode(), b"meta", self.serializer.dumps(dict(meta))),
        ]


def timestamp(moment: datetime) -> str:
    """rq's `utcformat` (`%Y-%m-%dT%H:%M:%S.%fZ` of a UTC time) at a sixth of strftime's cost."""
    return moment.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def encoded(values: Iterable[bytes | str | int]) -> list[bytes]:
    """Script keys and arguments as redis-py would encode them (UTF-8, ints in decimal)."""
    return [v if isinstance(v, bytes) else str(v).encode() for v in values]


# KEYS: 1 the delivery key, 2 the pull request's record, 3 this job's superseded flag,
#       4 this job's rq hash, 5 the rq queue, 6 rq's set of queues, 7 the delivery counters.
# ARGV: 1 the delivery key's TTL (0: no delivery to claim), 2 the new record (JSON),
#       3 its head sha, 4 its updated_at, 5 the record's TTL, 6 the superseded flag's TTL,
#       7 the superseded flag's key prefix, 8 the job id, 9 1 to push the job here (0: rq
#       enqueues it), 10 the rq hash's TTL (-1: none), 11/12/13 the counter fields of
#       enqueued / stale / duplicate_delivery ('' : not counted), 14.. the rq hash.
# Returns {state, previous job id or '', counted (0/1)}; state: duplicate_delivery | stale
# | enqueued | current (made current; the job exists already or rq is to enqueue it).
# A delivery for another head is stale when the current record is newer (updated_at,
# ISO 8601, compares as text); one without updated_at never is. Everything that can fail
# (decoding the record) comes before the first write.
SUBMIT_SCRIPT = """
local claim = ARGV[1] ~= '0'
local function count(field)
  if field == '' then return 0 end
  redis.call('HINCRBY', KEYS[7], field, 1)
  return 1
end
if claim and redis.call('EXISTS', KEYS[1]) == 1 then
  return {'duplicate_delivery', '', count(ARGV[13])}
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
if claim then redis.call('SET', KEYS[1], '1', 'EX', ARGV[1]) end
if stale then
  return {'stale', '', count(ARGV[12])}
end
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[5])
redis.call('DEL', KEYS[3])
if previous ~= '' and previous ~= ARGV[8] then
  redis.call('SET', ARGV[7] .. previous, '1', 'EX', ARGV[6])
end
if ARGV[9] ~= '1' or redis.call('EXISTS', KEYS[4]) == 1 then
  return {'current', previous, 0}
end
redis.call('SADD', KEYS[6], KEYS[5])
redis.call('HSET', KEYS[4], unpack(ARGV, 14))
local ttl = tonumber(ARGV[10])
if ttl and ttl > 0 then redis.call('EXPIRE', KEYS[4], ttl) end
redis.call('RPUSH', KEYS[5], ARGV[8])
return {'enqueued', previous, count(ARGV[11])}
"""
