"""Helpers of the GitHub App tests: real webhook payloads, signatures, a metrics parser."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from werkzeug.test import TestResponse

EXAMPLES = (
    Path(__file__).resolve().parents[1] / "fixtures" / "github-contract" / "webhooks" / "examples"
)
SECRET = "it's-a-secret-to-everybody"
APP_ID = 4242
TEST_QUEUE = "provenfix-test"
SESSION_LOCK_KEY = "provenfix-test-session-lock"  # conftest.py's: which session owns the db
SHA_A = "ec26c3e57ca3a959ca5aad62de7213c562f8c821"  # the examples' pull request head
SHA_B = "b" * 40


def example(event: str, name: str) -> dict[str, Any]:
    """A real payload from octokit/webhooks, as GitHub delivers it (a fresh copy)."""
    data: dict[str, Any] = json.loads((EXAMPLES / event / name).read_text(encoding="utf-8"))
    return copy.deepcopy(data)


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def pull_request_event(
    action: str = "opened",
    *,
    head_sha: str | None = None,
    updated_at: str | None = None,
    draft: bool | None = None,
    number: int | None = None,
) -> dict[str, Any]:
    """The real `pull_request` example for `action`, with the given fields replaced."""
    name = {"opened": "opened.payload.json", "synchronize": "synchronize.payload.json",
            "reopened": "reopened.payload.json", "closed": "closed.payload.json"}.get(
        action, "opened.payload.json"
    )  # fmt: skip
    payload = example("pull_request", name)
    payload["action"] = action
    pr = payload["pull_request"]
    if head_sha is not None:
        pr["head"]["sha"] = head_sha
        if action == "synchronize":
            payload["after"] = head_sha
    if updated_at is not None:
        pr["updated_at"] = updated_at
    if draft is not None:
        pr["draft"] = draft
    if number is not None:
        pr["number"] = payload["number"] = number
    return payload


def issue_comment_event(body: str, association: str, *, on_pull_request: bool = True) -> Any:
    """The real `issue_comment` example (with installation), turned into a command."""
    payload = example("issue_comment", "created.with-installation.payload.json")
    payload["comment"]["body"] = body
    payload["comment"]["author_association"] = association
    if on_pull_request:
        number = payload["issue"]["number"]
        url = payload["repository"]["url"]
        payload["issue"]["pull_request"] = {
            "url": f"{url}/pulls/{number}",
            "html_url": f"{payload['repository']['html_url']}/pull/{number}",
            "diff_url": f"{payload['repository']['html_url']}/pull/{number}.diff",
            "patch_url": f"{payload['repository']['html_url']}/pull/{number}.patch",
        }
    return payload


def our_check_run(action: str) -> dict[str, Any]:
    """The real `check_run` example for `action`, made the App's own (its id, an
    installation) with one pull request of the same repository: #5, SHA_A <- SHA_B."""
    payload = example("check_run", f"{action}.payload.json")
    payload["check_run"]["app"]["id"] = APP_ID
    payload["installation"] = {"id": 7}
    repo = payload["repository"]
    side = {"repo": {"id": repo["id"], "url": repo["url"], "name": repo["name"]}}
    payload["check_run"]["pull_requests"] = [
        {
            "url": f"{repo['url']}/pulls/5",
            "id": 1,
            "number": 5,
            "head": {"ref": "feature", "sha": SHA_B, **side},
            "base": {"ref": "main", "sha": SHA_A, **side},
        }
    ]
    return payload


def flush_keeping_lock(redis: Redis) -> None:
    """Empty this session's Redis database, as the `redis` fixture does between tests."""
    lock = redis.get(SESSION_LOCK_KEY)
    redis.flushdb()
    if lock is not None:
        redis.set(SESSION_LOCK_KEY, lock, ex=3600)


_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r"(?:\{(?P<labels>(?:[a-zA-Z_][a-zA-Z0-9_]*=\"(?:[^\"\\\n]|\\[\\n\"])*\",?)*)\})?"
    r" (?P<value>[-+]?(?:[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN))$"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\n"])*)"')
_TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}


def parse_prometheus(text: str) -> dict[str, Any]:
    """Parse the text exposition format strictly enough to catch what breaks scrapers:
    every sample line matches the grammar, every family has one TYPE before its samples,
    histogram buckets are cumulative and end with +Inf equal to _count."""
    assert text.endswith("\n"), "exposition must end with a newline"
    types: dict[str, str] = {}
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in _TYPES, line
            assert name not in types, f"second TYPE for {name}"
            types[name] = kind
            continue
        if line.startswith("#"):
            assert line.startswith("# HELP "), line
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a valid sample line: {line!r}"
        name = match["name"]
        family = re.sub(r"_(bucket|sum|count|total)$", "", name)
        assert name in types or family in types or f"{family}_total" in types, (
            f"sample {name} before its TYPE"
        )
        labels = tuple(sorted(_LABEL.findall(match["labels"] or "")))
        key = (name, labels)
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = float(match["value"].replace("Inf", "inf"))
    for name, kind in types.items():
        if kind != "histogram":
            continue
        series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
        for (sample, labels), value in samples.items():
            if sample == f"{name}_bucket":
                rest = tuple(kv for kv in labels if kv[0] != "le")
                le = float(dict(labels)["le"].replace("+Inf", "inf"))
                series.setdefault(rest, []).append((le, value))
        for rest, buckets in series.items():
            buckets.sort()
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), f"{name} buckets are not cumulative"
            assert buckets[-1][0] == float("inf"), f"{name} lacks the +Inf bucket"
            assert samples[(f"{name}_count", rest)] == counts[-1]
    return {"types": types, "samples": samples}


def sample(parsed: dict[str, Any], name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    value: float = parsed["samples"].get(key, 0.0)
    return value


MakeApp = Callable[..., Flask]


class Deliver:
    """Signs and posts a webhook delivery the way GitHub does."""

    def __init__(self, client: FlaskClient, secret: str = SECRET) -> None:
        self.client = client
        self.secret = secret

    def __call__(
        self,
        event: str,
        payload: Any = None,
        *,
        body: bytes | None = None,
        delivery: str | None = None,
        secret: str | None = None,
        signature: str | None = None,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> TestResponse:
        raw = body if body is not None else json.dumps(payload).encode()
        all_headers = {
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
            "User-Agent": "GitHub-Hookshot/test",
        }
        if signature is not None:
            all_headers["X-Hub-Signature-256"] = signature
        elif secret != "":
            all_headers["X-Hub-Signature-256"] = sign(raw, secret or self.secret)
        all_headers.update(headers or {})
        return self.client.post(
            "/webhook", data=raw, headers=all_headers, content_type=content_type
        )
