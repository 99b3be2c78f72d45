"""POST /webhook with GitHub's real payloads, signed here, against real Redis and SQLite."""

from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from collections.abc import Iterator
from http.client import HTTPConnection
from typing import Any

import pytest
from app_support import (
    SHA_A,
    SHA_B,
    Deliver,
    MakeApp,
    example,
    issue_comment_event,
    our_check_run,
    pull_request_event,
    sign,
)
from redis import Redis
from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, Worker
from rq.job import Job, JobStatus
from sqlalchemy import select
from werkzeug.serving import make_server

from provenfix.bot.db import Database, IgnoredRule, Installation, Repository
from provenfix.bot.job_requests import CommentReaction, JobRequest, PullRequestTarget
from provenfix.bot.metrics import REJECTED_KEY
from provenfix.bot.payloads import GitHubHosts
from provenfix.bot.queue import is_superseded

REPO_ID = 186853002  # Codertocat/Hello-World in the examples


def delivery_keys(redis: Redis) -> list[bytes]:
    return list(redis.scan_iter("provenfix:delivery:*"))


def assert_nothing_enqueued(redis: Redis, queue: Queue) -> None:
    assert queue.count == 0
    assert not delivery_keys(redis)
    assert not list(redis.scan_iter("rq:job:*"))


# --- verification before anything else -----------------------------------------------------


def test_missing_signature_is_401_and_enqueues_nothing(
    deliver: Deliver, redis: Redis, queue: Queue
) -> None:
    response = deliver("pull_request", pull_request_event(), secret="")
    assert response.status_code == 401
    assert_nothing_enqueued(redis, queue)


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "0" * 64,
        "sha1=0123456789abcdef0123456789abcdef01234567",
        "garbage",
        "sha256=é",
    ],
)
def test_bad_signature_is_401_and_enqueues_nothing(
    deliver: Deliver, redis: Redis, queue: Queue, signature: str
) -> None:
    response = deliver("pull_request", pull_request_event(), signature=signature)
    assert response.status_code == 401
    assert_nothing_enqueued(redis, queue)


def test_signature_with_another_secret_is_401(deliver: Deliver, redis: Redis, queue: Queue) -> None:
    response = deliver("pull_request", pull_request_event(), secret="not-the-secret")
    assert response.status_code == 401
    assert_nothing_enqueued(redis, queue)


def test_body_changed_after_signing_is_401(deliver: Deliver, redis: Redis, queue: Queue) -> None:
    body = json.dumps(pull_request_event()).encode()
    response = deliver("pull_request", body=body + b" ", signature=sign(body))
    assert response.status_code == 401
    assert_nothing_enqueued(redis, queue)


def test_declared_oversized_body_is_413(make_app: MakeApp, redis: Redis, queue: Queue) -> None:
    deliver = Deliver(make_app(max_body_bytes=4096).test_client())
    payload = pull_request_event()
    assert len(json.dumps(payload)) > 4096
    response = deliver("pull_request", payload)
    assert response.status_code == 413
    assert_nothing_enqueued(redis, queue)


def test_oversized_chunked_body_is_413_on_the_real_read(
    make_app: MakeApp, redis: Redis, queue: Queue
) -> None:
    """No Content-Length (chunked transfer): the limit holds while reading."""
    app = make_app(max_body_bytes=4096)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        body = json.dumps(pull_request_event()).encode()
        conn = HTTPConnection("127.0.0.1", server.server_port, timeout=10)
        conn.putrequest("POST", "/webhook")
        for name, value in {
            "Content-Type": "application/json",
            "Transfer-Encoding": "chunked",
            "X-GitHub-Event": "pull_request",
            "X-GitHub-Delivery": "chunked-1",
            "X-Hub-Signature-256": sign(body),
        }.items():
            conn.putheader(name, value)
        conn.endheaders()
        for start in range(0, len(body), 1000):
            chunk = body[start : start + 1000]
            conn.send(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        conn.send(b"0\r\n\r\n")
        response = conn.getresponse()
        assert response.status == 413
        conn.close()
    finally:
        server.shutdown()
        thread.join()
    assert_nothing_enqueued(redis, queue)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"action": "opened", ', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"\xff\xfe not utf-8", "application/json"),
        (b"payload=%7Bnot+json", "application/x-www-form-urlencoded"),
        (b"other=1", "application/x-www-form-urlencoded"),
        (b'{"zen": "x"}', "text/plain"),
        (b'{"zen": "x"}', "application/xml"),
    ],
)
def test_malformed_or_unknown_content_is_400(
    deliver: Deliver, redis: Redis, queue: Queue, body: bytes, content_type: str
) -> None:
    response = deliver("ping", body=body, content_type=content_type)
    assert response.status_code == 400
    assert_nothing_enqueued(redis, queue)


