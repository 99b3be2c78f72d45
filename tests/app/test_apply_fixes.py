"""The "Apply proven fixes" button end to end: the check run offers it only when there is
a proven fix and the installation may push; a `check_run.requested_action` delivery
(octokit's real example, refilled by the stand-in and checked against its schema)
enqueues the job; a real rq worker commits the fixes and pushes them over git smart
HTTP (the stand-in's `git http-backend`, receive-pack allowed for tokens with
Contents: write only); the check run says what happened."""

from __future__ import annotations

from typing import Any

from app_support import SECRET
from e2e_support import CONFIG, fast_context, work
from flask.testing import FlaskClient
from github_standin.server import GitHubStandIn
from redis import Redis
from repo_support import GitRepo
from rq import Queue
from rq.job import Job, JobStatus
from stats_repo import RULE

from provenfix.bot.check_summary import APPLY_ACTION_ID
from provenfix.bot.db import Database
from provenfix.bot.github_api import GitHubApp
from provenfix.bot.job_context import installed_context
from provenfix.bot.job_requests import analysis_job_id
from provenfix.bot.publish import Publisher, PullRequestRef


def deliver(standin: GitHubStandIn, web: FlaskClient, event: str, payload: Any) -> Any:
    body, headers = standin.webhook_request(event, payload, SECRET)
    response = web.post("/webhook", data=body, headers=headers)
    assert response.status_code in (200, 202), response.json
    return response.json


def finished(redis: Redis, job_id: str) -> Any:
    job = Job.fetch(job_id, connection=redis)
    assert job.get_status() == JobStatus.FINISHED, job.latest_result().exc_string  # type: ignore[union-attr]
    return job.return_value()


def test_the_button_commits_every_proven_fix_and_the_next_push_marks_them_applied(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    repo: GitRepo,
    web: FlaskClient,
    app_env: dict[str, str],
    redis: Redis,
    queue: Queue,
    db: Database,
) -> None:
    standin.installation_permissions["contents"] = "write"
    opened = standin.open_pull("octo", "stats", 1, "main", "pr")
    head = opened["pull_request"]["head"]["sha"]
    analysis = deliver(standin, web, "pull_request", opened)
    with installed_context(fast_context(app_env, github_app)):
        work(queue)
        assert finished(redis, analysis["job_id"])["proven"] == 1
        (check,) = standin.check_runs
        assert check.external_id == analysis["job_id"]  # the job id names the run
        assert [a["identifier"] for a in check.actions] == [APPLY_ACTION_ID]
        assert all(len(a["label"]) <= 20 for a in check.actions)

        # the repository's owner presses it
        pressed = standin.requested_action(
            "octo", "stats", check.id, APPLY_ACTION_ID, sender="octo"
        )
        answer = deliver(standin, web, "check_run", pressed)
        assert (answer["outcome"], answer["write_access"]) == ("enqueued", True)
        again = deliver(standin, web, "check_run", pressed | {})  # a second click meanwhile
        assert again["outcome"] == "duplicate_job"
        work(queue)
        result = finished(redis, answer["job_id"])
        assert (result["outcome"], result["count"]) == ("applied", 1)

        pushed = repo.git("rev-parse", "pr")
        assert pushed == result["sha"] and repo.git("rev-parse", "pr^") == head
        assert "value is None" in repo.git("show", "pr:stats.py")
        assert repo.git("show", "pr:" + CONFIG) == f"rules:\n  disable: [{RULE}]"  # untouched
        author = repo.git("log", "-1", "--format=%an <%ae>", "pr")
        assert author == "provenfix[bot] <provenfix[bot]@users.noreply.github.com>"
        message = repo.git("log", "-1", "--format=%B", "pr")
        assert message.startswith("Apply 1 proven fix from ProvenFix")
        assert "Co-authored-by: octo <583231+octo@users.noreply.github.com>" in message
        assert f": {RULE} (reliability" in message
        (record,) = db.applications(opened["repository"]["id"], 1)
        assert (record.head_sha, record.pushed_sha, record.sender) == (head, pushed, "octo")
        assert record.suggestion_ids and record.left_out == ""
        pushes = [r for r in standin.git_requests if "receive-pack" in r.path]
        assert pushes and all(r.status == 200 for r in pushes)
        (check,) = standin.check_runs
        assert check.actions == []  # the button is gone
        assert (check.summary or "").startswith("> [!NOTE]\n> Applied 1 proven fix in")
        assert check.conclusion == "neutral"  # the analysis' verdict stands

        # GitHub announces the push; its analysis marks the old comment applied
        sync = standin.synchronize("octo", "stats", 1, before=head)
        assert sync["pull_request"]["head"]["sha"] == pushed
        deliver(standin, web, "pull_request", sync)
        work(queue)
    (comment,) = [c for c in standin.review_comments if "provenfix:finding" in c["body"]]
    assert comment["body"].startswith(f"✅ **Applied in `{pushed[:10]}`.**")
    assert "```suggestion" not in comment["body"]
    assert db.proven_fixes(opened["repository"]["id"], 1, pushed) == []


def test_the_button_refuses_what_it_cannot_do_and_says_why(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    github_client: Any,
    repo: GitRepo,
    web: FlaskClient,
    app_env: dict[str, str],
    redis: Redis,
    queue: Queue,
) -> None:
    """No pipeline here: each case stops before the fixes are read."""
    opened = standin.open_pull("octo", "stats", 1, "main", "pr")
    repo_id, head = opened["repository"]["id"], opened["pull_request"]["head"]["sha"]
    repo.checkout("main")
    repo.git("checkout", "-q", "-b", "forked")
    repo.commit({"stats.py": "x = 1\n"}, "from a fork")
    forked = standin.open_pull("octo", "stats", 2, "main", "forked", fork_owner="forker")

    def check_run(number: int, sha: str) -> int:
        publisher = Publisher(
            github_client,
            PullRequestRef("octo", "stats", number, sha, opened["pull_request"]["base"]["sha"]),
            bot_login=standin.bot_login,
            external_id=analysis_job_id(repo_id, number, sha),
        )
        return publisher.start()

    def press(number: int, sha: str, sender: str) -> tuple[dict[str, Any], str]:
        run_id = check_run(number, sha)
        payload = standin.requested_action("octo", "stats", run_id, APPLY_ACTION_ID, sender=sender)
        answer = deliver(standin, web, "check_run", payload)
        assert answer["outcome"] == "enqueued"
        work(queue)
        note = next(r.summary for r in standin.check_runs if r.id == run_id) or ""
        return finished(redis, answer["job_id"]), note

    with installed_context(fast_context(app_env, github_app)):
        # the installation cannot push (Contents: read, the default)
        result, note = press(1, head, "octo")
        assert result["outcome"] == "no_permission" and "Contents: write" in note

        standin.installation_permissions["contents"] = "write"
        # someone the policy does not vouch for, and who is not the pull request's author
        result, note = press(1, head, "mallory")
        assert result["outcome"] == "refused" and "@mallory" in note
        # a fork's pull request is found through the check run's external_id
        fork_head = forked["pull_request"]["head"]["sha"]
        result, note = press(2, fork_head, "octo")
        assert result["outcome"] == "fork" and "fork" in note
        # the branch moved on after the analysis
        repo.checkout("pr")
        repo.commit({"README.md": "stats\n"}, "docs")
        result, note = press(1, head, "octo")
        assert result["outcome"] == "moved" and "moved on" in note
    assert repo.git("log", "-1", "--format=%s", "pr") == "docs"  # nothing was pushed
    assert not [r for r in standin.git_requests if "receive-pack" in r.path]
