"""The locally built base image: what is in it, and that building is idempotent."""

from __future__ import annotations

import time
from pathlib import Path

import docker
import pytest

from provenfix.jobs.sandbox.base_image import build_base_image, check_mirror_url
from provenfix.jobs.sandbox.errors import BaseImageBuildError
from provenfix.jobs.sandbox.runner import DockerSandbox
from provenfix.jobs.sandbox.settings import DEFAULT_BASE_IMAGE, VENV_READY_LABEL
from provenfix.jobs.sandbox.workdir import prepare_workdir

pytestmark = pytest.mark.docker

PROBE = """
set -e
id -u; id -g
python3 --version
git --version
python3 -c 'import venv, ensurepip'
stat -c '%u %a' /opt/venv
ls /var/lib/apt/lists | grep -v -e '^lock$' -e '^partial$' | wc -l
find /usr/share/doc -type f ! -name copyright | wc -l
ls /usr/share/man | wc -l
test -s /etc/ssl/certs/ca-certificates.crt && echo certs
"""


def test_base_image_contents(
    docker_client: docker.DockerClient, sandbox: DockerSandbox, base_image: str, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    workdir = prepare_workdir(src, tmp_path / "work")
    result = sandbox.run(DEFAULT_BASE_IMAGE, ["sh", "-c", PROBE], workdir)
    assert result.ok, result
    lines = result.stdout.splitlines()
    assert lines[0:2] == ["10001", "10001"]
    assert lines[2].startswith("Python 3.11") and lines[3].startswith("git version")
    assert lines[4:] == ["10001 755", "0", "0", "0", "certs"]
    image = docker_client.images.get(DEFAULT_BASE_IMAGE)
    assert image.id == base_image
    config = image.attrs["Config"]
    assert config["User"] == "10001:10001" and config["WorkingDir"] == "/work"
    assert "LANG=C.UTF-8" in config["Env"]
    assert any(item.startswith("PATH=/opt/venv/bin:") for item in config["Env"])
    assert image.labels[VENV_READY_LABEL] == "10001"
    assert image.attrs["Size"] < 300 * 1024 * 1024


def test_building_again_reuses_the_image(
    docker_client: docker.DockerClient, base_image: str
) -> None:
    said: list[str] = []
    started = time.monotonic()
    assert build_base_image(docker_client, DEFAULT_BASE_IMAGE, log=said.append) == base_image
    assert time.monotonic() - started < 5
    assert "exists" in said[0]


@pytest.mark.parametrize(
    "mirror",
    [
        "--foreign",
        "-o/tmp/x",
        "http://deb.debian.org/debian\ndeb http://evil.example/ bookworm main",
        "http://deb.debian.org/debian --keyring=/tmp/k",
        "ftp://deb.debian.org/debian",
        "http:///debian",
        " ",
    ],
)
def test_a_mirror_that_is_not_a_plain_url_is_refused_before_anything_runs(
    docker_client: docker.DockerClient, tmp_path: Path, mirror: str
) -> None:
    # an image that does not exist, so that the build would start; force as well
    tag = "provenfix/never-built:mirror-check"
    for given in ({"mirror": mirror}, {"security_mirror": mirror}):
        with pytest.raises(BaseImageBuildError, match="mirror"):
            build_base_image(docker_client, tag, force=True, scratch_dir=tmp_path, **given)
    assert list(tmp_path.iterdir()) == []  # no root filesystem was started
    assert check_mirror_url("http://deb.debian.org/debian") == "http://deb.debian.org/debian"
    assert check_mirror_url("file:///srv/mirror") == "file:///srv/mirror"
