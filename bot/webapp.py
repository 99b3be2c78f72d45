"""The webhook receiver: verify, deduplicate, enqueue, answer — in milliseconds.

`POST /webhook` checks, in this order and before parsing anything: the body
size (413), the `X-Hub-Signature-256` HMAC of the raw body (401), the
`X-GitHub-Event` and `X-GitHub-Delivery` headers (400), then bot.payloads: the
content type, the JSON and its depth (400). Only then is the event dispatched
(bot.events), which parses the fields it uses into typed models (400 for a wrong
one) before it claims the delivery id (a redelivery is answered 200 and enqueues
nothing) and acts; no handler calls GitHub: the work happens in the worker
(bot.rq_jobs). A push's delivery claims its id and becomes the pull request's
current head in one atomic step, then rq enqueues its job (bot.queue).

Every refusal is a one-line JSON `{"error": ...}`, counted in /metrics by reason
(`provenfix_webhook_rejected_total`); a 4xx never claims, records or enqueues
anything. Redis or the database unreachable: 503 (GitHub redelivers later).

Events:
- `pull_request` opened / synchronize / reopened / ready_for_review (and
  edited when the base branch changed): analyze the head; drafts are skipped
  unless PROVENFIX_SKIP_DRAFTS=false. closed / converted_to_draft: cancel the
  waiting job and stop the running one.
- `check_run` rerequested, and requested_action `provenfix-rerun` (the "Re-run
  ProvenFix" button): analyze the pull request's current head again.
  requested_action `apply_all` (the "Apply proven fixes" button): enqueue
  bot.apply_fixes, which commits the head's proven fixes to its branch. The
  payload carries no author_association: the permission policy gets "OWNER" for
  the repository's owner and "" otherwise; when it does not vouch for the sender,
  the job accepts the click only from the pull request's own author with write
  access (from the pulls API) and says why in the check run otherwise.
- `issue_comment` created on a pull request by someone with write access:
  `/provenfix analyze` (analyze again) and `/provenfix ignore <rule>` (the
  repository stops reporting that rule in later runs).
- `installation`, `installation_repositories`: recorded in the database.
- `ping`: answered. Anything else: 202, ignored.

`GET /healthz` answers whether Redis and the database do; `GET /healthz?workers=1`
adds the rq workers of the queue (see `worker_health`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs

from flask import Flask, Response, jsonify, request
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from provenfix.bot import metrics
from provenfix.bot.dashboard.views import register_dashboard
from provenfix.bot.db import Database
from provenfix.bot.events import EventHandler, Outcome
from provenfix.bot.payloads import PayloadRejected
from provenfix.bot.permissions import (
    AuthorAssociationPolicy,
    CollaboratorPermissionPolicy,
    PermissionPolicy,
)
from provenfix.bot.queue import DELIVERY_KEY, AnalysisQueue, DeliveryClaim
from provenfix.bot.settings import BotSettings, SettingsError

try:  # parses a 25 kB payload in 25 µs instead of 60-100 µs: a sixth of the handler
    import orjson
except ImportError:  # pragma: no cover - a dependency; the standard library does the same
    orjson = None  # type: ignore[assignment]

log = logging.getLogger("provenfix.webhook")

EVENT_RE = re.compile(r"[a-z][a-z_]{0,63}")
DELIVERY_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
WORKER_SEEN_S = 60
MAX_JSON_DEPTH = 64  # GitHub's payloads nest about 6 levels

__all__ = [
    "DELIVERY_KEY",
    "AuthorAssociationPolicy",
    "CollaboratorPermissionPolicy",
    "PermissionPolicy",
    "create_app",
]


def create_app(
    settings: BotSettings,
    *,
    redis: Redis,
    queue: Queue,
    db: Database,
    permissions: PermissionPolicy | None = None,
) -> Flask:
    if not settings.webhook_secret:
        raise SettingsError(
            "PROVENFIX_WEBHOOK_SECRET is empty: refusing to serve webhooks that nobody can verify"
        )
    secret = settings.webhook_secret.encode("utf-8")
    jobs = AnalysisQueue(redis, queue, job_timeout_s=settings.job_timeout_s)
    handler = EventHandler(settings, jobs, db, permissions or AuthorAssociationPolicy())
    app = Flask("provenfix")
    # One byte over the limit: a chunked body (no Content-Length) is cut there by Werkzeug,
    # silently, so reading max + 1 bytes is how an oversized one is recognised.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1

    @app.post("/webhook")
    def webhook() -> tuple[Response, int]:
        declared = request.content_length
        if declared is not None and declared > settings.max_body_bytes:
            return _reject(redis, 413, "too_large", "payload too large")
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            return _reject(redis, 413, "too_large", "payload too large")
        if len(body) > settings.max_body_bytes:
            return _reject(redis, 413, "too_large", "payload too large")
        if not _signature_ok(secret, body, request.headers.get("X-Hub-Signature-256")):
            return _reject(redis, 401, "bad_signature", "missing or invalid X-Hub-Signature-256")
        event = request.headers.get("X-GitHub-Event", "")
        delivery = request.headers.get("X-GitHub-Delivery", "")
        if not event or not delivery:
            message = "missing X-GitHub-Event or X-GitHub-Delivery header"
            return _reject(redis, 400, "missing_header", message)
        if not EVENT_RE.fullmatch(event) or not DELIVERY_RE.fullmatch(delivery):
            message = "X-GitHub-Event or X-GitHub-Delivery is not a GitHub event name / id"
            return _reject(redis, 400, "invalid_header", message)
        claim = DeliveryClaim(delivery, event, settings.delivery_ttl_s)
        try:
            outcome = handler.dispatch(event, delivery, _decode_body(request.mimetype, body), claim)
        except PayloadRejected as exc:
            claim.forget(redis)
            message = f"{event} payload: {exc}"
            return _reject(redis, 400, exc.reason, message, event=event, field=exc.field)
        except (RedisError, OperationalError) as exc:
            claim.forget(redis)  # GitHub's redelivery must not be swallowed as a duplicate
            what = "queue" if isinstance(exc, RedisError) else "database"
            log.exception("delivery %s (%s): %s unavailable", delivery, event, what)
            with contextlib.suppress(RedisError):
                metrics.record_delivery(redis, event, "unavailable")
            return jsonify(error=f"{what} unavailable, redeliver later"), 503
        except Exception:
            claim.forget(redis)
            log.exception("delivery %s (%s) failed", delivery, event)
            with contextlib.suppress(RedisError):
                metrics.record_delivery(redis, event, "error")
            return jsonify(error="internal error"), 500
        return _done(redis, event, delivery, outcome)

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        checks: dict[str, str] = {}
        try:
            redis.ping()
            checks["redis"] = "ok"
        except RedisError as exc:
            checks["redis"] = f"unreachable: {exc.__class__.__name__}"
        try:
            db.ping()
            checks["database"] = "ok"
        except SQLAlchemyError as exc:
            checks["database"] = f"unreachable: {exc.__class__.__name__}"
        failed = sorted(name for name, state in checks.items() if state != "ok")
        status = 503 if failed else 200
        answer: dict[str, Any] = {
            "status": "ok" if not failed else "unavailable",
            "failed": failed,
            **checks,
        }
        if request.args.get("workers", "") not in ("", "0"):
            answer["workers"] = worker_health(queue)
            answer["degraded"] = [] if answer["workers"].get("seen") else ["workers"]
        return jsonify(answer), status

    @app.get("/metrics")
    def prometheus() -> Response:
        try:
            text = metrics.render(redis, queue)
        except RedisError as exc:
            return Response(
                f"redis unreachable: {exc.__class__.__name__}\n", 503, mimetype="text/plain"
            )
        return Response(text, 200, content_type=metrics.CONTENT_TYPE)

    if settings.dashboard.enabled:
        register_dashboard(app, settings, redis=redis, queue=queue, db=db)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[Response, int]:
        """JSON, not Werkzeug's HTML page, for whatever Flask answers itself (404, 405)."""
        code = exc.code or 500
        return jsonify(error=exc.name.lower()), code

    return app


