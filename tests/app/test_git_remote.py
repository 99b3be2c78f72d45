"""No argument injection where the App calls git: every sha, ref and clone URL that comes
from a webhook payload or the API is checked before a git process sees it.

The hostile value of the report: a clone URL `file://…` and a head sha
`--upload-pack=<command>`. Without the checks, `git fetch origin <sha>` parses the sha
as an option and runs the command (the control below shows it on this machine's git);
with them, nothing runs. Each call site is tested: bot.git_remote.fetch_pull_request
(the analysis) and bot.apply_fixes (the "Apply proven fixes" job, whose head branch
comes from the pulls API). actions/checkout.py has its own in tests/action.
"""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from e2e_support import fast_context, work
from github_standin import GitHubStandIn
from redis import Redis
from repo_support import GitRepo, MakeRepo
from rq import Queue
from rq.job import Job, JobStatus

from provenfix.bot.git_remote import (
    GitOrigin,
    UnsafeGitArgument,
    checked_ref,
    checked_sha,
    fetch_pull_request,
    token_text,
)
from provenfix.bot.github_api import GitHubApp
from provenfix.bot.job_context import installed_context
from provenfix.bot.job_requests import ApplyRequest, JobRequest
from provenfix.bot.queue import AnalysisQueue


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    """An executable that leaves `marker` behind when git runs it as its upload-pack."""
    marker = tmp_path / "pwned"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    script.chmod(0o755)
    return script, marker


def a_request(repo: GitRepo, **changes: Any) -> JobRequest:
    request = JobRequest(
        installation_id=77,
        repository_id=555,
        owner="octo",
        repo="shop",
        number=2,
        head_sha=repo.git("rev-parse", "pr"),
        base_sha=repo.git("rev-parse", "main"),
        base_ref="main",
        default_branch="main",
        clone_url=f"file://{repo.path}",
        trigger="test",
    )
    return replace(request, **changes)


@pytest.fixture
def shop(make_repo: MakeRepo) -> GitRepo:
    repo = make_repo({"shop.py": "x = 1\n"}, {"shop.py": "x = 2\n"})
    repo.git("update-ref", "refs/pull/2/head", "pr")
    return repo


def test_the_reported_upload_pack_injection_runs_nothing(
    shop: GitRepo, evil: tuple[Path, Path], tmp_path: Path
) -> None:
    script, marker = evil
    hostile = f"--upload-pack={script}"
    # control: git itself takes the "sha" for an option and runs the command
    control = tmp_path / "control"
    subprocess.run(["git", "init", "-q", str(control)], check=True)
    subprocess.run(
        ["git", "-C", str(control), "fetch", "--quiet", f"file://{shop.path}", hostile],
        capture_output=True,
        check=False,
    )
    assert marker.exists(), "the control should have run the command"
    marker.unlink()

    with pytest.raises(UnsafeGitArgument, match="not a full hex commit sha"):
        fetch_pull_request(a_request(shop, head_sha=hostile), None, tmp_path / "a")
    with pytest.raises(UnsafeGitArgument, match="not a full hex commit sha"):
        fetch_pull_request(a_request(shop, base_sha=hostile), None, tmp_path / "b")
    # a valid sha, the file:// URL alone: refused before git starts
    with pytest.raises(UnsafeGitArgument, match="not an https URL"):
        fetch_pull_request(a_request(shop), None, tmp_path / "c")
    assert not marker.exists()
    assert not (tmp_path / "c").exists()  # nothing was even initialised


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("base_ref", "--upload-pack=/bin/sh", "not a valid git ref name"),
        ("base_ref", "main:refs/heads/x", "not a valid git ref name"),
        ("base_ref", "../../etc", "not a valid git ref name"),
        ("base_ref", "a b", "not a valid git ref name"),
        ("head_sha", "a" * 39, "not a full hex commit sha"),
        ("head_sha", "HEAD", "not a full hex commit sha"),
        ("head_sha", "A" * 40, "not a full hex commit sha"),
        ("number", -1, "not a positive integer"),
        ("clone_url", "ext::sh -c touch% /tmp/x", "is not a URL"),
        ("clone_url", "ext::sh%20-c%20touch", "is not a repository on"),
        ("clone_url", "-uhttps://github.com/octo/shop.git", "is not a repository on"),
        ("clone_url", "file:///tmp/shop", "is not a repository on"),
        ("clone_url", "https://evil.example/octo/shop.git", "is not a repository on"),
        ("clone_url", "http://github.com/octo/shop.git", "is not a repository on"),
        ("clone_url", "https://x-access-token:abc@github.com/octo/shop.git", "not a repository"),
        ("clone_url", "https://github.com/octo/shop.git?upload-pack=x", "not a repository on"),
        ("clone_url", "https://github.com:444/octo/shop.git", "is not a repository on"),
        ("clone_url", "https://github.com/octo/../../shop.git", "is not a repository on"),
    ],
)
def test_hostile_values_are_refused_before_git_runs(
    shop: GitRepo, tmp_path: Path, field: str, value: Any, message: str
) -> None:
    changes = {"clone_url": "https://github.com/octo/shop.git", field: value}
    request = a_request(shop, **changes)
    origin = GitOrigin.for_github("https://api.github.com")
    with pytest.raises(UnsafeGitArgument, match=message):
        fetch_pull_request(request, None, tmp_path / "clone", origin=origin)
    assert not (tmp_path / "clone").exists()


