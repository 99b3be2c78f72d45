"""Named exceptions of the sandbox layer; every message says how to fix the cause."""

from __future__ import annotations

from collections.abc import Sequence

from provenfix.jobs.errors import ProvenFixError


class SandboxError(ProvenFixError):
    """Base class of every error the sandbox raises on purpose."""


class SandboxUnavailable(SandboxError):
    """The Docker engine cannot be reached (or answered something unusable)."""

    def __init__(self, base_url: str, detail: str) -> None:
        super().__init__(
            f"the Docker engine at {base_url} is unreachable ({detail}); start it "
            "(`systemctl start docker` or `dockerd &`) or point DOCKER_HOST at a running "
            "engine (e.g. DOCKER_HOST=unix:///var/run/docker.sock), and make sure this user "
            "may use its socket"
        )
        self.base_url = base_url
        self.detail = detail


class BaseImageMissing(SandboxError):
    def __init__(self, image: str, detail: str) -> None:
        super().__init__(
            f"sandbox base image {image!r} is not available ({detail}); build it with "
            "`scripts/build-sandbox-base` or set PROVENFIX_SANDBOX_IMAGE to an image the "
            "engine has or can pull (e.g. python:3.12-slim)"
        )
        self.image = image


class BaseImageBuildError(SandboxError):
    """debootstrap, the chroot setup or the import of the base image failed."""


class WorkdirError(SandboxError):
    """A work directory cannot be prepared, or is not safe to mount."""


class SandboxRunError(SandboxError):
    """The engine failed to create, start or inspect a sandbox container."""


class EnvironmentInstallError(SandboxError):
    """The dependency-install step of an environment image failed.

    `log_tail` holds the last lines of the install output (pip's error is there).
    """

    def __init__(self, reason: str, log_tail: Sequence[str]) -> None:
        self.reason = reason
        self.log_tail = tuple(log_tail)
        tail = "\n".join(self.log_tail)
        super().__init__(
            f"installing the repository's dependencies failed ({reason}); fix the "
            "dependency files or set the install command in the repository config. "
            f"Last lines of the install output:\n{tail}"
        )
