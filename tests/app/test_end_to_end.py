"""The whole App against the GitHub stand-in: signed webhook → web app → Redis → rq worker
(forked work horse) → installation token → contents API → git over HTTPS-style smart HTTP
→ the real pipeline (tests run with sandbox mode "none") → check run and review.

The stand-in (tests/github_standin) checks every request against GitHub's published
REST contract and authenticates like GitHub: JWT for /app, installation tokens for
the API, basic auth `x-access-token:<token>` for git.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from app_support import SECRET, example
from e2e_support import CONFIG, fast_context, work
from flask.testing import FlaskClient
from github_standin.server import GitHubStandIn
from github_standin.webhooks import retarget
from redis import Redis
from repo_support import GitRepo
from rq import Queue
from rq.job import Job, JobStatus
from sqlalchemy import select
from stats_repo import RULE

from provenfix.bot.db import Database, PostedSuggestion, Run
from provenfix.bot.git_remote import fetch_pull_request, token_text
from provenfix.bot.github_api import GitHubApp
from provenfix.bot.job_context import installed_context
from provenfix.bot.job_errors import JobFailed
from provenfix.bot.job_requests import JobRequest


def suggestion_comments(standin: GitHubStandIn) -> list[dict[str, object]]:
    return [c for c in standin.review_comments if "```suggestion" in str(c["body"])]


def test_pull_request_gets_a_check_run_and_one_review_and_no_duplicates(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    repo: GitRepo,
    web: FlaskClient,
    app_env: dict[str, str],
    redis: Redis,
    queue: Queue,
    db: Database,
) -> None:
    opened = standin.open_pull("octo", "stats", 1, "main", "pr")
    body, headers = standin.webhook_request("pull_request", opened, SECRET)
    response = web.post("/webhook", data=body, headers=headers)
    assert response.status_code == 202, response.json
    assert response.json["outcome"] == "enqueued"
    head = opened["pull_request"]["head"]["sha"]

    with installed_context(fast_context(app_env, github_app)):
        work(queue)
        job = Job.fetch(response.json["job_id"], connection=redis)
        assert job.get_status() == JobStatus.FINISHED, job.latest_result().exc_string  # type: ignore[union-attr]
        assert job.return_value()["proven"] >= 1  # type: ignore[index]

        (check,) = standin.check_runs
        assert (check.head_sha, check.status) == (head, "completed")
        assert check.conclusion in ("neutral", "success", "failure")
        assert check.updates >= 3  # progress per stage, then the result
        assert len(standin.reviews) == 1
        contents = [r for r in standin.requests if "/contents/" in r.path]
        assert [(r.path, r.query) for r in contents] == [
            (f"/repos/octo/stats/contents/{CONFIG}", {"ref": "main"})
        ]
        (comment,) = suggestion_comments(standin)
        assert comment["path"] == "stats.py"
        assert "value is None" in str(comment["body"])
        # the clone authenticated with the installation token, in a header
        assert any(r.status == 200 for r in standin.git_requests)

        # GitHub redelivers the same delivery, then sends the event again (new delivery id)
        again = web.post("/webhook", data=body, headers=headers)
        assert again.status_code == 200 and again.json["outcome"] == "duplicate_delivery"
        body2, headers2 = standin.webhook_request("pull_request", opened, SECRET)
        repeated = web.post("/webhook", data=body2, headers=headers2)
        assert repeated.json["outcome"] == "duplicate_job"
        work(queue)
        assert len(standin.check_runs) == 1 and len(standin.reviews) == 1

        # a newer push that leaves the finding in place: analyzed, but no second comment
        repo.checkout("pr")
        repo.commit({"README.md": "stats\n"}, "docs")
        sync = standin.synchronize("octo", "stats", 1, before=head)
        body3, headers3 = standin.webhook_request("pull_request", sync, SECRET)
        pushed = web.post("/webhook", data=body3, headers=headers3)
        assert pushed.json["outcome"] == "enqueued"
        work(queue)
        newer = Job.fetch(pushed.json["job_id"], connection=redis)
        assert newer.get_status() == JobStatus.FINISHED, newer.latest_result().exc_string  # type: ignore[union-attr]
        runs = standin.check_runs
        assert [r.head_sha for r in runs] == [head, sync["pull_request"]["head"]["sha"]]
        assert all(r.status == "completed" for r in runs)
        assert len(suggestion_comments(standin)) == 1  # the finding already has its comment
        assert len(standin.reviews) == 1  # nothing new: no second review
        assert [r.external_id for r in runs] == [job.id, newer.id]
        # the bot's login (`<slug>[bot]`) was read once, when the context was built
        assert [r.method for r in standin.requests if r.path == "/app"] == ["GET"]

    with db.session() as s:
        rows = s.scalars(select(Run).order_by(Run.id)).all()
        assert [(r.status, r.head_sha) for r in rows] == [
            ("completed", head),
            ("completed", sync["pull_request"]["head"]["sha"]),
        ]
        assert rows[0].check_run_id == runs[0].id and rows[0].suggestions_proven >= 1
        posted = s.scalars(select(PostedSuggestion)).all()
        assert [(p.run_id, p.path, p.committable) for p in posted] == [
            (rows[0].id, "stats.py", True)
        ]
        assert posted[0].comment_id == comment["id"]
        assert posted[0].rule_ids == RULE  # the rule behind the suggestion


def test_fetch_sends_the_token_in_a_header_and_never_stores_it(
    standin: GitHubStandIn, github_app: GitHubApp, repo: GitRepo, tmp_path: Path
) -> None:
    opened = standin.open_pull("octo", "stats", 1, "main", "pr")
    token = token_text(github_app.installation_token(standin.installation_id))
    pr = opened["pull_request"]
    request = JobRequest(
        installation_id=standin.installation_id,
        repository_id=opened["repository"]["id"],
        owner="octo",
        repo="stats",
        number=1,
        head_sha=pr["head"]["sha"],
        base_sha=pr["base"]["sha"],
        base_ref="main",
        default_branch="main",
        clone_url=opened["repository"]["clone_url"],
        trigger="test",
    )
    dest = fetch_pull_request(request, token, tmp_path / "clone")
    stored = "".join(p.read_text(errors="replace") for p in (dest / ".git").rglob("*config*"))
    assert token not in stored and "extraheader" not in stored.lower()
    assert "x-access-token" not in stored
    assert standin.git_requests and all(r.status == 200 for r in standin.git_requests)
    with pytest.raises(JobFailed, match=r"git fetch from .* failed") as failed:
        fetch_pull_request(request, None, tmp_path / "anonymous")
    assert token not in str(failed.value)


def test_commands_ignore_a_rule_then_analyze_again(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    repo: GitRepo,
    web: FlaskClient,
    app_env: dict[str, str],
    redis: Redis,
    queue: Queue,
    db: Database,
) -> None:
    """`/provenfix ignore <rule>` then `/provenfix analyze`: both acknowledged with
    reactions, and the analysis no longer reports the rule."""
    opened = standin.open_pull("octo", "stats", 1, "main", "pr")
    context = fast_context(app_env, github_app)
    client = context.github.installation_client(standin.installation_id)

    def command(text: str) -> dict[str, Any]:
        # a comment to react to (the stand-in lets only the App write comments)
        _, created = client.requester.requestJsonAndCheck(
            "POST", "/repos/octo/stats/issues/1/comments", input={"body": text}
        )
        payload = retarget(
            example("issue_comment", "created.with-installation.payload.json"),
            "octo/stats",
            1,
            standin.url,
        )
        payload["repository"].update(opened["repository"])
        payload["installation"] = {"id": standin.installation_id}
        payload["issue"]["number"] = 1
        payload["issue"]["pull_request"] = {"url": f"{standin.url}/repos/octo/stats/pulls/1"}
        payload["comment"].update(id=created["id"], body=text, author_association="OWNER")
        body, headers = standin.webhook_request("issue_comment", payload, SECRET)
        response = web.post("/webhook", data=body, headers=headers)
        assert response.status_code == 202, response.json
        return dict(response.json)

    assert command(f"/provenfix ignore {RULE}")["outcome"] == "recorded"
    assert command("/provenfix analyze")["outcome"] == "enqueued"
    with installed_context(context):
        work(queue)
    reactions = [
        (r.body["content"], r.status)
        for r in standin.requests
        if r.path.endswith("/reactions") and r.method == "POST"
    ]
    assert sorted(reactions) == [("+1", 201), ("eyes", 201)]
    job = Job.fetch(
        f"provenfix-{opened['repository']['id']}-1-{opened['pull_request']['head']['sha']}",
        connection=redis,
    )
    assert job.get_status() == JobStatus.FINISHED, job.latest_result().exc_string  # type: ignore[union-attr]
    assert job.args[0].trigger == "issue_comment.analyze"
    (check,) = standin.check_runs
    assert check.status == "completed"
    assert RULE not in f"{check.summary}{check.text}"
    assert standin.reviews == []  # the only fix was for the ignored rule
    assert db.ignored_rules(opened["repository"]["id"]) == {RULE}
