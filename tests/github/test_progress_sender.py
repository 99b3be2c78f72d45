"""bot.progress_sender with the real Publisher against the GitHub stand-in.

A gate between the sender and the Publisher (the PublisherLike seam) holds an update
in flight for as long as a test needs, so that what arrives while it is in flight,
and what `close()` waits for, is deterministic.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from typing import Any

import pytest
from github_standin import GitHubStandIn
from github_support import report
from repo_support import MakeRepo

from provenfix.bot.github_api import GitHubApp, RetryPolicy
from provenfix.bot.progress_sender import ProgressSender
from provenfix.bot.publish import Publisher, PullRequestRef

OWNER, NAME, NUMBER = "acme", "gauge", 3
CHECK_RUN_PATCH = r"^PATCH /repos/acme/gauge/check-runs/"


class GatedSink:
    """Hands each progress update to the real Publisher once the test opens the gate."""

    def __init__(self, publisher: Publisher) -> None:
        self.publisher = publisher
        self.entered = threading.Event()  # an update is in flight, held at the gate
        self.gate = threading.Event()

    def progress(self, check_run_id: int, text: str) -> None:
        self.entered.set()
        assert self.gate.wait(10), "the test never opened the gate"
        self.publisher.progress(check_run_id, text)


@pytest.fixture
def pull(github_standin: GitHubStandIn, make_repo: MakeRepo) -> PullRequestRef:
    repo = make_repo({"gauge.py": "x = 1\n"}, {"gauge.py": "x = 2\n"})
    github_standin.add_repo(OWNER, NAME, repo.path, "main")
    github_standin.open_pull(OWNER, NAME, NUMBER, "main", "pr")
    head = github_standin.head_sha(OWNER, NAME, NUMBER)
    return PullRequestRef(OWNER, NAME, NUMBER, head, repo.git("rev-parse", "main"))


@pytest.fixture
def publisher(github_standin: GitHubStandIn, pull: PullRequestRef) -> Publisher:
    """The production client's pacing (writes spaced apart), shortened to 0.2 s."""
    app = GitHubApp(
        github_standin.app_id,
        github_standin.private_key_pem,
        base_url=github_standin.url,
        retry=RetryPolicy(total=2, backoff_factor=0.01, max_rate_limit_wait=5),
        seconds_between_requests=0,
        seconds_between_writes=0.2,
    )
    client = app.installation_client(github_standin.installation_id)
    return Publisher(client, pull, bot_login=github_standin.bot_login)


def check_run_writes(standin: GitHubStandIn) -> list[dict[str, Any]]:
    """The bodies of the check-run updates the stand-in answered, in arrival order."""
    return [
        r.body
        for r in standin.requests
        if r.method == "PATCH" and "/check-runs/" in r.path and r.status == 200
        if isinstance(r.body, dict)
    ]


def progress_lines(body: dict[str, Any]) -> list[str]:
    summary = str(body["output"]["summary"])
    return [line[2:] for line in summary.splitlines() if line.startswith("- ")]


def test_texts_that_arrive_meanwhile_are_coalesced_and_the_last_one_precedes_completion(
    github_standin: GitHubStandIn, publisher: Publisher
) -> None:
    run_id = publisher.start()
    sink = GatedSink(publisher)
    with ProgressSender(sink, run_id, label="job-1") as sender:
        sender.send("fetch: acme/gauge#3")
        assert sink.entered.wait(10)
        started = time.monotonic()
        for text in ("diff: 1 file changed", "analyze: 0 findings", "validate: nothing to do"):
            sender.send(text)  # never waits for GitHub, even with an update in flight
        assert time.monotonic() - started < 1
        sink.gate.set()
    # leaving the block normally sent the latest text and waited for its answer
    writes = check_run_writes(github_standin)
    assert [progress_lines(w) for w in writes] == [
        ["fetch: acme/gauge#3"],
        ["fetch: acme/gauge#3", "validate: nothing to do"],
    ]
    assert all(w["status"] == "in_progress" for w in writes)

    publisher.finish(run_id, report())

    [check] = github_standin.check_runs
    assert (check.status, check.conclusion) == ("completed", "success")
    final = check_run_writes(github_standin)[-1]
    assert "conclusion" in final and len(check_run_writes(github_standin)) == 3


def test_close_waits_for_the_update_in_flight_so_a_stale_one_never_follows_completion(
    github_standin: GitHubStandIn, publisher: Publisher
) -> None:
    run_id = publisher.start()
    sink = GatedSink(publisher)
    sender = ProgressSender(sink, run_id, label="job-2")
    sender.send("validate: 1 of 2 candidates")
    assert sink.entered.wait(10)
    sender.send("validate: 2 of 2 candidates")  # waiting: dropped by close(send_pending=False)

    def fail_the_check_run() -> None:
        sender.close(send_pending=False)
        publisher.fail(run_id, "the sandbox ran out of memory")

    failing = threading.Thread(target=fail_the_check_run)
    failing.start()
    failing.join(0.5)
    assert failing.is_alive(), "close() returned with an update still in flight"
    assert check_run_writes(github_standin) == []
    sink.gate.set()
    failing.join(10)
    assert not failing.is_alive()

    writes = check_run_writes(github_standin)
    assert [w.get("status") for w in writes] == ["in_progress", None]
    assert progress_lines(writes[0]) == ["validate: 1 of 2 candidates"]
    assert writes[1]["conclusion"] == "neutral"
    [check] = github_standin.check_runs
    assert (check.status, check.conclusion) == ("completed", "neutral")
    assert "ran out of memory" in (check.summary or "")
    sender.send("validate: too late")  # after close: ignored
    time.sleep(0.3)
    assert len(check_run_writes(github_standin)) == 2


def test_github_errors_and_rate_limits_are_logged_not_raised_and_tokens_stay_out(
    github_standin: GitHubStandIn, publisher: Publisher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    run_id = publisher.start()
    github_standin.fail_next(3, 502, match=CHECK_RUN_PATCH)  # the try and both retries
    with ProgressSender(publisher, run_id, label="job-3") as sender:
        sender.send("fetch: acme/gauge#3")
        deadline = time.monotonic() + 10
        while "progress not shown" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "job-3: progress not shown: GitHub" in caplog.text
        sender.send("diff: 1 file changed")  # the sender goes on after a failure
        deadline = time.monotonic() + 10
        while not check_run_writes(github_standin) and time.monotonic() < deadline:
            time.sleep(0.02)
        [shown] = check_run_writes(github_standin)
        assert progress_lines(shown)[-1] == "diff: 1 file changed"

        # longer than the client may wait in-process: RateLimited, which pauses the sender
        github_standin.rate_limit_next(1, retry_after=600, match=CHECK_RUN_PATCH)
        sender.send("analyze: 0 findings")
        deadline = time.monotonic() + 10
        while "progress paused" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.02)
        assert re.search(r"job-3: progress paused for (599|600) s: GitHub rate limit", caplog.text)
        sender.send("validate: nothing to do")  # held by the pause, then dropped at close
        closing = time.monotonic()
    assert time.monotonic() - closing < 1  # a paused sender does not hold the job up
    assert len(check_run_writes(github_standin)) == 1

    publisher.finish(run_id, report())
    [check] = github_standin.check_runs
    assert check.status == "completed"
    assert github_standin.issued_tokens
    for token in github_standin.issued_tokens:
        assert token not in caplog.text
