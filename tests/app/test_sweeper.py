"""Missed webhook deliveries recovered (bot.sweeper): the stand-in delivers to the web app
and records each attempt in the deliveries API (`GET /app/hook/deliveries`, checked
against GitHub's contract, cursor pagination); a redelivery (`POST .../attempts`) goes
to the web app again with the same delivery id. The outage is real: the web app's Redis
client points at a port nobody listens on, so it answers 503."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Any

import pytest
from app_support import SECRET, TEST_QUEUE
from e2e_support import fast_context
from flask.testing import FlaskClient
from github_standin import GitHubStandIn
from github_standin.webhooks import WebhookTarget
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from repo_support import GitRepo
from rq import Queue, Worker
from rq.job import Job, JobStatus

from provenfix.bot.db import Database
from provenfix.bot.github_api import GitHubApp
from provenfix.bot.job_context import installed_context
from provenfix.bot.settings import load_settings
from provenfix.bot.sweeper import (
    ASKED_KEY,
    DUE_KEY,
    LOCK_KEY,
    DeliverySweeper,
    GitHubDeliveries,
    SweepOptions,
    SweepScheduler,
)
from provenfix.bot.webapp import create_app


def to_app(client: FlaskClient, *, github_sees: int | None = None) -> WebhookTarget:
    """Deliveries to the web app; `github_sees`: the status GitHub records instead of the
    app's (GitHub gave up waiting for an answer the app then gave)."""

    def send(body: bytes, headers: Mapping[str, str]) -> int:
        status = client.post("/webhook", data=body, headers=dict(headers)).status_code
        return github_sees if github_sees is not None else status

    return send


