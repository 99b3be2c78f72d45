"""Helpers of the deployment tests: building the image, running it, free ports."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from github_standin import GitHubStandIn

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LOCAL_CA_DIR = Path("/usr/local/share/ca-certificates")  # Debian's place for a site's own CAs
IMAGE_UID = 10100
# What compose.yaml runs web and worker with: the tests run the image the same way.
HARDENING = (
    *("--read-only", "--tmpfs", "/tmp", "--tmpfs", "/home/provenfix:uid=10100,gid=10100,mode=0700"),
    *("--cap-drop", "ALL", "--security-opt", "no-new-privileges:true", "--init"),
)


class ImageBuildError(RuntimeError):
    pass


def extra_ca_certs(directory: Path = LOCAL_CA_DIR) -> str:
    """The site's own CAs (e.g. a TLS-inspecting proxy's), which pip in the build must trust."""
    if not directory.is_dir():
        return ""
    return "".join(p.read_text(encoding="ascii") for p in sorted(directory.glob("*.crt")))


def build_image(base: str, tag: str, *, timeout_s: float = 1800) -> str:
    """`docker build` the project's Dockerfile as an operator would; the tag on success.

    The image the tag named before is removed when the build replaced it (and nothing
    uses it), so that repeated test runs on a changing tree do not pile images up.
    """
    previous = _image_id(tag)
    command = ["docker", "build", "--network", "host", "--build-arg", f"BASE_IMAGE={base}"]
    certs = extra_ca_certs()
    if certs:
        command += ["--build-arg", f"EXTRA_CA_CERTS={certs}"]
    command += ["-t", tag, str(PROJECT_ROOT)]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise ImageBuildError(f"docker build failed ({proc.returncode}):\n{tail}")
    if previous and previous != _image_id(tag):
        subprocess.run(["docker", "rmi", previous], capture_output=True, check=False)
    return tag


def _image_id(tag: str) -> str:
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else ""


def docker_run(
    image: str,
    args: Sequence[str],
    *,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout_s: float = 300,
) -> subprocess.CompletedProcess[str]:
    """`docker run --rm [options] image args`; `env` is forwarded by name (never on argv)."""
    forwarded: list[str] = []
    for name in env or {}:
        forwarded += ["-e", name]
    return subprocess.run(
        ["docker", "run", "--rm", *forwarded, *options, image, *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, **(env or {})},
        check=False,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def app_env(
    *, github: GitHubStandIn, redis_url: str, database_url: str, queue: str
) -> dict[str, str]:
    """What `provenfix serve` and `provenfix worker` need (docs/deploy.md), against the
    GitHub stand-in (the worker reads `GET /app` at start-up)."""
    return {
        "PROVENFIX_APP_ID": str(github.app_id),
        "PROVENFIX_PRIVATE_KEY": github.private_key_pem,
        "PROVENFIX_GITHUB_API_URL": github.url,
        "PROVENFIX_WEBHOOK_SECRET": "deploy-test-secret",
        "PROVENFIX_REDIS_URL": redis_url,
        "PROVENFIX_DATABASE_URL": database_url,
        "PROVENFIX_QUEUE": queue,
        "PROVENFIX_SANDBOX": "off",
    }
