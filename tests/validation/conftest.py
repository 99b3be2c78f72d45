"""The validation tests use the real engine and images, like the sandbox tests."""

from __future__ import annotations

import os
import sys

import docker
import pytest

from jobs.sandbox.base_image import build_base_image
from jobs.sandbox.engine import connect_docker
from jobs.sandbox.env_image import EnvImage, ensure_env_image
from jobs.sandbox.errors import SandboxUnavailable
from jobs.sandbox.runner import DockerSandbox
from jobs.sandbox.settings import DEFAULT_BASE_IMAGE, SandboxLimits, SandboxSettings


@pytest.fixture(scope="session")
def docker_client() -> docker.DockerClient:
    try:
        return connect_docker(os.environ)
    except SandboxUnavailable as exc:
        pytest.fail(f"the validation tests need a running Docker engine: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def sandbox(docker_client: docker.DockerClient) -> DockerSandbox:
    build_base_image(
        docker_client, DEFAULT_BASE_IMAGE, log=lambda line: print(line, file=sys.stderr)
    )
    settings = SandboxSettings(
        base_image=DEFAULT_BASE_IMAGE,
        limits=SandboxLimits(memory="512m", pids=128, cpus=1.0, timeout_s=120.0),
    )
    return DockerSandbox(docker_client, settings)


@pytest.fixture(scope="session")
def plain_env(sandbox: DockerSandbox, tmp_path_factory: pytest.TempPathFactory) -> EnvImage:
    """The environment of repositories without dependency files: pytest and coverage."""
    repo = tmp_path_factory.mktemp("plain-env")
    return ensure_env_image(sandbox.client, sandbox.settings, repo)
