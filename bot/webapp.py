"""The webhook receiver: verify, deduplicate, enqueue, answer — in milliseconds.

`POST /webhook` checks, in this order and before parsing anything: the body
size (413), the `X-Hub-Signature-256` HMAC of the raw body (401), the content
type (400), the JSON (400). Only then is the event dispatched, with the claim
on its delivery id (a redelivery is answered 200 and enqueues nothing); no
handler calls GitHub: the work happens in the worker (bot.rq_jobs). A push's
delivery claims its id and becomes the pull request's current head in one atomic
step, then rq enqueues its job (bot.queue).

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
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
from typing import Any
from urllib.parse import parse_qs

from flask import Flask, Response, jsonify, request
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import RequestEntityTooLarge

from bot import metrics
from bot.db import Database
from bot.events import BadPayload, EventHandler, Outcome
from bot.permissions import (
    AuthorAssociationPolicy,
    CollaboratorPermissionPolicy,
    PermissionPolicy,
)
from bot.queue import DELIVERY_KEY, AnalysisQueue, DeliveryClaim
from bot.settings import BotSettings, SettingsError

try:  # parses a 25 kB payload in 25 µs instead of 60-100 µs: a sixth of the handler
    import orjson
except ImportError:  # pragma: no cover - a dependency; the standard library does the same
    orjson = None  # type: ignore[assignment]

log = logging.getLogger("provenfix.webhook")

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
            return _reject(redis, 413, "payload too large")
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            return _reject(redis, 413, "payload too large")
        if len(body) > settings.max_body_bytes:
            return _reject(redis, 413, "payload too large")
        if not _signature_ok(secret, body, request.headers.get("X-Hub-Signature-256")):
            return _reject(redis, 401, "missing or invalid X-Hub-Signature-256")
        event = request.headers.get("X-GitHub-Event", "")
        delivery = request.headers.get("X-GitHub-Delivery", "")
        if not event or not delivery:
            return _reject(redis, 400, "missing X-GitHub-Event or X-GitHub-Delivery header")
        try:
            payload = _parse(request.mimetype, body)
        except ValueError as exc:
            return _reject(redis, 400, str(exc), event=event)
        claim = DeliveryClaim(delivery, event, settings.delivery_ttl_s)
        try:
            outcome = handler.dispatch(event, delivery, payload, claim)
        except BadPayload as exc:
            claim.forget(redis)
            return _reject(redis, 400, f"{event} payload: {exc}", event=event)
        except Exception as exc:
            if isinstance(exc, RedisError) and not claim.taken:  # Redis is down
                log.exception("delivery %s (%s): Redis unavailable", delivery, event)
                return jsonify(error="queue unavailable, redeliver later"), 503
            claim.forget(redis)  # GitHub's redelivery must not be swallowed as a duplicate
            log.exception("delivery %s (%s) failed", delivery, event)
            with contextlib.suppress(RedisError):
                metrics.record_delivery(redis, event, "error")
            if isinstance(exc, RedisError):
                return jsonify(error="queue unavailable, redeliver later"), 503
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
        return jsonify(
            status="ok" if not failed else "unavailable", failed=failed, **checks
        ), status

    @app.get("/metrics")
    def prometheus() -> Response:
        try:
            text = metrics.render(redis, queue)
        except RedisError as exc:
            return Response(
                f"redis unreachable: {exc.__class__.__name__}\n", 503, mimetype="text/plain"
            )
        return Response(text, 200, content_type=metrics.CONTENT_TYPE)

    return app


def _signature_ok(secret: bytes, body: bytes, header: str | None) -> bool:
    if not header:
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), header.strip().encode("latin-1"))


def _parse(mimetype: str, body: bytes) -> dict[str, Any]:
    if mimetype == "application/json":
        text = body
    elif mimetype == "application/x-www-form-urlencoded":
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=True, max_num_fields=64)
        except (UnicodeDecodeError, ValueError):
            raise ValueError("malformed form body") from None
        values = form.get("payload")
        if not values or len(values) != 1:
            raise ValueError("form body has no single 'payload' field") from None
        text = values[0].encode("utf-8")
    else:
        raise ValueError(
            f"unsupported content type {mimetype or '(none)'}: use application/json "
            "or application/x-www-form-urlencoded"
        )
    try:
        payload = _loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("payload is not valid JSON") from None
    if not isinstance(payload, dict):
        raise ValueError("payload is not a JSON object")
    return payload


def _loads(text: bytes) -> Any:
    if orjson is not None:
        with contextlib.suppress(orjson.JSONDecodeError):
            return orjson.loads(text)
        # the standard library decides what orjson refuses (NaN, UTF-16, lone surrogates)
    return json.loads(text)


def _reject(
    redis: Redis, status: int, message: str, *, event: str = "unverified"
) -> tuple[Response, int]:
    outcome = {400: "bad_request", 401: "bad_signature", 413: "too_large"}.get(status, "rejected")
    log.warning("webhook rejected (%s): %s", status, message)
    try:
        metrics.record_delivery(redis, event if status == 400 else "unverified", outcome)
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
