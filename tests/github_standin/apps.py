"""The app's own endpoints (authenticated with its JWT): the app, installation access
tokens (never more permissions than the installation granted), webhook deliveries and
redeliveries; and the rate limit."""

from __future__ import annotations

import secrets
import time
from datetime import UTC, datetime, timedelta

from werkzeug.wrappers import Request

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
        items = [
            d
            for d in reversed(self.deliveries)
            if values.get("status") in (None, "success" if d["status_code"] < 400 else "failure")
        ]
        chunk, headers = self._paginate(request, items, values)
        return 200, chunk, headers

    def _op_apps_redeliver_webhook_delivery(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        if not any(d["id"] == values["delivery_id"] for d in self.deliveries):
            raise ApiError(404, "Not Found")
        self.redeliveries.append(values["delivery_id"])
        return 202, {}, {}

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
