"""Webhook payloads built from octokit/webhooks' examples, checked against its schemas."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

import jsonschema
from referencing import Registry
from referencing.jsonschema import DRAFT7

from .contract import WEBHOOKS_DIR

EXAMPLE_REPO = "Codertocat/Hello-World"


@cache
def _registry() -> Registry[Any]:
    resources = []
    for path in (WEBHOOKS_DIR / "schemas").rglob("*.schema.json"):
        schema = json.loads(path.read_text(encoding="utf-8"))
        resources.append((schema["$id"], DRAFT7.create_resource(schema)))
    return Registry().with_resources(resources)


def example(event: str, name: str) -> Any:
    return json.loads((WEBHOOKS_DIR / "examples" / event / name).read_text(encoding="utf-8"))


def validate_payload(event: str, action: str, payload: Any) -> list[str]:
    schema_path = WEBHOOKS_DIR / "schemas" / event / f"{action}.schema.json"
    schema = json.loads(schema_path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft7Validator(schema, registry=_registry())
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}"
        for e in validator.iter_errors(payload)
    ]


def retarget(payload: Any, full_name: str, number: int, api_url: str) -> Any:
    """Rewrite the example's repository, pull number and hosts to the stand-in's."""
    text = json.dumps(payload)
    text = text.replace(EXAMPLE_REPO, full_name)
    text = text.replace('"Codertocat/', f'"{full_name.split("/")[0]}/')
    text = text.replace("/pulls/2", f"/pulls/{number}").replace("/pull/2", f"/pull/{number}")
    text = text.replace("/issues/2", f"/issues/{number}")
    text = text.replace("https://api.github.com", api_url).replace("https://github.com", api_url)
    return json.loads(text)


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_headers(
    event: str, body: bytes, secret: str | None, *, hook_id: int, app_id: int
) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/stand-in",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": str(hook_id),
        "X-GitHub-Hook-Installation-Target-Type": "integration",
        "X-GitHub-Hook-Installation-Target-ID": str(app_id),
    }
    if secret is not None:
        headers["X-Hub-Signature-256"] = sign(body, secret)
    return headers


# Where the stand-in delivers webhooks (and redeliveries): the app's answer's status.
WebhookTarget = Callable[[bytes, Mapping[str, str]], int]


def http_target(url: str, timeout_s: float = 10.0) -> WebhookTarget:
    """Deliveries POSTed to `url` (the App's /webhook), as GitHub sends them."""

    def send(body: bytes, headers: Mapping[str, str]) -> int:
        request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return int(response.status)
        except urllib.error.HTTPError as error:
            return int(error.code)

    return send


def send(target: WebhookTarget, body: bytes, headers: Mapping[str, str]) -> tuple[int, str]:
    """(status code, status text) of one delivery attempt, as the deliveries API lists it:
    a connection failure is status code 0."""
    try:
        code = target(body, headers)
    except OSError as exc:
        return 0, f"failed to connect to host: {exc.__class__.__name__}"
    return code, "OK" if 200 <= code < 400 else f"Invalid HTTP Response: {code}"