def worker_health(queue: Queue) -> dict[str, Any]:
    """The queue's rq workers, from rq's own registry: `seen` (a heartbeat in the last
    minute; `provenfix worker` beats at least every 15 s, idle or busy), `registered`
    (rq drops a worker's key `worker_ttl` + 60 s after its last heartbeat), `busy`, and
    the latest heartbeat. Reported, never a failure of the health check: a probe of a
    web-only deployment must not flap with the workers."""
    try:
        workers = Worker.all(queue=queue)
    except RedisError as exc:
        return {"error": f"unreachable: {exc.__class__.__name__}"}
    beats = [w.last_heartbeat for w in workers if w.last_heartbeat is not None]
    since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=WORKER_SEEN_S)
    latest = max(beats, default=None)
    return {
        "registered": len(workers),
        "seen": sum(1 for beat in beats if beat >= since),
        "busy": sum(1 for w in workers if w.get_state() == "busy"),
        "last_heartbeat": latest.isoformat() if latest is not None else None,
    }


def _signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("latin-1"))


def _decode_body(mimetype: str, body: bytes) -> dict[str, Any]:
    """The JSON object of a delivery (`application/json`, or GitHub's form encoding)."""
    if mimetype == "application/json":
        text = body
    elif mimetype == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=64)
        except (UnicodeDecodeError, ValueError):
            raise PayloadRejected("malformed_form", "malformed form body") from None
        values = form.get("payload")
        if not values or len(values) != 1:
            raise PayloadRejected("malformed_form", "form body has no single 'payload' field")
        text = values[0].encode("utf-8")
    else:
        raise PayloadRejected(
            "unsupported_content_type",
            f"unsupported content type {mimetype[:100] or '(none)'}: use application/json "
            "or application/x-www-form-urlencoded",
        )
    payload = _loads(text)
    if isinstance(payload, dict | list) and not _depth_within(payload, MAX_JSON_DEPTH):
        raise _too_deep()
    if not isinstance(payload, dict):
        raise PayloadRejected("not_an_object", "payload is not a JSON object")
    return payload