@pytest.fixture
def down_web(app_env: dict[str, str], db: Database) -> FlaskClient:
    """The web process while Redis is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    dead = Redis(host="127.0.0.1", port=port, retry=Retry(NoBackoff(), 0))
    app = create_app(
        load_settings(app_env), redis=dead, queue=Queue(TEST_QUEUE, connection=dead), db=db
    )
    return app.test_client()


def analysis_jobs(queue: Queue) -> list[str]:
    return [j for j in queue.get_job_ids() if j.startswith("provenfix-")]


def test_outage_then_sweep_makes_exactly_one_job(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    repo: GitRepo,
    web: FlaskClient,
    down_web: FlaskClient,
    redis: Redis,
    queue: Queue,
) -> None:
    opened = standin.open_pull("octo", "stats", 1, "main", "pr")
    missed = standin.deliver("pull_request", opened, SECRET, target=to_app(down_web))
    assert missed["status_code"] == 503  # "queue unavailable, redeliver later"
    # processed by the app, but GitHub stopped waiting: failed for GitHub, claimed for us
    timed_out = standin.deliver(
        "star", {"action": "created"}, SECRET, target=to_app(web, github_sees=504)
    )
    # refused by the app on purpose (a wrong signature): a redelivery would be refused again
    refused = standin.deliver("pull_request", opened, "not-the-secret", target=to_app(web))
    assert (timed_out["status_code"], refused["status_code"]) == (504, 401)
    assert analysis_jobs(queue) == []

    standin.webhook_target = to_app(web)  # the outage is over
    sweeper = DeliverySweeper(redis, GitHubDeliveries(github_app))
    result = sweeper.sweep()
    assert result.redelivered == (missed["guid"],)
    assert (result.attempts, result.failed, result.claimed, result.refused) == (3, 3, 1, 1)
    standin.settle()
    assert standin.redeliveries == [missed["id"]]
    (redelivery,) = [d for d in standin.deliveries if d["redelivery"]]
    assert (redelivery["guid"], redelivery["status_code"]) == (missed["guid"], 202)
    head = opened["pull_request"]["head"]["sha"]
    assert analysis_jobs(queue) == [f"provenfix-{opened['repository']['id']}-1-{head}"]

    # the next sweep asks for nothing: the delivery succeeded (and is claimed)
    assert sweeper.sweep().redelivered == ()
    # GitHub redelivering it once more (by hand, say) makes no second job
    body, headers = standin._delivery_requests[missed["guid"]]
    again = web.post("/webhook", data=body, headers=headers)
    assert again.status_code == 200 and again.json["outcome"] == "duplicate_delivery"
    assert len(analysis_jobs(queue)) == 1
    assert not standin.take_violations()


def test_a_delivery_is_never_asked_for_twice(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    repo: GitRepo,
    down_web: FlaskClient,
    redis: Redis,
    queue: Queue,
) -> None:
    opened = standin.open_pull("octo", "stats", 1, "main", "pr")
    missed = standin.deliver("pull_request", opened, SECRET, target=to_app(down_web))
    standin.webhook_target = to_app(down_web)  # still down: the redelivery fails too
    sweeper = DeliverySweeper(redis, GitHubDeliveries(github_app))
    assert sweeper.sweep().redelivered == (missed["guid"],)
    standin.settle()
    second = sweeper.sweep()
    assert (second.redelivered, second.asked_before) == ((), 1)
    assert standin.redeliveries == [missed["id"]]
    assert redis.ttl(ASKED_KEY.format(missed["guid"])) > 2 * 24 * 3600
    assert analysis_jobs(queue) == []


def test_the_sweeper_pages_through_the_lookback_with_the_cursor(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    repo: GitRepo,
    web: FlaskClient,
    down_web: FlaskClient,
    redis: Redis,
) -> None:
    standin.webhook_target = to_app(web)
    missed = [
        standin.deliver("star", {"action": "created"}, SECRET, target=to_app(down_web))["guid"]
        for _ in range(5)
    ]
    for _ in range(6):
        standin.deliver("star", {"action": "created"}, SECRET)  # delivered fine
    sweeper = DeliverySweeper(redis, GitHubDeliveries(github_app), SweepOptions(per_page=3))
    result = sweeper.sweep()
    assert result.attempts == 11 and sorted(result.redelivered) == sorted(missed)
    pages = [r for r in standin.requests if r.path == "/app/hook/deliveries"]
    assert len(pages) == 4 and all(r.status == 200 for r in pages)
    assert [r.query.get("cursor") is None for r in pages] == [True, False, False, False]
    assert all(r.auth == "jwt" for r in pages)
    standin.settle()
    # the bounded look: with one page allowed, only the newest three attempts are read
    few = DeliverySweeper(
        redis, GitHubDeliveries(github_app), SweepOptions(per_page=3, max_pages=1)
    )
    assert few.attempts() and len(few.attempts()) == 3


def test_workers_enqueue_one_sweep_per_interval_and_it_runs_as_a_job(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    repo: GitRepo,
    down_web: FlaskClient,
    web: FlaskClient,
    app_env: dict[str, str],
    redis: Redis,
    queue: Queue,
) -> None:
    opened = standin.open_pull("octo", "stats", 1, "main", "pr")
    missed = standin.deliver("pull_request", opened, SECRET, target=to_app(down_web))
    standin.webhook_target = to_app(web)
    schedule = SweepScheduler(SweepOptions(interval_s=300))
    first = schedule.maybe_enqueue(queue)
    assert first is not None and first.startswith("provenfix-sweep-")
    assert schedule.maybe_enqueue(queue) is None  # another worker, the same interval
    assert 0 < redis.ttl(DUE_KEY) <= 300
    with installed_context(fast_context(app_env, github_app)):
        Worker([queue], connection=redis).work(burst=True, max_jobs=1)  # the sweep only
    sweep = Job.fetch(first, connection=redis)
    assert sweep.get_status() == JobStatus.FINISHED, sweep.latest_result()
    result: Any = sweep.return_value()
    assert result["outcome"] == "swept" and list(result["redelivered"]) == [missed["guid"]]
    standin.settle()
    assert len(analysis_jobs(queue)) == 1
    assert not redis.exists(LOCK_KEY)