def test_unsigned_unknown_content_type_is_401_first(deliver: Deliver) -> None:
    response = deliver("ping", body=b"whatever", content_type="text/plain", secret="")
    assert response.status_code == 401


def test_missing_delivery_header_is_400(deliver: Deliver, redis: Redis, queue: Queue) -> None:
    body = json.dumps(pull_request_event()).encode()
    response = deliver.client.post(
        "/webhook",
        data=body,
        content_type="application/json",
        headers={"X-GitHub-Event": "pull_request", "X-Hub-Signature-256": sign(body)},
    )
    assert response.status_code == 400
    assert_nothing_enqueued(redis, queue)


# --- ping, form encoding, unknown events -----------------------------------------------------


def test_ping_is_answered(deliver: Deliver) -> None:
    payload = example("ping", "with-app_id.payload.json")
    response = deliver("ping", payload)
    assert response.status_code == 200
    assert response.json == {
        "delivery": response.json["delivery"],
        "event": "ping",
        "outcome": "pong",
        "zen": payload["zen"],
    }


def test_form_encoded_delivery_is_accepted(deliver: Deliver) -> None:
    from urllib.parse import urlencode

    body = urlencode({"payload": json.dumps(example("ping", "payload.json"))}).encode()
    response = deliver("ping", body=body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    assert response.json["outcome"] == "pong"


def test_unknown_event_is_202_ignored(deliver: Deliver, queue: Queue) -> None:
    response = deliver(
        "pull_request_review", example("pull_request_review", "submitted.payload.json")
    )
    assert response.status_code == 202
    assert response.json["outcome"] == "ignored"
    assert queue.count == 0


# --- pull_request ----------------------------------------------------------------------------


def test_opened_enqueues_one_job_with_the_deterministic_id(
    deliver: Deliver, queue: Queue, redis: Redis
) -> None:
    payload = pull_request_event("opened")
    response = deliver("pull_request", payload, delivery="d-opened")
    assert response.status_code == 202
    job_id = f"provenfix-{REPO_ID}-2-{SHA_A}"
    assert response.json == {
        "delivery": "d-opened",
        "event": "pull_request",
        "outcome": "enqueued",
        "job_id": job_id,
    }
    assert queue.job_ids == [job_id]
    job = Job.fetch(job_id, connection=redis)
    assert job.func_name == "provenfix.bot.rq_jobs.analyze_pull_request"
    assert job.timeout == 600
    assert job.retries_left == 3 and job.retry_intervals == [10, 30, 60]
    (request,) = job.args
    assert request == JobRequest(
        installation_id=1,
        repository_id=REPO_ID,
        owner="Codertocat",
        repo="Hello-World",
        number=2,
        head_sha=SHA_A,
        base_sha="f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
        base_ref="master",
        default_branch="master",
        clone_url="https://github.com/Codertocat/Hello-World.git",
        trigger="pull_request.opened",
        delivery_id="d-opened",
        sender="Codertocat",
        updated_at=payload["pull_request"]["updated_at"],
        delivered_at=request.delivered_at,
    )
    # when the delivery arrived: the start of "time from delivery to review"
    arrived = dt.datetime.fromisoformat(request.delivered_at)
    assert abs((dt.datetime.now(dt.UTC) - arrived).total_seconds()) < 60
    assert JobRequest.from_dict(request.to_dict()) == request


def test_redelivery_is_deduplicated_by_delivery_id(deliver: Deliver, queue: Queue) -> None:
    first = deliver("pull_request", pull_request_event(), delivery="same-delivery")
    second = deliver("pull_request", pull_request_event(), delivery="same-delivery")
    assert first.json["outcome"] == "enqueued"
    assert second.status_code == 200 and second.json["outcome"] == "duplicate_delivery"
    assert queue.count == 1


def test_same_head_in_another_delivery_is_not_enqueued_twice(
    deliver: Deliver, queue: Queue
) -> None:
    deliver("pull_request", pull_request_event("opened"))
    again = deliver("pull_request", pull_request_event("reopened"))
    assert again.json["outcome"] == "duplicate_job"
    assert queue.count == 1


def test_synchronize_supersedes_the_queued_job(
    deliver: Deliver, queue: Queue, redis: Redis
) -> None:
    opened = pull_request_event("opened", updated_at="2019-05-15T15:20:33Z")
    deliver("pull_request", opened)
    newer = pull_request_event("synchronize", head_sha=SHA_B, updated_at="2019-05-15T15:30:00Z")
    response = deliver("pull_request", newer)
    old_id, new_id = f"provenfix-{REPO_ID}-2-{SHA_A}", f"provenfix-{REPO_ID}-2-{SHA_B}"
    assert response.json["outcome"] == "enqueued"
    assert response.json["superseded"] == old_id
    assert queue.job_ids == [new_id]
    assert Job.fetch(old_id, connection=redis).get_status() == JobStatus.CANCELED
    assert is_superseded(redis, old_id) and not is_superseded(redis, new_id)


def test_a_late_delivery_for_an_older_head_is_stale(deliver: Deliver, queue: Queue) -> None:
    newer = pull_request_event("synchronize", head_sha=SHA_B, updated_at="2019-05-15T15:30:00Z")
    deliver("pull_request", newer)
    older = pull_request_event("opened", updated_at="2019-05-15T15:20:33Z")
    response = deliver("pull_request", older)
    assert response.json["outcome"] == "stale"
    assert queue.job_ids == [f"provenfix-{REPO_ID}-2-{SHA_B}"]


def test_draft_is_skipped_unless_configured(deliver: Deliver, make_app: MakeApp) -> None:
    response = deliver("pull_request", pull_request_event("opened", draft=True))
    assert response.status_code == 202 and response.json["outcome"] == "skipped_draft"
    ready = deliver("pull_request", pull_request_event("ready_for_review", draft=False))
    assert ready.json["outcome"] == "enqueued"


def test_drafts_analyzed_when_configured(make_app: MakeApp, queue: Queue) -> None:
    deliver = Deliver(make_app(skip_drafts=False).test_client())
    response = deliver("pull_request", pull_request_event("opened", draft=True))
    assert response.json["outcome"] == "enqueued"
    assert queue.count == 1


def test_closed_cancels_the_queued_job(deliver: Deliver, queue: Queue, redis: Redis) -> None:
    deliver("pull_request", pull_request_event("opened"))
    response = deliver("pull_request", example("pull_request", "closed.payload.json"))
    job_id = f"provenfix-{REPO_ID}-2-{SHA_A}"
    assert response.json["outcome"] == "cancelled" and response.json["job_id"] == job_id
    assert queue.count == 0
    assert Job.fetch(job_id, connection=redis).get_status() == JobStatus.CANCELED
    assert is_superseded(redis, job_id)


def test_reopened_after_closing_analyzes_the_head_again(
    deliver: Deliver, queue: Queue, redis: Redis
) -> None:
    deliver("pull_request", pull_request_event("opened"))
    deliver("pull_request", example("pull_request", "closed.payload.json"))
    reopened = deliver("pull_request", pull_request_event("reopened"))
    job_id = f"provenfix-{REPO_ID}-2-{SHA_A}"
    assert reopened.json["outcome"] == "enqueued"
    assert queue.job_ids == [job_id]
    assert not is_superseded(redis, job_id)


ROUND_TRIPS = 4  # the script, rq's queue registration and unique enqueue, the count


def test_a_push_costs_a_few_redis_round_trips(
    deliver: Deliver, queue: Queue, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Claim and make current (one script), rq's unique enqueue, the count (bot.queue)."""
    deliver("pull_request", pull_request_event("opened"))  # the script is loaded
    sent: list[object] = []
    send = Connection.send_packed_command

    def counted(self: Connection, command: object, check_health: bool = True) -> None:
        sent.append(command)
        send(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    response = deliver("pull_request", pull_request_event("opened", number=7))
    assert response.json["outcome"] == "enqueued"
    assert len(sent) == ROUND_TRIPS, sent
    assert queue.count == 2


def test_a_failure_after_the_claim_forgets_the_delivery(
    deliver: Deliver, queue: Queue, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The script claimed the delivery; rq's enqueue of a head that came back fails."""
    deliver("pull_request", pull_request_event("opened"))
    deliver("pull_request", example("pull_request", "closed.payload.json"))

    def down(self: Queue, job: Job, **kwargs: Any) -> Job:
        raise RedisConnectionError("Redis went away")

    monkeypatch.setattr(Queue, "enqueue_job", down)
    reopened = pull_request_event("reopened")
    response = deliver("pull_request", reopened, delivery="d-retry")
    assert response.status_code == 503
    assert not redis.exists("provenfix:delivery:d-retry")  # the redelivery is not a duplicate
    monkeypatch.undo()
    again = deliver("pull_request", reopened, delivery="d-retry")
    assert again.status_code == 202 and again.json["outcome"] == "enqueued"
    assert queue.job_ids == [f"provenfix-{REPO_ID}-2-{SHA_A}"]


def test_pull_request_payload_without_required_fields_is_400(
    deliver: Deliver, redis: Redis
) -> None:
    payload = pull_request_event()
    del payload["pull_request"]["head"]
    response = deliver("pull_request", payload, delivery="broken")
    assert response.status_code == 400
    assert not delivery_keys(redis)  # a fixed redelivery is not taken for a duplicate


# --- payload validation: every field a handler uses, checked before anything is done -----------


def rejected(redis: Redis) -> dict[tuple[str, ...], int]:
    raw = redis.hgetall(REJECTED_KEY)
    return {tuple(k.decode().split("\x1f")): int(v) for k, v in raw.items()}


def set_path(payload: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    *parents, last = path.split(".")
    node: Any = payload
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    node[last] = value
    return payload


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("pull_request.head.sha", "-x"),
        ("pull_request.head.sha", SHA_A.upper()),
        ("pull_request.head.sha", SHA_A[:39]),
        ("pull_request.head.sha", SHA_A + "\n"),
        ("pull_request.base.sha", None),
        ("pull_request.number", 0),
        ("pull_request.number", 2**31),
        ("pull_request.number", "2"),
        ("pull_request.number", True),
        ("pull_request.number", 2.0),
        ("pull_request.base.ref", "--upload-pack=touch /tmp/pwned"),
        ("pull_request.base.ref", "main\x1b[31m"),
        ("pull_request.base.ref", "a..b"),
        ("repository.default_branch", "-main"),
        ("repository.clone_url", "https://evil.example/Codertocat/Hello-World.git"),
        ("repository.clone_url", "https://github.com@evil.example/x.git"),
        ("repository.clone_url", "file:///etc/passwd"),
        ("repository.clone_url", "--upload-pack=x"),
        ("repository.id", 2**53),
        ("repository.id", -1),
        ("repository.full_name", "Codertocat/.."),
        ("installation.id", 2**63),
        ("pull_request.updated_at", "-1"),
        ("pull_request.state", "merged"),
    ],
)
def test_a_pull_request_with_a_bad_field_is_400_and_enqueues_nothing(
    deliver: Deliver, redis: Redis, queue: Queue, path: str, value: Any
) -> None:
    response = deliver("pull_request", set_path(pull_request_event(), path, value))
    assert response.status_code == 400
    assert response.json["error"].startswith(f"pull_request payload: {path}: ")
    assert "\n" not in response.json["error"]
    assert_nothing_enqueued(redis, queue)
    assert not list(redis.scan_iter("provenfix:pr:*"))
    assert rejected(redis) == {("pull_request", "invalid_payload", path): 1}


def test_numbers_json_cannot_hold_are_400(deliver: Deliver, redis: Redis, queue: Queue) -> None:
    body = json.dumps(set_path(pull_request_event(), "pull_request.number", "@@")).encode()
    for raw in (b"1e400", b"18446744073709551616", b"NaN", b"-0", b"1" + b"0" * 5000):
        response = deliver("pull_request", body=body.replace(b'"@@"', raw))
        assert response.status_code == 400, raw
        assert "pull_request.number" in response.json["error"] or "JSON" in response.json["error"]
    assert_nothing_enqueued(redis, queue)


def test_clone_urls_take_the_configured_hosts_scheme(deliver: Deliver, queue: Queue) -> None:
    payload = pull_request_event()
    payload["repository"]["clone_url"] = "http://GitHub.com/Codertocat/Hello-World.git"
    assert deliver("pull_request", payload).json["outcome"] == "enqueued"
    (job,) = queue.jobs
    assert job.args[0].clone_url == "https://github.com/Codertocat/Hello-World.git"


def test_enterprise_server_payloads_name_its_host(make_app: MakeApp, queue: Queue) -> None:
    deliver = Deliver(make_app(github_api_url="https://ghe.example.com/api/v3").test_client())
    payload = pull_request_event()
    assert deliver("pull_request", payload).status_code == 400  # github.com is not this App's
    payload["repository"]["clone_url"] = "https://ghe.example.com/Codertocat/Hello-World.git"
    assert deliver("pull_request", payload).json["outcome"] == "enqueued"
    assert queue.jobs[0].args[0].clone_url == payload["repository"]["clone_url"]


@pytest.mark.parametrize(
    ("api_url", "web_url"),
    [
        ("https://api.github.com", "https://github.com"),
        ("https://ghe.example.com/api/v3/", "https://ghe.example.com"),
        ("https://api.acme.ghe.com", "https://acme.ghe.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ],
)
def test_the_web_host_comes_from_the_api_url(api_url: str, web_url: str) -> None:
    hosts = GitHubHosts.from_api_url(api_url)
    assert hosts.web_url == web_url
    assert hosts.clone_url(f"{web_url}/o/r.git") == f"{web_url}/o/r.git"
    assert hosts.clone_url(f"{web_url}.evil.example/o/r.git") is None


def test_ignored_actions_and_other_apps_are_not_refused_for_fields_never_read(
    deliver: Deliver, queue: Queue
) -> None:
    labeled = set_path(pull_request_event("labeled"), "pull_request.head.sha", None)
    assert deliver("pull_request", labeled).json["outcome"] == "ignored"
    other_app = example("check_run", "rerequested.payload.json")  # app id 2
    other_app["check_run"]["pull_requests"] = [{"number": "not ours to read"}]
    assert deliver("check_run", other_app).json["outcome"] == "ignored"
    chatter = issue_comment_event("LGTM", "NONE")
    chatter["comment"]["id"] = "not read either"
    assert deliver("issue_comment", chatter).json["outcome"] == "ignored"
    assert queue.count == 0


def test_a_command_with_a_bad_comment_id_enqueues_nothing_on_any_delivery(
    deliver: Deliver, redis: Redis, queue: Queue
) -> None:
    payload = issue_comment_event("/provenfix analyze", "OWNER")
    payload["comment"]["id"] = "12"
    for _ in range(3):  # GitHub redelivers a failed delivery
        response = deliver("issue_comment", payload, delivery="bad-comment")
        assert response.status_code == 400
        assert "comment.id" in response.json["error"]
    assert_nothing_enqueued(redis, queue)


def test_a_bad_second_pull_request_enqueues_not_even_the_first(
    deliver: Deliver, redis: Redis, queue: Queue
) -> None:
    payload = our_check_run("rerequested")
    (pull,) = payload["check_run"]["pull_requests"]
    payload["check_run"]["pull_requests"].append(json.loads(json.dumps(pull)))
    payload["check_run"]["pull_requests"][1]["head"]["sha"] = "--upload-pack=x"
    response = deliver("check_run", payload)
    assert response.status_code == 400
    assert "check_run.pull_requests.1.head.sha" in response.json["error"]
    assert_nothing_enqueued(redis, queue)
    assert rejected(redis) == {
        ("check_run", "invalid_payload", "check_run.pull_requests.*.head.sha"): 1
    }


def test_a_fork_check_run_external_id_is_bounded(deliver: Deliver, queue: Queue) -> None:
    payload = our_check_run("rerequested")
    payload["check_run"]["pull_requests"] = []
    repo_id = payload["repository"]["id"]
    payload["check_run"]["external_id"] = f"provenfix-{repo_id}-{2**40}-{SHA_B}"
    assert deliver("check_run", payload).json["outcome"] == "ignored"
    assert queue.count == 0


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 1000 + b"]" * 1000, "json_too_deep"),
        (b'{"a":' * 65 + b"1" + b"}" * 65, "json_too_deep"),
        (b"[" * 100_000 + b"]" * 100_000, "json_too_deep"),
        (b"{", "invalid_json"),
        (b"[]", "not_an_object"),
    ],
    ids=["1000-deep", "65-deep", "100000-deep", "truncated", "array"],
)
def test_malformed_json_is_a_counted_json_400(
    deliver: Deliver, redis: Redis, queue: Queue, body: bytes, reason: str
) -> None:
    response = deliver("ping", body=body)
    assert response.status_code == 400 and response.mimetype == "application/json"
    assert rejected(redis) == {("ping", reason, ""): 1}
    assert_nothing_enqueued(redis, queue)


def test_64_levels_are_accepted(deliver: Deliver) -> None:
    body = b'{"zen": "z", "x":' + b"[" * 62 + b"]" * 62 + b"}"
    assert deliver("ping", body=body).json["outcome"] == "pong"


@pytest.mark.parametrize(
    "headers",
    [{"X-GitHub-Event": "Pull Request"}, {"X-GitHub-Delivery": "x" * 200}],
)
def test_malformed_event_headers_are_400(
    deliver: Deliver, redis: Redis, headers: dict[str, str]
) -> None:
    response = deliver("ping", example("ping", "payload.json"), headers=headers)
    assert response.status_code == 400
    assert list(rejected(redis)) == [("unverified", "invalid_header", "")]


def test_flask_answers_are_json_too(client: Any) -> None:
    for response in (client.get("/webhook"), client.get("/nowhere")):
        assert response.status_code in (404, 405)
        assert response.mimetype == "application/json" and response.json["error"]


def test_installation_with_the_database_down_is_503_and_forgotten(
    settings: Any, redis: Redis, queue: Queue, closed_port: int
) -> None:
    from provenfix.bot.webapp import create_app

    down = Database(
        f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/test",
        connect_args={"connect_timeout": 1},
    )
    app = create_app(settings, redis=redis, queue=queue, db=down)
    payload = example("installation", "created.payload.json")
    response = Deliver(app.test_client())("installation", payload, delivery="db-down")
    assert response.status_code == 503
    assert response.json == {"error": "database unavailable, redeliver later"}
    assert not delivery_keys(redis)  # GitHub's redelivery will be handled


# --- check_run ----------------------------------------------------------------------------------


def test_check_run_rerequested_runs_again(deliver: Deliver, queue: Queue, redis: Redis) -> None:
    payload = our_check_run("rerequested")
    response = deliver("check_run", payload)
    job_id = f"provenfix-{payload['repository']['id']}-5-{SHA_B}"
    assert response.status_code == 202
    assert response.json["job_ids"] == [job_id]
    assert queue.job_ids == [job_id]
    assert Job.fetch(job_id, connection=redis).args[0].trigger == "check_run.rerequested"


def test_rerun_button_runs_again(deliver: Deliver, queue: Queue) -> None:
    payload = our_check_run("requested_action")
    payload["requested_action"] = {"identifier": "provenfix-rerun"}
    assert deliver("check_run", payload).json["outcome"] == "enqueued"
    unknown = our_check_run("requested_action")  # the example's own identifier
    assert deliver("check_run", unknown).json["outcome"] == "ignored"
    assert queue.count == 1


def test_check_run_of_another_app_is_ignored(deliver: Deliver, queue: Queue) -> None:
    payload = example("check_run", "rerequested.payload.json")  # app id 2
    assert deliver("check_run", payload).json["outcome"] == "ignored"
    assert queue.count == 0


def test_check_run_from_a_fork_resolves_the_pull_request_by_external_id(
    deliver: Deliver, queue: Queue, redis: Redis
) -> None:
    payload = our_check_run("rerequested")
    payload["check_run"]["pull_requests"] = []
    repo_id = payload["repository"]["id"]
    payload["check_run"]["external_id"] = f"provenfix-{repo_id}-5-{SHA_B}"
    response = deliver("check_run", payload)
    assert response.json["outcome"] == "enqueued"
    (job,) = queue.jobs
    assert job.func_name == "provenfix.bot.rq_jobs.resolve_and_analyze"
    assert job.args[0].number == 5


def test_apply_button_enqueues_the_apply_job_with_what_it_needs(
    deliver: Deliver, queue: Queue, redis: Redis
) -> None:
    payload = our_check_run("requested_action")  # octokit's real example (electron/electron)
    payload["requested_action"] = {"identifier": "apply_all"}
    payload["sender"]["login"] = "electron"  # the repository's owner
    response = deliver("check_run", payload)
    assert response.status_code == 202
    assert (response.json["outcome"], response.json["write_access"]) == ("enqueued", True)
    (job,) = queue.jobs
    assert job.func_name == "provenfix.bot.apply_fixes.apply_proven_fixes"
    request = job.args[0]
    run = payload["check_run"]
    assert (request.number, request.head_sha, request.check_run_id) == (
        5,
        run["head_sha"],
        run["id"],
    )
    assert (request.owner, request.repo, request.app_slug) == (
        "electron",
        "electron",
        "electron-cation",
    )
    assert (request.sender, request.sender_id) == ("electron", payload["sender"]["id"])
    assert request.clone_url == payload["repository"]["clone_url"] and request.installation_id == 7
    assert job.id == f"provenfix-apply-{payload['repository']['id']}-5-{run['head_sha']}"
    # a second click while it waits is the same job
    assert deliver("check_run", payload).json["outcome"] == "duplicate_job"
    assert queue.count == 1


def test_apply_button_from_someone_else_leaves_the_check_to_the_job(
    deliver: Deliver, queue: Queue
) -> None:
    payload = our_check_run("requested_action")
    payload["requested_action"] = {"identifier": "apply_all"}  # sender: codebytere
    response = deliver("check_run", payload)
    assert (response.json["outcome"], response.json["write_access"]) == ("enqueued", False)
    assert queue.jobs[0].args[0].write_access is False


def test_apply_button_on_a_fork_names_the_pull_request_by_external_id(
    deliver: Deliver, queue: Queue
) -> None:
    payload = our_check_run("requested_action")
    payload["requested_action"] = {"identifier": "apply_all"}
    payload["check_run"]["pull_requests"] = []
    payload["check_run"]["external_id"] = f"provenfix-{payload['repository']['id']}-9-{SHA_B}"
    assert deliver("check_run", payload).json["outcome"] == "enqueued"
    assert queue.jobs[0].args[0].number == 9
    bot = our_check_run("requested_action")
    bot["requested_action"] = {"identifier": "apply_all"}
    bot["sender"]["type"] = "Bot"
    assert deliver("check_run", bot).json["outcome"] == "ignored"
    unknown = our_check_run("requested_action")
    unknown["requested_action"] = {"identifier": "apply_all"}
    unknown["check_run"]["pull_requests"] = []  # and no external_id
    assert deliver("check_run", unknown).json["outcome"] == "ignored"
    assert queue.count == 1


# --- issue_comment commands -------------------------------------------------------------------


@pytest.mark.parametrize("association", ["NONE", "CONTRIBUTOR", "FIRST_TIME_CONTRIBUTOR"])
def test_command_from_a_non_collaborator_is_refused(
    deliver: Deliver, queue: Queue, db: Database, association: str
) -> None:
    for body in ("/provenfix ignore eq-none", "/provenfix analyze"):
        response = deliver("issue_comment", issue_comment_event(body, association))
        assert response.status_code == 202
        assert response.json["outcome"] == "refused"
    assert queue.count == 0
    with db.session() as s:
        assert s.scalars(select(IgnoredRule)).all() == []


def test_ignore_command_is_recorded_per_repository(
    deliver: Deliver, db: Database, queue: Queue
) -> None:
    payload = issue_comment_event("/provenfix ignore eq-none\n\nnoisy here", "COLLABORATOR")
    response = deliver("issue_comment", payload)
    assert response.json["outcome"] == "recorded" and response.json["new"] is True
    again = deliver("issue_comment", issue_comment_event("/provenfix ignore eq-none", "OWNER"))
    assert again.json["new"] is False
    assert db.ignored_rules(REPO_ID) == {"eq-none"}
    assert db.ignored_rules(REPO_ID + 1) == frozenset()
    reactions = [job.args[0].content for job in queue.jobs]
    assert reactions == ["+1", "+1"]  # each command is acknowledged on its comment


def test_analyze_command_enqueues_a_lookup_of_the_head(deliver: Deliver, queue: Queue) -> None:
    payload = issue_comment_event("/provenfix analyze", "MEMBER")
    response = deliver("issue_comment", payload)
    assert response.json["outcome"] == "enqueued"
    job, reaction = queue.jobs
    assert reaction.func_name == "provenfix.bot.rq_jobs.react_to_comment"
    assert reaction.args[0] == CommentReaction(
        1, "Codertocat", "Hello-World", payload["comment"]["id"], "eyes"
    )
    assert job.func_name == "provenfix.bot.rq_jobs.resolve_and_analyze"
    assert job.args[0] == PullRequestTarget(
        installation_id=1,
        repository_id=REPO_ID,
        owner="Codertocat",
        repo="Hello-World",
        number=1,
        default_branch="master",
        clone_url="https://github.com/Codertocat/Hello-World.git",
        trigger="issue_comment.analyze",
        delivery_id=job.args[0].delivery_id,
        sender="Codertocat",
        delivered_at=job.args[0].delivered_at,
    )


@pytest.mark.parametrize(
    "payload",
    [
        issue_comment_event("You are totally right! /provenfix analyze", "OWNER"),
        issue_comment_event("/provenfix analyze", "OWNER", on_pull_request=False),
        issue_comment_event("/provenfix ignore", "OWNER"),
        issue_comment_event("/provenfix frobnicate", "OWNER"),
        example("issue_comment", "created.payload.json"),
    ],
)
def test_other_comments_are_ignored(deliver: Deliver, queue: Queue, payload: Any) -> None:
    response = deliver("issue_comment", payload)
    assert response.status_code == 202 and response.json["outcome"] == "ignored"
    assert queue.count == 0


def test_permission_policy_is_pluggable(
    settings: Any, redis: Redis, queue: Queue, db: Database
) -> None:
    from provenfix.bot.webapp import CollaboratorPermissionPolicy, create_app

    asked: list[tuple[str, str]] = []

    def permission_of(repo: str, login: str) -> str:
        asked.append((repo, login))
        return "read"

    app = create_app(
        settings, redis=redis, queue=queue, db=db,
        permissions=CollaboratorPermissionPolicy(permission_of),
    )  # fmt: skip
    response = Deliver(app.test_client())(
        "issue_comment", issue_comment_event("/provenfix analyze", "MEMBER")
    )
    assert response.json["outcome"] == "refused"
    assert asked == [("Codertocat/Hello-World", "Codertocat")]


# --- installations -----------------------------------------------------------------------------


def test_installation_created_and_deleted_are_recorded(deliver: Deliver, db: Database) -> None:
    created = example("installation", "created.payload.json")
    assert deliver("installation", created).json["outcome"] == "recorded"
    iid = created["installation"]["id"]
    with db.session() as s:
        inst = s.get(Installation, iid)
        assert inst is not None and inst.deleted_at is None
        assert inst.account_login == created["installation"]["account"]["login"]
        repos = s.scalars(select(Repository).where(Repository.installation_id == iid)).all()
        assert {r.full_name for r in repos} == {r["full_name"] for r in created["repositories"]}
        assert all(r.active for r in repos)
    deleted = example("installation", "deleted.payload.json")
    deleted["installation"]["id"] = iid  # the examples come from two installations
    assert deliver("installation", deleted).json["outcome"] == "recorded"
    with db.session() as s:
        inst = s.get(Installation, iid)
        assert inst is not None and inst.deleted_at is not None


def test_installation_repositories_are_recorded(deliver: Deliver, db: Database) -> None:
    payload = example("installation_repositories", "added.payload.json")
    payload["repositories_removed"] = [
        {"id": 1, "node_id": "x", "name": "old", "full_name": "octo/old", "private": False}
    ]
    response = deliver("installation_repositories", payload)
    assert response.json == response.json | {"outcome": "recorded", "removed": 1}
    with db.session() as s:
        added = payload["repositories_added"][0]
        row = s.get(Repository, added["id"])
        assert row is not None and row.active and row.full_name == added["full_name"]
        removed = s.get(Repository, 1)
        assert removed is not None and not removed.active and removed.removed_at is not None


# --- health and metrics ---------------------------------------------------------------------


def test_healthz_up(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "failed": [], "redis": "ok", "database": "ok"}


def test_healthz_reports_workers_on_request_without_failing(
    client: Any, redis: Redis, queue: Queue
) -> None:
    """A web-only check never flaps with the workers: they are reported, not required."""
    response = client.get("/healthz?workers=1")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "failed": [],
        "redis": "ok",
        "database": "ok",
        "workers": {"registered": 0, "seen": 0, "busy": 0, "last_heartbeat": None},
        "degraded": ["workers"],
    }
    worker = Worker([queue], connection=redis)
    worker.register_birth()
    workers = client.get("/healthz?workers=1").json
    assert workers["workers"] | {"last_heartbeat": None} == {
        "registered": 1,
        "seen": 1,
        "busy": 0,
        "last_heartbeat": None,
    }
    assert workers["degraded"] == [] and workers["workers"]["last_heartbeat"]
    # silent for more than a minute (killed, hung): registered until its key expires
    redis.hset(worker.key, "last_heartbeat", "2020-01-01T00:00:00.000000Z")
    silent = client.get("/healthz?workers=1")
    assert silent.status_code == 200 and silent.json["status"] == "ok"
    assert (silent.json["workers"]["registered"], silent.json["workers"]["seen"]) == (1, 0)
    assert silent.json["degraded"] == ["workers"]
    assert silent.json["workers"]["last_heartbeat"].startswith("2020-01-01T00:00:00")
    worker.register_death()
    assert client.get("/healthz?workers=1").json["workers"]["registered"] == 0
    assert client.get("/healthz").json == {
        "status": "ok",
        "failed": [],
        "redis": "ok",
        "database": "ok",
    }


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]  # bound, never listening: connections are refused


def test_healthz_with_redis_down(settings: Any, db: Database, closed_port: int) -> None:
    from provenfix.bot.webapp import create_app
    from provenfix.bot.wsgi import web_redis

    down = web_redis(f"redis://127.0.0.1:{closed_port}/0")
    app = create_app(settings, redis=down, queue=Queue("q", connection=down), db=db)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["failed"] == ["redis"]
    assert response.json["database"] == "ok"
    assert response.json["redis"].startswith("unreachable")
    assert app.test_client().get("/metrics").status_code == 503
    response = Deliver(app.test_client())("pull_request", pull_request_event())
    assert response.status_code == 503  # GitHub shows the failed delivery; redeliver later


def test_healthz_with_database_down(
    settings: Any, redis: Redis, queue: Queue, closed_port: int
) -> None:
    from provenfix.bot.webapp import create_app

    down = Database(
        f"postgresql+psycopg://postgres@127.0.0.1:{closed_port}/test",
        connect_args={"connect_timeout": 1},
    )
    app = create_app(settings, redis=redis, queue=queue, db=down)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["failed"] == ["database"] and response.json["redis"] == "ok"
