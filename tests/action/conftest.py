"""Fixtures of the Action tests: the stand-in's token, and a runner for a real pull request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from action_support import (
    BASE,
    HEAD,
    NAME,
    NUMBER,
    OWNER,
    TESTS,
    MakeRunner,
    Runner,
    recorded_event,
    runner_env,
    shallow_checkout,
)
from github_standin import GitHubStandIn
from repo_support import FileTree, MakeRepo


@pytest.fixture
def token(github_app: Any, github_standin: GitHubStandIn) -> str:
    """An installation token the stand-in accepts, as GITHUB_TOKEN is on a real runner."""
    return str(github_app.installation_token(github_standin.installation_id).token)


@pytest.fixture
def make_runner(make_repo: MakeRepo, github_standin: GitHubStandIn, tmp_path: Path) -> MakeRunner:
    """A pull request (main <- pr) served by the stand-in, and a runner whose checkout holds
    only the base branch's tip, as actions/checkout leaves it by default."""

    def make(
        extra_base: FileTree | None = None,
        *,
        head_repo: str | None = None,
        persisted_header: str | None = None,
    ) -> Runner:
        base: dict[str, str | bytes | None] = {"stats.py": BASE, "tests/test_stats.py": TESTS}
        base.update(extra_base or {})
        repo = make_repo(base, {"stats.py": HEAD}, name="origin")
        github_standin.add_repo(OWNER, NAME, repo.path, default_branch="main")
        github_standin.open_pull(OWNER, NAME, NUMBER, "main", "pr")
        root = tmp_path / "runner"
        root.mkdir()
        checkout = shallow_checkout(
            repo, root / "workspace", github_standin.git_url(OWNER, NAME), persisted_header
        )
        event = recorded_event(github_standin, repo, head_repo=head_repo)
        return Runner(root, checkout, event, runner_env(root, github_standin, checkout))

    return make
