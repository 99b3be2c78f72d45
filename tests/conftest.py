"""Shared fixtures: real git repositories built from file dictionaries, the GitHub
stand-in, and the real Docker engine with the sandbox's images."""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
from github_standin import GitHubStandIn
from repo_support import REPORT_SCHEMA, FileTree, GitRepo, MakeRepo

if TYPE_CHECKING:  # the Docker SDK is imported by the tests that use the engine only
    import docker

    from provenfix.jobs.sandbox.env_image import EnvImage
    from provenfix.jobs.sandbox.runner import DockerSandbox
    from provenfix.jobs.sandbox.settings import SandboxSettings

__all__ = ["FileTree", "GitRepo", "MakeRepo"]


@pytest.fixture
def make_repo(tmp_path: Path) -> MakeRepo:
    """A repo with `main` = base files and, if given, branch `pr` = base + head files."""

    def make(base: FileTree, head: FileTree | None = None, name: str = "repo") -> GitRepo:
        repo = GitRepo(tmp_path / name)
        repo.path.mkdir()
        repo.git("init", "-q", "-b", "main")
        repo.commit(base, "base")
        if head is not None:
            repo.branch("pr")
            repo.commit(head, "pull request")
        return repo

    return make


@pytest.fixture(scope="session")
def report_validator() -> Callable[[Any], None]:
    schema = json.loads(REPORT_SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)

    def validate(report: Any) -> None:
        errors = sorted(validator.iter_errors(report), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)

    return validate


# --- GitHub: a local stand-in for api.github.com (tests/github_standin) -----------------


@pytest.fixture
def github_standin() -> Iterator[GitHubStandIn]:
    """A running stand-in for api.github.com on 127.0.0.1 (a random free port).

    Every request is checked against GitHub's contract (tests/fixtures/github-contract);
    the test fails at teardown if the bot sent one that breaks it. A test that breaks
    the contract on purpose takes its violations with `standin.take_violations()`.
    """
    standin = GitHubStandIn().start()
    try:
        yield standin
    finally:
        standin.stop()
    violations = standin.take_violations()
    assert not violations, "requests that break GitHub's REST contract:\n" + "\n".join(
        f"  {v}" for v in violations
    )


@pytest.fixture
def github_app(github_standin: GitHubStandIn) -> Any:
    """bot.github_api.GitHubApp pointed at the stand-in, with short retry waits."""
    from provenfix.bot.github_api import GitHubApp, RetryPolicy

    return GitHubApp(
        github_standin.app_id,
        github_standin.private_key_pem,
        base_url=github_standin.url,
        retry=RetryPolicy(
            total=3, backoff_factor=0.05, secondary_rate_wait=0.1, max_rate_limit_wait=5
        ),
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


@pytest.fixture
def github_client(github_app: Any, github_standin: GitHubStandIn) -> Any:
    """A `github.Github` acting as the stand-in's installation (token minted on first use)."""
    return github_app.installation_client(github_standin.installation_id)


# --- Docker: the real engine, never a mock (tests/sandbox, tests/validation) -------------------


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    """The engine; without one the tests fail (they do not skip) with the fix in the message."""
    from provenfix.jobs.sandbox.engine import connect_docker
    from provenfix.jobs.sandbox.errors import SandboxUnavailable

    try:
        return connect_docker(os.environ)
    except SandboxUnavailable as exc:
        pytest.fail(f"these tests need a running Docker engine: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def base_image(docker_client: docker.DockerClient) -> str:
    """The local sandbox base image, built once if missing (about a minute)."""
    from provenfix.jobs.sandbox.base_image import build_base_image
    from provenfix.jobs.sandbox.settings import DEFAULT_BASE_IMAGE

    return build_base_image(
        docker_client, DEFAULT_BASE_IMAGE, log=lambda line: print(line, file=sys.stderr)
    )


@pytest.fixture(scope="session")
def sandbox_settings(base_image: str) -> SandboxSettings:
    """The sandbox's settings, with our own owner label: other sessions may run sandboxes on
    this engine meanwhile."""
    from provenfix.jobs.sandbox.settings import SandboxLimits, SandboxSettings

    return SandboxSettings(
        owner=f"pytest-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        base_image=base_image,
        limits=SandboxLimits(memory="512m", pids=128, cpus=1.0, timeout_s=120.0),
    )


@pytest.fixture(scope="session")
def sandbox(docker_client: docker.DockerClient, sandbox_settings: SandboxSettings) -> DockerSandbox:
    from provenfix.jobs.sandbox.runner import DockerSandbox

    return DockerSandbox(docker_client, sandbox_settings)


@pytest.fixture(scope="session")
def plain_env(
    docker_client: docker.DockerClient,
    sandbox_settings: SandboxSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> EnvImage:
    """The environment of a repository without dependency files: pytest and coverage
    (environment images are cached by the engine between sessions)."""
    from provenfix.jobs.sandbox.env_image import ensure_env_image

    repo = tmp_path_factory.mktemp("plain-env") / "repo"
    repo.mkdir()
    (repo / "test_nothing.py").write_text("def test_nothing():\n    pass\n", encoding="utf-8")
    return ensure_env_image(docker_client, sandbox_settings, repo)
