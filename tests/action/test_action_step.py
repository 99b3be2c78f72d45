"""The Action's step run as a runner runs it: a subprocess with the runner's variables, a
recorded `pull_request` event, a shallow checkout, the GitHub stand-in as api.github.com.

Real git, real semgrep, real tests of the analyzed repository (sandbox mode none: the
tests run with this Python; tests/action/test_action_docker.py uses the Docker sandbox).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from action_support import (
    NAME,
    NUMBER,
    OWNER,
    MakeRunner,
    basic_header,
    env_probe,
    files_containing,
)
from github_standin import GitHubStandIn
from repo_support import PROJECT_ROOT, GitRepo
from stats_repo import RULE

PROVENFIX = PROJECT_ROOT / ".venv" / "bin" / "provenfix"
NO_DOCKER = "unix:///nonexistent/docker.sock"
ANNOTATION = re.compile(
    r"^::notice file=stats\.py,line=(\d+),endLine=\d+,title=ProvenFix%3A "
    + re.escape(RULE)
    + r"::(.*)$",
    re.MULTILINE,
)


def step_requests(standin: GitHubStandIn) -> list[str]:
    """The API requests the step made (minting the test's token is the App's, with a JWT)."""
    return [f"{r.method} {r.path}" for r in standin.requests if r.auth != "jwt"]


def suggestion_comments(standin: GitHubStandIn) -> list[dict[str, object]]:
    return [c for c in standin.review_comments if "```suggestion" in str(c["body"])]


def test_pull_request_gets_the_apps_check_run_and_one_review(
    make_runner: MakeRunner,
    github_standin: GitHubStandIn,
    token: str,
    report_validator: object,
    tmp_path: Path,
) -> None:
    seen_by_tests = tmp_path / "environment-seen-by-the-tests.jsonl"
    runner = make_runner({"tests/test_environment.py": env_probe(seen_by_tests)})
    sarif_path = runner.root / "results" / "provenfix.sarif"
    inputs = {
        "token": token,
        "sandbox": "none",
        "sarif-output": str(sarif_path),
        "bot-login": github_standin.bot_login,
    }
    result = runner.run(inputs)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr

    head = runner.event["pull_request"]["head"]["sha"]
    # the checkout had only the base's tip: the step fetched the head (with the token)
    assert "fetch: octo/stats#1" in result.stderr
    assert github_standin.git_requests and all(r.status == 200 for r in github_standin.git_requests)

    # the outputs, the JSON report (schema-valid) and the SARIF file
    outputs = result.outputs
    assert set(outputs) == {"findings", "proven", "report", "sarif", "published"}
    assert outputs["published"] == "true" and outputs["sarif"] == str(sarif_path)
    report = json.loads(Path(outputs["report"]).read_text())
    report_validator(report)  # type: ignore[operator]
    assert outputs["findings"] == str(report["summary"]["findings"])
    assert RULE in {f["rule_id"] for f in report["findings"]}
    assert int(outputs["proven"]) == report["summary"]["suggestions_validated"] >= 1
    sarif = json.loads(sarif_path.read_text())
    assert sarif["version"] == "2.1.0"
    assert RULE in {r["ruleId"] for r in sarif["runs"][0]["results"]}

    # the App's check run and review, on the event's head commit
    (check,) = github_standin.check_runs
    assert (check.name, check.head_sha, check.status) == ("ProvenFix", head, "completed")
    severities = {f["severity"] for f in report["findings"]}
    assert check.conclusion == ("failure" if "error" in severities else "neutral")
    assert check.updates >= 3  # progress per stage, then the result
    assert "## ProvenFix analysis" in str(check.summary)
    (review,) = github_standin.reviews
    assert review["commit_id"] == head
    (comment,) = suggestion_comments(github_standin)
    assert comment["path"] == "stats.py" and "value is None" in str(comment["body"])

    # the job summary: the report and where each suggestion went; no annotations needed
    assert "## ProvenFix analysis" in result.summary
    assert f"Posted on [#{NUMBER}]" in result.summary
    assert f"#discussion_r{comment['id']}" in result.summary
    assert ANNOTATION.search(result.stdout) is None

    # the token: in no output, log, file of the runner (.git/config included), nor the
    # environment the analyzed repository's tests ran with
    assert token not in result.all_text()
    assert files_containing(runner.root, token) == []
    environments = [json.loads(line) for line in seen_by_tests.read_text().splitlines()]
    assert environments and all(
        token not in json.dumps(e) and not any("TOKEN" in k for k in e) for e in environments
    )

    # the same push once more, through the console script, gating on `info` (the rule's
    # severity, an annotation level `notice`): the finding
    # already has its comment, so there is a second check run but no second review
    again = runner.run({**inputs, "fail-on": "info"}, command=[str(PROVENFIX), "action"])
    assert again.returncode == 3, again.stdout + again.stderr
    assert len(github_standin.check_runs) == 2 and len(github_standin.reviews) == 1
    assert len(suggestion_comments(github_standin)) == 1
    assert "already suggested on an earlier push" in again.summary


def test_fork_pull_request_degrades_to_summary_and_annotations(
    make_runner: MakeRunner, github_standin: GitHubStandIn, token: str
) -> None:
    runner = make_runner(head_repo="forker/stats")
    result = runner.run({"token": token, "sandbox": "none"})
    assert result.returncode == 0, result.stdout + result.stderr

    # nothing was even tried on the API: the fork's token could not write anyway
    assert step_requests(github_standin) == []
    assert github_standin.check_runs == [] and github_standin.reviews == []
    assert result.outputs["published"] == "false" and int(result.outputs["proven"]) >= 1
    assert "::warning::ProvenFix did not post on the pull request: this pull request comes " \
        "from a fork (forker/stats)" in result.stdout  # fmt: skip

    # the finding is annotated on the diff, pointing at the fix in the job summary
    match = ANNOTATION.search(result.stdout)
    assert match is not None, result.stdout
    assert int(match.group(1)) == 9  # `result = value == None` in the head's stats.py
    assert "A fix proven by the tests is in the job summary." in match.group(2).replace("%0A", " ")
    assert "Not posted on the pull request: this pull request comes from a fork" in result.summary
    assert "### Proven fixes not on the diff" in result.summary and "```diff" in result.summary
    assert "+    result = value is None" in result.summary
    assert token not in result.all_text()


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (403, "Resource not accessible by integration", "checks: write"),
        (502, "Server Error", "GitHub"),
    ],
)
def test_check_run_refused_degrades_without_failing(
    make_runner: MakeRunner,
    github_standin: GitHubStandIn,
    token: str,
    status: int,
    message: str,
    expected: str,
) -> None:
    runner = make_runner()
    github_standin.fail_next(
        1,
        status,
        match=rf"^POST /repos/{OWNER}/{NAME}/check-runs$",
        body={"message": message, "documentation_url": "https://docs.github.com/rest"},
    )
    result = runner.run({"token": token, "sandbox": "none"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    warning = next(
        line for line in result.stdout.splitlines() if line.startswith("::warning::ProvenFix")
    )
    assert "the check run could not be created" in warning and expected in warning
    if status == 403:
        assert message in warning
    assert github_standin.check_runs == [] and github_standin.reviews == []
    assert result.outputs["published"] == "false"
    assert Path(result.outputs["report"]).is_file()  # the report is written regardless
    assert ANNOTATION.search(result.stdout) is not None
    assert "Not posted on the pull request" in result.summary
    assert token not in result.all_text()


def test_review_refused_keeps_the_check_run_and_says_which_permission(
    make_runner: MakeRunner, github_standin: GitHubStandIn, token: str
) -> None:
    """`checks: write` granted, `pull-requests: write` not: the check run carries the fix."""
    runner = make_runner()
    github_standin.fail_next(
        1,
        403,
        match=rf"^POST /repos/{OWNER}/{NAME}/pulls/{NUMBER}/reviews$",
        body={"message": "Resource not accessible by integration"},
    )
    result = runner.run({"token": token, "sandbox": "none"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(
        r"^::warning::ProvenFix: The review could not be posted: .*403.*pull-requests: write",
        result.stdout,
        re.M,
    )
    (check,) = github_standin.check_runs
    assert check.status == "completed" and "Apply it by hand" in str(check.summary)
    assert github_standin.reviews == [] and result.outputs["published"] == "true"
    assert "the review could not be posted" in result.summary


def test_rate_limit_on_the_review_is_one_clear_line(
    make_runner: MakeRunner, github_standin: GitHubStandIn, token: str
) -> None:
    runner = make_runner()
    github_standin.rate_limit_next(
        1, retry_after=3600, reset_in=3600, match=rf"^POST /repos/{OWNER}/{NAME}/pulls/1/reviews$"
    )
    result = runner.run({"token": token, "sandbox": "none"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert re.search(
        r"^::warning::ProvenFix did not post .*rate limit.*resets at", result.stdout, re.M
    )
    # the check run the step started does not hang "in progress": it says what happened
    (check,) = github_standin.check_runs
    assert (check.status, check.conclusion) == ("completed", "neutral")
    assert "rate limit" in str(check.summary)
    assert github_standin.reviews == []
    assert result.outputs["published"] == "false" and Path(result.outputs["report"]).is_file()
    assert ANNOTATION.search(result.stdout) is not None


def test_persisted_checkout_header_is_replaced_and_auto_without_docker_proves_nothing(
    make_runner: MakeRunner, github_standin: GitHubStandIn, token: str
) -> None:
    """actions/checkout persists `http.<server>/.extraheader` in .git/config; a stale one
    (another token) must not be sent along with, or instead of, the step's token. And
    `sandbox: auto` on a runner without Docker analyzes without proving, and says so."""
    stale = basic_header("ghs_" + "stale0" * 6)
    runner = make_runner(persisted_header=stale)
    config_before = (runner.checkout / ".git" / "config").read_text()
    result = runner.run({"token": token, "sandbox": "auto"}, extra_env={"DOCKER_HOST": NO_DOCKER})
    assert result.returncode == 0, result.stdout + result.stderr
    assert github_standin.git_requests and all(r.status == 200 for r in github_standin.git_requests)
    assert (runner.checkout / ".git" / "config").read_text() == config_before
    checkout = GitRepo(runner.checkout)
    head = runner.event["pull_request"]["head"]["sha"]
    assert checkout.git("cat-file", "-t", head) == "commit"
    assert checkout.git("rev-parse", "--is-shallow-repository") == "false"
    assert files_containing(runner.root, token) == []

    assert "::notice::ProvenFix: Docker is not available on this runner" in result.stdout
    assert int(result.outputs["findings"]) >= 1 and result.outputs["proven"] == "0"
    (check,) = github_standin.check_runs  # published: the check run, with nothing proven...
    assert check.status == "completed" and "no proven fix" in str(check.title)
    assert github_standin.reviews == []  # ...so no review


def test_bad_model_or_unreachable_docker_stop_before_anything_is_posted(
    make_runner: MakeRunner, github_standin: GitHubStandIn, token: str
) -> None:
    runner = make_runner()
    bad_model = runner.run({"token": token, "model": "no-such-model", "sandbox": "none"})
    assert bad_model.returncode == 2, bad_model.stdout + bad_model.stderr
    assert "::error::ProvenFix: input `model` 'no-such-model' is neither" in bad_model.stdout
    no_docker = runner.run(
        {"token": token, "sandbox": "docker"}, extra_env={"DOCKER_HOST": NO_DOCKER}
    )
    assert no_docker.returncode == 2, no_docker.stdout + no_docker.stderr
    assert "::error::ProvenFix: sandbox: docker, but the Docker engine" in no_docker.stdout
    assert "could not analyze" in no_docker.summary and no_docker.outputs == {}
    assert github_standin.check_runs == []
    assert "Traceback" not in bad_model.stderr + no_docker.stderr


def test_pull_request_target_never_runs_the_pull_requests_code(
    make_runner: MakeRunner, github_standin: GitHubStandIn, token: str
) -> None:
    runner = make_runner()
    result = runner.run(
        {"token": token, "sandbox": "none"},
        extra_env={"GITHUB_EVENT_NAME": "pull_request_target"},
    )
    assert result.returncode == 2
    assert result.stdout.startswith("::error::ProvenFix: on `pull_request_target`")
    assert "could not analyze" in result.summary
    assert step_requests(github_standin) == [] and github_standin.git_requests == []


def test_other_events_are_a_notice_and_success(
    make_runner: MakeRunner, github_standin: GitHubStandIn, token: str
) -> None:
    runner = make_runner()
    push = {"ref": "refs/heads/main", "after": runner.event["pull_request"]["base"]["sha"]}
    result = runner.run({"token": token}, event=push, extra_env={"GITHUB_EVENT_NAME": "push"})
    assert result.returncode == 0
    assert result.stdout.startswith("::notice::ProvenFix analyzes pull requests")
    assert "triggered by `push`" in result.summary
    assert result.outputs == {}
    assert step_requests(github_standin) == []
