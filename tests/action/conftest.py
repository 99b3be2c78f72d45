"""Fixtures of the Action tests: the stand-in's token, and a runner for a real pull request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from action_support import MakeRunner, installation_token, runner_factory
from github_standin import GitHubStandIn
from repo_support import MakeRepo


@pytest.fixture
def token(github_app: Any, github_standin: GitHubStandIn) -> str:
    return installation_token(github_app, github_standin)


@pytest.fixture
def make_runner(make_repo: MakeRepo, github_standin: GitHubStandIn, tmp_path: Path) -> MakeRunner:
    return runner_factory(make_repo, github_standin, tmp_path)
