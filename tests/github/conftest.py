"""Fixtures of the GitHub tests: a real pull request on the stand-in, real reports.

`shop_source` runs the real pipeline once per session (semgrep, and the repository's
tests with this Python: PipelineConfig(validation="none")) on a small shop library whose
pull request adds two problems the bundled rules fix; `shop_pr` clones that repository
(same commits) for one test and opens pull request #7 for it on the stand-in.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from github_standin import GitHubStandIn
from github_support import NAME, NUMBER, OWNER, SHOP_BASE, SHOP_HEAD, run_pipeline
from repo_support import FileTree, GitRepo

from provenfix.bot.publish import Publisher, PullRequestRef
from provenfix.jobs.report import Report, ValidationStatus


@dataclass(frozen=True)
class ShopSource:
    path: Path
    report: Report


@pytest.fixture(scope="session")
def shop_source(tmp_path_factory: pytest.TempPathFactory) -> ShopSource:
    repo = GitRepo(tmp_path_factory.mktemp("shop-source") / "shop")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.commit(SHOP_BASE, "base")
    repo.branch("pr")
    repo.commit(SHOP_HEAD, "discounts and lookup")
    report = run_pipeline(repo.path)
    assert [s.validation.status for s in report.suggestions] == [ValidationStatus.PASSED] * 2, (
        "the shop pull request should yield two proven fixes"
    )
    return ShopSource(repo.path, report)


@dataclass
class ShopPR:
    repo: GitRepo
    report: Report  # the pipeline's report for the pull request's first push
    payload: dict[str, Any]  # the pull_request.opened webhook payload
    standin: GitHubStandIn

    @property
    def ref(self) -> PullRequestRef:
        head = self.standin.head_sha(OWNER, NAME, NUMBER)
        base = self.repo.git("rev-parse", "main")
        return PullRequestRef(OWNER, NAME, NUMBER, head, base)

    def push(self, files: FileTree, message: str = "more work") -> str:
        self.repo.checkout("pr")
        return self.repo.commit(files, message)


@pytest.fixture
def shop_pr(shop_source: ShopSource, github_standin: GitHubStandIn, tmp_path: Path) -> ShopPR:
    target = tmp_path / "shop"
    subprocess.run(
        ["git", "clone", "-q", "--no-local", str(shop_source.path), str(target)],
        check=True,
        capture_output=True,
    )
    repo = GitRepo(target)
    repo.git("checkout", "-q", "-B", "main", "origin/main")
    repo.git("checkout", "-q", "-B", "pr", "origin/pr")
    github_standin.add_repo(OWNER, NAME, target, "main")
    payload = github_standin.open_pull(OWNER, NAME, NUMBER, "main", "pr", title="Discounts")
    return ShopPR(repo, shop_source.report, payload, github_standin)


MakePublisher = Callable[..., Publisher]


@pytest.fixture
def make_publisher(github_client: Any, github_standin: GitHubStandIn) -> MakePublisher:
    def make(ref: PullRequestRef, **options: Any) -> Publisher:
        options.setdefault("bot_login", github_standin.bot_login)
        return Publisher(github_client, ref, **options)

    return make
