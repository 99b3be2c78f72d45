"""actions/checkout.py: the event's shas, base branch and clone URL are checked before
git sees them; the clone URL must be on the GitHub the workflow runs on (the checkout's
`origin`, or `server_url`); the reported `--upload-pack` injection runs nothing."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from action_support import MakeRunner
from github_standin import GitHubStandIn

from provenfix.actions.checkout import ensure_commits
from provenfix.actions.event import PullRequestEvent
from provenfix.bot.git_remote import UnsafeGitArgument


def event_of(runner_event: dict[str, Any], **changes: Any) -> PullRequestEvent:
    pr = runner_event["pull_request"]
    event = PullRequestEvent(
        owner="octo",
        repo="stats",
        number=int(pr["number"]),
        head_sha=pr["head"]["sha"],
        base_sha=pr["base"]["sha"],
        event_name="pull_request",
        action="opened",
        base_ref=pr["base"]["ref"],
        head_repo=pr["head"]["repo"]["full_name"],
        clone_url=runner_event["repository"]["clone_url"],
    )
    return replace(event, **changes)


@pytest.fixture
def evil(tmp_path: Path) -> tuple[Path, Path]:
    marker = tmp_path / "pwned"
    script = tmp_path / "evil.sh"
    script.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    script.chmod(0o755)
    return script, marker


def test_the_event_is_fetched_from_the_checkouts_own_server(
    make_runner: MakeRunner, token: str, github_standin: GitHubStandIn
) -> None:
    runner = make_runner()
    event = event_of(runner.event)
    fetched = ensure_commits(runner.checkout, event, token, log=lambda line: None)
    assert fetched and all(r.status == 200 for r in github_standin.git_requests)
    head = subprocess.run(
        ["git", "-C", str(runner.checkout), "cat-file", "-t", event.head_sha],
        capture_output=True,
        text=True,
        check=True,
    )
    assert head.stdout.strip() == "commit"


@pytest.mark.parametrize(
    ("field", "hostile", "message"),
    [
        ("head_sha", "--upload-pack={script}", "not a full hex commit sha"),
        ("base_sha", "--upload-pack={script}", "not a full hex commit sha"),
        ("base_ref", "--upload-pack={script}", "not a valid git ref name"),
        ("clone_url", "file://{origin}", "is not a repository on"),
        ("clone_url", "https://github.com/octo/stats.git", "is not a repository on"),
        ("clone_url", "--upload-pack={script}", "is not a repository on"),
    ],
)
def test_hostile_event_values_run_nothing(
    make_runner: MakeRunner,
    token: str,
    github_standin: GitHubStandIn,
    evil: tuple[Path, Path],
    field: str,
    hostile: str,
    message: str,
) -> None:
    script, marker = evil
    runner = make_runner()
    origin = runner.root.parent / "origin"  # the stand-in's repository on disk
    event = event_of(runner.event, **{field: hostile.format(script=script, origin=origin)})
    with pytest.raises(UnsafeGitArgument, match=message):
        ensure_commits(runner.checkout, event, token, log=lambda line: None)
    assert not marker.exists()
    assert not github_standin.git_requests


def test_an_explicit_server_url_is_the_only_host_allowed(
    make_runner: MakeRunner, token: str, github_standin: GitHubStandIn
) -> None:
    runner = make_runner()
    event = event_of(runner.event)
    with pytest.raises(UnsafeGitArgument, match=r"is not a repository on https://github\.com"):
        ensure_commits(
            runner.checkout, event, token, log=lambda line: None, server_url="https://github.com"
        )
    assert ensure_commits(
        runner.checkout, event, token, log=lambda line: None, server_url=github_standin.url
    )
