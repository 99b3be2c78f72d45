"""Connecting to the Docker engine, failing fast with a message that says how to fix it."""

from __future__ import annotations

from collections.abc import Mapping

import docker
import docker.errors

from provenfix.jobs.sandbox.errors import SandboxUnavailable

DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def connect_docker(
    env: Mapping[str, str], base_url: str | None = None, *, timeout_s: int = 60
) -> docker.DockerClient:
    """A client for `base_url`, else for DOCKER_HOST/DOCKER_TLS_* in `env`, else the socket.

    Pings the engine, so a missing engine fails here and not in the first run.
    """
    where = base_url or env.get("DOCKER_HOST") or DEFAULT_SOCKET
    try:
        if base_url is not None:
            client = docker.DockerClient(base_url=base_url, timeout=timeout_s)
        else:
            client = docker.from_env(environment=dict(env), timeout=timeout_s)
        client.ping()
    except (docker.errors.DockerException, OSError) as exc:  # requests' errors are OSErrors
        raise SandboxUnavailable(where, _short(exc)) from exc
    return client


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
