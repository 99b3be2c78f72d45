"""Fixtures of the sandbox tests: the real Docker engine, never a mock.

The engine, the base image, the sandbox and the plain environment image are the
shared fixtures of tests/conftest.py; here `settings` names the sandbox's settings
(as these tests call them), and every test checks that it left no container behind.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
from sandbox_support import sandbox_containers

from provenfix.jobs.sandbox.settings import SandboxSettings


@pytest.fixture(scope="session")
def settings(sandbox_settings: SandboxSettings) -> SandboxSettings:
    return sandbox_settings


@pytest.fixture(autouse=True)
def _no_leftover_containers(request: pytest.FixtureRequest) -> Iterator[None]:
    if "docker_client" not in request.fixturenames:
        yield
        return
    client: docker.DockerClient = request.getfixturevalue("docker_client")
    owner = request.getfixturevalue("settings").owner
    yield
    assert sandbox_containers(client, owner) == [], "a sandbox container was left behind"