def test_clone_urls_must_be_on_the_configured_github() -> None:
    dotcom = GitOrigin.for_github("https://api.github.com")
    assert dotcom == GitOrigin("https", "github.com")
    assert dotcom.check("https://github.com/octo/shop.git") == "https://github.com/octo/shop.git"
    ghes = GitOrigin.for_github("https://ghe.example.com/api/v3")
    assert ghes == GitOrigin("https", "ghe.example.com")
    assert ghes.check("https://GHE.example.com/octo/shop.git")
    with pytest.raises(UnsafeGitArgument):
        ghes.check("https://github.com/octo/shop.git")
    assert GitOrigin.for_github("https://api.acme.ghe.com") == GitOrigin("https", "acme.ghe.com")
    # plain http only for a loopback stand-in, and only on its own port
    local = GitOrigin.for_github("http://127.0.0.1:8080")
    assert local.check("http://127.0.0.1:8080/git/octo/shop.git")
    with pytest.raises(UnsafeGitArgument):
        local.check("http://127.0.0.1:8081/git/octo/shop.git")
    with pytest.raises(UnsafeGitArgument, match="plain http"):
        GitOrigin.for_github("http://ghe.example.com/api/v3")


def test_ref_and_sha_rules() -> None:
    for good in ("main", "feature/x-1", "release-2.0", "user@host", "a.b/c_d"):
        assert checked_ref(good) == good
    bad_refs = ["", "-x", "--upload-pack=x", "/main", "main/", "a..b", "a//b", "x.lock", ".x"]
    bad_refs += ["a/.b", "a@{1}", "@", "a~1", "a^", "a:b", "a?", "a*", "a[", "a\\b", "a\x01"]
    for bad in bad_refs:
        with pytest.raises(UnsafeGitArgument):
            checked_ref(bad)
    assert checked_sha("0" * 40) and checked_sha("f" * 64)
    for bad_sha in ("0" * 41, "g" * 40, " " + "0" * 39, None, 7):
        with pytest.raises(UnsafeGitArgument):
            checked_sha(bad_sha)


def test_fetch_over_the_stand_in_works_and_lets_git_use_no_other_transport(
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
        clone_url=standin.git_url("octo", "stats"),
        trigger="test",
    )
    origin = GitOrigin.for_github(standin.url)
    dest = fetch_pull_request(request, token, tmp_path / "clone", origin=origin)
    assert (dest / ".git").is_dir()
    elsewhere = replace(
        request, clone_url=standin.git_url("octo", "stats").replace("127.0.0.1", "localhost")
    )
    with pytest.raises(UnsafeGitArgument, match="is not a repository on"):
        fetch_pull_request(elsewhere, token, tmp_path / "other", origin=origin)


# --- bot.apply_fixes: the branch comes from the pulls API --------------------------------------


def apply_request(standin: GitHubStandIn, opened: dict[str, Any], **changes: Any) -> ApplyRequest:
    request = ApplyRequest(
        installation_id=standin.installation_id,
        repository_id=opened["repository"]["id"],
        owner="octo",
        repo="stats",
        number=1,
        head_sha=opened["pull_request"]["head"]["sha"],
        check_run_id=1,
        clone_url=standin.git_url("octo", "stats"),
        app_slug=standin.app_slug,
        sender="octo",
        sender_id=1,
        write_access=True,
    )
    return replace(request, **changes)


def run_apply(
    request: ApplyRequest,
    app_env: dict[str, str],
    github_app: GitHubApp,
    redis: Redis,
    queue: Queue,
) -> Job:
    submitted = AnalysisQueue(redis, queue, job_timeout_s=60).submit_apply(request)
    assert submitted.outcome == "enqueued"
    with installed_context(fast_context(app_env, github_app)):
        work(queue)
    return Job.fetch(request.job_id, connection=redis)


def test_apply_refuses_a_hostile_head_branch_from_the_api(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    repo: GitRepo,
    app_env: dict[str, str],
    redis: Redis,
    queue: Queue,
    evil: tuple[Path, Path],
) -> None:
    script, marker = evil
    branch = f"--upload-pack={script}"
    repo.git("update-ref", f"refs/heads/{branch}", "pr")  # git accepts the name as a ref
    standin.installation_permissions["contents"] = "write"
    opened = standin.open_pull("octo", "stats", 1, "main", branch)
    job = run_apply(apply_request(standin, opened), app_env, github_app, redis, queue)
    assert job.get_status() == JobStatus.FAILED
    assert "is not a valid git ref name" in job.meta["reason"]
    assert not marker.exists()


@pytest.mark.parametrize(
    ("field", "hostile", "message"),
    [
        ("clone_url", "file://{repo}", "is not a repository on"),
        # rq takes job ids of [A-Za-z0-9_-] only: the apply job's id holds the sha
        ("head_sha", "--upload-pack", "not a full hex commit sha"),
    ],
)
def test_apply_refuses_hostile_request_values(
    standin: GitHubStandIn,
    github_app: GitHubApp,
    repo: GitRepo,
    app_env: dict[str, str],
    redis: Redis,
    queue: Queue,
    evil: tuple[Path, Path],
    field: str,
    hostile: str,
    message: str,
) -> None:
    script, marker = evil
    standin.installation_permissions["contents"] = "write"
    opened = standin.open_pull("octo", "stats", 1, "main", "pr")
    value = hostile.format(repo=repo.path, script=script)
    request = apply_request(standin, opened, **{field: value})
    job = run_apply(request, app_env, github_app, redis, queue)
    assert job.get_status() == JobStatus.FAILED
    assert message in job.meta["reason"]
    assert not marker.exists()
    assert not [r for r in standin.git_requests]  # no git request was even made
