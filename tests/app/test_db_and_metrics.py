"""The database on real PostgreSQL, and /metrics as Prometheus reads it."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from app_support import Deliver, MakeApp, example, parse_prometheus, pull_request_event, sample
from redis import Redis
from rq import Queue, Worker
from sqlalchemy import create_engine, select, text

from provenfix.bot import metrics
from provenfix.bot.db import Database, IgnoredRule, Installation, PostedSuggestion, Repository, Run
from provenfix.bot.job_requests import JobRequest
from provenfix.bot.queue import AnalysisQueue
from provenfix.bot.settings import BotSettings
from provenfix.bot.webapp import create_app

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture
def postgres() -> Iterator[Database]:
    """A Database in a schema of its own in the `test` database, dropped afterwards."""
    schema = f"provenfix_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = Database(POSTGRES, connect_args={"options": f"-csearch_path={schema}"})
    try:
        database.create_all()
        yield database
    finally:
        database.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_postgresql_records_what_the_webhooks_and_jobs_write(
    postgres: Database, settings: BotSettings, redis: Redis, queue: Queue
) -> None:
    app = create_app(settings, redis=redis, queue=queue, db=postgres)
    deliver = Deliver(app.test_client())
    created = example("installation", "created.payload.json")
    assert deliver("installation", created).json["outcome"] == "recorded"
    added = example("installation_repositories", "added.payload.json")
    assert deliver("installation_repositories", added).json["outcome"] == "recorded"
    assert postgres.ignore_rule(186853002, "Codertocat/Hello-World", "eq-none", "Codertocat")
    assert not postgres.ignore_rule(186853002, "Codertocat/Hello-World", "eq-none", "other")
    with postgres.session() as s:
        run = Run(
            job_id="provenfix-186853002-2-" + "a" * 40,
            repository_id=186853002,
            repository="Codertocat/Hello-World",
            pr_number=2,
            head_sha="a" * 40,
            trigger="pull_request.opened",
            status="completed",
            check_run_id=2**40,  # GitHub ids outgrow 32 bits
        )
        s.add(run)
        s.flush()
        s.add(
            PostedSuggestion(
                run_id=run.id, suggestion_id="s1", path="a.py", start_line=1, end_line=2,
                kind="repair", source="semgrep-autofix", rule_ids="eq-none",
                validation="passed", committable=True, reliability=0.87, comment_id=2**40 + 1,
            )
        )  # fmt: skip
    assert app.test_client().get("/healthz").json["database"] == "ok"
    with postgres.session() as s:
        assert s.get(Installation, created["installation"]["id"]) is not None
        names = set(s.scalars(select(Repository.full_name)))
        assert "Codertocat/Hello-World" in names
        assert added["repositories_added"][0]["full_name"] in names
        assert s.scalars(select(IgnoredRule.rule_id)).all() == ["eq-none"]
        (posted,) = s.scalars(select(PostedSuggestion)).all()
        assert posted.comment_id == 2**40 + 1 and posted.reliability == pytest.approx(0.87)


def broken_job(request: JobRequest) -> None:
    raise ValueError("boom")


def test_metrics_exposition_parses_and_counts(
    make_app: MakeApp, redis: Redis, queue: Queue, settings: BotSettings
) -> None:
    failing = AnalysisQueue(redis, queue, job_timeout_s=60, analyze_func=f"{__name__}.broken_job")
    failing.submit(JobRequest(1, 9, "o", "r", 3, "c" * 40, "d" * 40, "main", "main", "x", "t"))
    Worker([queue], connection=redis).work(burst=True)
    client = make_app().test_client()
    deliver = Deliver(client)
    deliver("pull_request", pull_request_event(), delivery="m1")
    deliver("pull_request", pull_request_event(), delivery="m1")
    deliver("pull_request", pull_request_event(), secret="wrong")
    deliver("ping", example("ping", "payload.json"))
    deliver("star", {"action": "created"})
    bad_head = pull_request_event()
    bad_head["pull_request"]["head"]["sha"] = "--upload-pack=touch /tmp/pwned"
    deliver("pull_request", bad_head)
    deliver("ping", body=b"[" * 5000 + b"]" * 5000)
    metrics.record_job(redis, "completed", 42.0)
    metrics.record_job(redis, "completed", 4000.0)
    metrics.record_job(redis, "superseded", 3.0)

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type == "text/plain; version=0.0.4; charset=utf-8"
    parsed = parse_prometheus(response.get_data(as_text=True))
    assert parsed["types"] == {
        "provenfix_webhook_deliveries_total": "counter",
        "provenfix_webhook_rejected_total": "counter",
        "provenfix_jobs": "gauge",
        "provenfix_job_runs_total": "counter",
        "provenfix_job_duration_seconds": "histogram",
        "provenfix_suggestions_total": "counter",
    }
    deliveries = "provenfix_webhook_deliveries_total"
    assert sample(parsed, deliveries, event="pull_request", outcome="enqueued") == 1
    assert sample(parsed, deliveries, event="pull_request", outcome="duplicate_delivery") == 1
    assert sample(parsed, deliveries, event="unverified", outcome="bad_signature") == 1
    assert sample(parsed, deliveries, event="ping", outcome="pong") == 1
    assert sample(parsed, deliveries, event="other", outcome="ignored") == 1  # no label per name
    assert sample(parsed, deliveries, event="pull_request", outcome="bad_request") == 1
    rejected = "provenfix_webhook_rejected_total"
    field = "pull_request.head.sha"
    assert (
        sample(parsed, rejected, event="pull_request", reason="invalid_payload", field=field) == 1
    )
    assert sample(parsed, rejected, event="ping", reason="json_too_deep", field="") == 1
    assert sample(parsed, rejected, event="unverified", reason="bad_signature", field="") == 1
    assert sample(parsed, "provenfix_jobs", queue=queue.name, state="queued") == 1
    assert sample(parsed, "provenfix_jobs", queue=queue.name, state="failed") == 1
    duration = "provenfix_job_duration_seconds"
    assert sample(parsed, f"{duration}_bucket", outcome="completed", le="60.0") == 1
    assert sample(parsed, f"{duration}_bucket", outcome="completed", le="+Inf") == 2
    assert sample(parsed, f"{duration}_sum", outcome="completed") == pytest.approx(4042.0)
    assert sample(parsed, f"{duration}_count", outcome="superseded") == 1
    assert sample(parsed, "provenfix_job_runs_total", outcome="completed") == 2

    # a second web process reads the same counters
    other = make_app().test_client().get("/metrics").get_data(as_text=True)
    assert sample(parse_prometheus(other), deliveries, event="ping", outcome="pong") == 1


# --- concurrent deliveries for one installation ------------------------------------------


def installation_pair(installation_id: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """`installation.created` and `installation_repositories.added` of a new installation,
    as GitHub sends them together, sharing one repository."""

    def repo(repository_id: int) -> dict[str, Any]:
        name = f"repo-{repository_id}"
        return {"id": repository_id, "node_id": "x", "name": name,
                "full_name": f"Codertocat/{name}", "private": False}  # fmt: skip

    first = installation_id * 10
    created = example("installation", "created.payload.json")
    created["installation"]["id"] = installation_id
    created["repositories"] = [repo(first + 1), repo(first + 2)]
    added = example("installation_repositories", "added.payload.json")
    added["installation"]["id"] = installation_id
    added["repositories_added"] = [repo(first + 2), repo(first + 3)]
    return created, added


PAIRS = 50


@pytest.mark.parametrize("backend", ["postgresql", "sqlite"])
def test_simultaneous_installation_deliveries_never_fail(
    backend: str,
    request: pytest.FixtureRequest,
    settings: BotSettings,
    redis: Redis,
    queue: Queue,
) -> None:
    """50 new installations, each announced by two deliveries at the very same moment."""
    database: Database = request.getfixturevalue("postgres" if backend == "postgresql" else "db")
    app = create_app(settings, redis=redis, queue=queue, db=database)
    statuses: Counter[int] = Counter()

    def deliver_at_once(barrier: threading.Barrier, event: str, payload: dict[str, Any]) -> None:
        deliver = Deliver(app.test_client())
        barrier.wait()
        statuses[deliver(event, payload).status_code] += 1

    for pair in range(PAIRS):
        created, added = installation_pair(9_000_000 + pair)
        barrier = threading.Barrier(2)
        threads = [
            threading.Thread(target=deliver_at_once, args=(barrier, "installation", created)),
            threading.Thread(
                target=deliver_at_once, args=(barrier, "installation_repositories", added)
            ),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert statuses == {202: 2 * PAIRS}
    with database.session() as s:
        installations = s.scalars(select(Installation)).all()
        assert len(installations) == PAIRS
        assert {i.account_login for i in installations} == {"Codertocat"}
        repos = s.scalars(select(Repository)).all()
        assert len(repos) == 3 * PAIRS
        assert all(r.active and r.installation_id == r.id // 10 for r in repos)


def test_the_same_ignore_twice_at_once_is_one_rule(postgres: Database) -> None:
    barrier = threading.Barrier(8)
    answers: list[bool] = []

    def ignore() -> None:
        barrier.wait()
        answers.append(postgres.ignore_rule(7, "octo/seven", "eq-none", "octocat"))

    threads = [threading.Thread(target=ignore) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [False] * 7 + [True]
    assert postgres.ignored_rules(7) == {"eq-none"}
