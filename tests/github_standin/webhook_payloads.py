"""The webhook deliveries the stand-in hands the tests to send: pull_request opened and
synchronize, check_run requested_action; each payload is octokit's example refilled from
the stand-in's state and checked against the webhook schema."""

from __future__ import annotations

import base64
import json
from typing import Any

from . import webhooks
from .objects import ApiObjects
from .records import PullRecord


class WebhookPayloads(ApiObjects):
    """Webhook payloads and delivery requests, as GitHub sends them to the app."""

    def requested_action(
        self,
        owner: str,
        name: str,
        check_run_id: int,
        identifier: str,
        *,
        sender: str,
        sender_id: int = 583231,
    ) -> dict[str, Any]:
        """The `check_run.requested_action` payload GitHub sends when `sender` presses the
        button `identifier` on one of the App's check runs (octokit's example, refilled)."""
        with self._lock:
            repo = self._repo(owner, name)
            run = next(r for r in self._check_runs if r.data["id"] == check_run_id)
            view = self._check_run_view(run)
            payload = webhooks.example("check_run", "requested_action.payload.json")
            check = payload["check_run"]
            for key in ("id", "node_id", "head_sha", "external_id", "url", "html_url"):
                check[key] = view[key]
            check.update(
                details_url=view["details_url"],
                status=view["status"],
                conclusion=view["conclusion"],
                started_at=view["started_at"],
                completed_at=view["completed_at"],
                output={k: view["output"][k] for k in check["output"]},
                name=view["name"],
                pull_requests=view["pull_requests"],
            )
            for app in (check["app"], check["check_suite"]["app"]):
                app.update(id=self.app_id, slug=self.app_slug, name="ProvenFix")
            check["check_suite"].update(
                head_sha=view["head_sha"],
                pull_requests=view["pull_requests"],
                head_branch=next((p.head for p in self._pulls.values() if p.repo is repo), None),
            )
            payload["requested_action"] = {"identifier": identifier}
            payload["repository"].update(self._webhook_repo(repo))
            payload["repository"]["owner"]["login"] = owner
            payload["sender"].update(login=sender, id=sender_id, type="User")
            payload["installation"] = {
                "id": self.installation_id,
                "node_id": base64.b64encode(
                    f"023:Installation{self.installation_id}".encode()
                ).decode(),
            }
            payload = self._rewrite(payload)
            for problem in webhooks.validate_payload("check_run", "requested_action", payload):
                self._violate(
                    "WEBHOOK", "check_run.requested_action", f"stand-in payload {problem}"
                )
            return dict(payload)

    def webhook_request(
        self, event: str, payload: dict[str, Any], secret: str | None
    ) -> tuple[bytes, dict[str, str]]:
        """Body and headers of a delivery as GitHub sends it; listed by the deliveries API
        as delivered (200): the test sends it."""
        body = json.dumps(payload).encode()
        headers = webhooks.delivery_headers(event, body, secret, hook_id=1, app_id=self.app_id)
        with self._lock:
            self._keep_delivery(body, headers)
            self._record_attempt(headers, 200, "OK", redelivery=False)
        return body, headers

    def deliver(
        self,
        event: str,
        payload: dict[str, Any],
        secret: str | None,
        *,
        target: webhooks.WebhookTarget | None = None,
    ) -> dict[str, Any]:
        """Deliver as GitHub does: to `target` (else `webhook_target`), recording the answer
        in the deliveries API (a 5xx, or status code 0 when nobody answered, is a failed
        delivery to redeliver); the attempt as listed."""
        chosen = target or self.webhook_target
        if chosen is None:
            raise ValueError("no webhook target: pass target= or set webhook_target")
        body = json.dumps(payload).encode()
        headers = webhooks.delivery_headers(event, body, secret, hook_id=1, app_id=self.app_id)
        with self._lock:
            self._keep_delivery(body, headers)
        status_code, status = webhooks.send(chosen, body, headers)
        with self._lock:
            return dict(self._record_attempt(headers, status_code, status, redelivery=False))

    def _pull_payload(
        self, pull: PullRecord, action: str, before: str | None = None
    ) -> dict[str, Any]:
        name = "opened.payload.json" if action == "opened" else "synchronize.payload.json"
        payload = webhooks.retarget(
            webhooks.example("pull_request", name), pull.repo.full_name, pull.number, self.url
        )
        base_sha, head_sha, _ = self._pull_state(pull)
        files = self._diff(pull)
        pr = payload["pull_request"]
        pr.update(
            id=pull.id,
            number=pull.number,
            title=pull.title,
            body=pull.body,
            state="open",
            commits=len(self._pull_commits(pull)),
            additions=sum(f.additions for f in files),
            deletions=sum(f.deletions for f in files),
            changed_files=len(files),
        )
        for side, ref, sha in (("head", pull.head, head_sha), ("base", pull.base, base_sha)):
            pr[side].update(label=f"{pull.repo.owner}:{ref}", ref=ref, sha=sha)
            pr[side]["repo"].update(self._webhook_repo(pull.repo))
        payload["repository"].update(self._webhook_repo(pull.repo))
        payload["number"] = pull.number
        payload["installation"] = {
            "id": self.installation_id,
            "node_id": base64.b64encode(
                f"023:Installation{self.installation_id}".encode()
            ).decode(),
        }
        if action == "synchronize":
            payload["before"], payload["after"] = before or head_sha, head_sha
        for problem in webhooks.validate_payload("pull_request", action, payload):
            self._violate("WEBHOOK", f"pull_request.{action}", f"stand-in payload {problem}")
        return dict(payload)