def _loads(text: bytes) -> Any:
    if orjson is not None:
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            if "depth" in str(exc):
                raise _too_deep() from None
        # the standard library decides what orjson refuses (NaN, UTF-16, lone surrogates)
    try:
        return json.loads(text)
    except RecursionError:
        raise _too_deep() from None
    except (UnicodeDecodeError, ValueError):  # json.JSONDecodeError, too many digits
        raise PayloadRejected("invalid_json", "payload is not valid JSON") from None


def _too_deep() -> PayloadRejected:
    return PayloadRejected("json_too_deep", f"JSON nested deeper than {MAX_JSON_DEPTH} levels")


def _depth_within(value: Any, limit: int) -> bool:
    """Level by level, without recursion: the payload is whatever a sender made it."""
    level = [value]
    for _ in range(limit):
        children: list[Any] = []
        for node in level:
            items = node.values() if type(node) is dict else node
            children += [v for v in items if type(v) is dict or type(v) is list]
        if not children:
            return True
        level = children
    return False


def _reject(
    redis: Redis,
    status: int,
    reason: str,
    message: str,
    *,
    event: str = "unverified",
    field: str = "",
) -> tuple[Response, int]:
    outcome = {400: "bad_request", 401: "bad_signature", 413: "too_large"}.get(status, "rejected")
    log.warning("webhook rejected (%s, %s): %s", status, reason, message)
    try:
        label = event if status == 400 else "unverified"
        metrics.record_rejection(redis, label, outcome, reason, field)
    except RedisError:
        log.exception("could not count the rejected delivery")
    return jsonify(error=message), status


def _done(redis: Redis, event: str, delivery: str, outcome: Outcome) -> tuple[Response, int]:
    if not outcome.counted:
        with contextlib.suppress(RedisError):  # the delivery was handled; only the count is lost
            metrics.record_delivery(redis, event, outcome.outcome)
    log.info("delivery %s: %s -> %s", delivery, event, outcome.outcome)
    body: dict[str, Any] = {"delivery": delivery, "event": event, "outcome": outcome.outcome}
    body.update(outcome.detail or {})
    return Response(json.dumps(body), mimetype="application/json"), outcome.status
