"""The app's own endpoints (authenticated with its JWT): the app, installation access
tokens (never more permissions than the installation granted), webhook deliveries and
redeliveries; and the rate limit."""

from __future__ import annotations

import secrets
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request

from . import webhooks
from .objects import ApiObjects
from .records import Answer, ApiError, Json, TokenRecord, Values


class AppsApi(ApiObjects):
    """apps/* and rate-limit/get."""

    def _op_apps_get_authenticated(self, request: Request, values: Values, body: Json) -> Answer:
        return 200, self._app_object(), {}

    def _op_apps_create_installation_access_token(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        if values["installation_id"] != self.installation_id:
            raise ApiError(404, "Not Found")
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "A").replace("_", "b")[:36]
        expires = datetime.now(UTC) + timedelta(hours=1)
        granted = dict(self.installation_permissions)
        asked = body.get("permissions") or {}
        for name, level in asked.items():  # a token may ask for less, never for more
            if granted.get(name) not in (level, "write"):
                raise ApiError(
                    422, f"The permissions requested are not granted to this installation ({name})"
                )
        permissions = {name: asked.get(name, level) for name, level in granted.items()}
        if asked:
            permissions = {n: lvl for n, lvl in permissions.items() if n in asked}
        self._tokens[token] = TokenRecord(token, self.installation_id, expires, permissions)
        self.issued_tokens.append(token)
        answer = {
            "token": token,
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": permissions,
            "repository_selection": "all",
        }
        return 201, answer, {}

    def _op_apps_list_webhook_deliveries(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        """Newest first; paginated as GitHub does, with a `cursor` (not `page`) in the
        `Link` header."""
        wanted = values.get("status")
        items = [
            d
            for d in reversed(self.deliveries)
            if wanted is None or wanted == _outcome(int(d["status_code"]))
        ]
        start = 0
        cursor = values.get("cursor")
        if cursor is not None:
            ids = [f"v1_{d['id']}" for d in items]
            if cursor not in ids:
                raise ApiError(400, "Bad Request: unknown cursor")
            start = ids.index(cursor)
        per_page = max(1, min(int(values.get("per_page") or 30), self.max_per_page))
        chunk = items[start : start + per_page]
        headers: dict[str, str] = {}
        if start + per_page < len(items):
            query: dict[str, Any] = {"per_page": per_page}
            query["cursor"] = f"v1_{items[start + per_page]['id']}"
            if wanted is not None:
                query["status"] = wanted
            headers["Link"] = f'<{self.url}{request.path}?{urlencode(query)}>; rel="next"'
        return 200, chunk, headers

    def _op_apps_redeliver_webhook_delivery(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        """202 at once; the delivery is sent again (same guid, same body) to
        `webhook_target` from another thread, and listed as a redelivery."""
        attempt = next((d for d in self.deliveries if d["id"] == values["delivery_id"]), None)
        if attempt is None:
            raise ApiError(404, "Not Found")
        self.redeliveries.append(values["delivery_id"])
        stored = self._delivery_requests.get(str(attempt["guid"]))
        target = self.webhook_target
        if stored is not None and target is not None:
            thread = threading.Thread(
                target=self._redeliver, args=(stored, target), name="standin-redelivery"
            )
            self._redelivering.append(thread)
            thread.start()
        return 202, {}, {}

    def _redeliver(
        self, stored: tuple[bytes, dict[str, str]], target: webhooks.WebhookTarget
    ) -> None:
        body, headers = stored
        status_code, status = webhooks.send(target, body, headers)
        with self._lock:
            self._record_attempt(headers, status_code, status, redelivery=True)

    def _op_rate_limit_get(self, request: Request, values: Values, body: Json) -> Answer:
        overview = self.contract.component_example("rate-limit-overview")
        reset = int(time.time()) + 3600
        for resource in [overview["rate"], *overview["resources"].values()]:
            resource.update(
                limit=5000,
                used=self._rate_used,
                reset=reset,
                remaining=max(0, 5000 - self._rate_used),
            )
        return 200, overview, {}


def _outcome(status_code: int) -> str | None:
    """The `status` filter's classes: success 200-399, failure 400-599."""
    if 200 <= status_code < 400:
        return "success"
    return "failure" if 400 <= status_code < 600 else None
