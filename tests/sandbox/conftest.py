"""Fixtures of the sandbox tests: the real Docker engine, never a mock.

Without an engine the tests fail (they do not skip) with the fix in the message.
The base image is built once if missing (about a minute with a fast mirror);
environment images are cached by the engine between sessions.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator

import docker
import pytest
from sandbox_support import TRIVIAL_REPO, sandbox_containers, write_tree

from jobs.sandbox.base_image import build_base_image
from jobs.sandbox.engine import connect_docker
from jobs.sandbox.env_image import EnvImage, ensure_env_image
from jobs.sandbox.errors import SandboxUnavailable
from jobs.sandbox.runner import DockerSandbox
from jobs.sandbox.settings import (
    DEFAULT_BASE_IMAGE,
    SandboxLimits,
    SandboxSettings,
)


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    try:
        return connect_docker(os.environ)
    except SandboxUnavailable as exc:
        pytest.fail(f"the sandbox tests need a running Docker engine: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def base_image(docker_client: docker.DockerClient) -> str:
    def log(line: str) -> None:
        print(line, file=sys.stderr)

    return build_base_image(docker_client, DEFAULT_BASE_IMAGE, log=log)


@pytest.fixture(scope="session")
def settings(base_image: str) -> SandboxSettings:
    # Our own owner label: other sessions may run sandboxes on this engine meanwhile.
    return SandboxSettings(
        owner=f"pytest-{os.getpid()}-{uuid.uuid4().hex[:8]}",
        base_image=DEFAULT_BASE_IMAGE,
        limits=SandboxLimits(memory="512m", pids=128, cpus=1.0, timeout_s=60.0),
    )


@pytest.fixture(scope="session")
def sandbox(docker_client: docker.DockerClient, settings: SandboxSettings) -> DockerSandbox:
    return DockerSandbox(docker_client, settings)


@pytest.fixture(scope="session")
def plain_env(
    docker_client: docker.DockerClient,
    settings: SandboxSettings,
    tmp_path_factory: pytest.TempPathFactory,
) -> EnvImage:
    """The environment of a repository without dependency files: pytest and coverage."""
    repo = write_tree(tmp_path_factory.mktemp("plain") / "repo", TRIVIAL_REPO)
    return ensure_env_image(docker_client, settings, repo)


@pytest.fixture(autouse=True)
def _no_leftover_containers(request: pytest.FixtureRequest) -> Iterator[None]:
    if "docker_client" not in request.fixturenames:
        yield
        return
    client: docker.DockerClient = request.getfixturevalue("docker_client")
    owner = request.getfixturevalue("settings").owner
    yield
    assert sandbox_containers(client, owner) == [], "a sandbox container was left behind"
