"""DockerSandbox.run on the real engine: results, configuration, cleanup."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import docker
import pytest
from sandbox_support import sandbox_containers

from provenfix.jobs.sandbox.errors import SandboxRunError
from provenfix.jobs.sandbox.runner import (
    ContainerSpec,
    DockerSandbox,
    SandboxResult,
    base_environment,
    run_container,
)
from provenfix.jobs.sandbox.settings import (
    CONTAINER_LABEL,
    DEFAULT_BASE_IMAGE,
    OWNER_LABEL,
    SandboxLimits,
    SandboxSettings,
)
from provenfix.jobs.sandbox.workdir import prepare_workdir, read_result_file

pytestmark = pytest.mark.docker


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello.txt").write_text("hello\n")
    return prepare_workdir(src, tmp_path / "work")


def test_run_reports_exit_code_output_and_env(
    sandbox: DockerSandbox, base_image: str, workdir: Path
) -> None:
    result = sandbox.run(
        DEFAULT_BASE_IMAGE,
        ["sh", "-c", 'cat hello.txt; echo "$FOO"; echo err >&2; echo made > out.txt; exit 3'],
        workdir,
        env={"FOO": "bar"},
    )
    assert (result.exit_code, result.reason, result.ok) == (3, "exit code 3", False)
    assert result.stdout == "hello\nbar\n" and result.stderr == "err\n"
    assert not result.timed_out and not result.oom_killed
    assert 0 < result.duration_s < 10
    assert read_result_file(workdir, "out.txt") == b"made\n"


def test_container_is_configured_as_documented(
    docker_client: docker.DockerClient, sandbox: DockerSandbox, base_image: str, workdir: Path
) -> None:
    results: list[SandboxResult] = []
    runner = threading.Thread(
        target=lambda: results.append(sandbox.run(DEFAULT_BASE_IMAGE, ["sleep", "3"], workdir))
    )
    runner.start()
    attrs: dict[str, Any] = {}
    deadline = time.monotonic() + 20
    while not attrs and time.monotonic() < deadline:
        labels = [f"{CONTAINER_LABEL}=1", f"{OWNER_LABEL}={sandbox.settings.owner}"]
        found = docker_client.containers.list(filters={"label": labels})
        if found:
            attrs = found[0].attrs
        time.sleep(0.05)
    runner.join()
    assert results and results[0].ok
    host = attrs["HostConfig"]
    limits = sandbox.settings.limits
    assert host["NetworkMode"] == "none"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert host["SecurityOpt"] == ["no-new-privileges"]
    assert host["Privileged"] is False
    assert host["PidsLimit"] == limits.pids
    assert host["Memory"] == host["MemorySwap"] == limits.memory_bytes
    assert host["NanoCpus"] == limits.nano_cpus
    assert host["Init"] is True
    assert host["Binds"] == [f"{workdir.resolve()}:/work/repo:rw"]
    assert set(host["Tmpfs"]) == {"/tmp"} and "mode=1777" in host["Tmpfs"]["/tmp"]
    assert [m["Source"] for m in attrs["Mounts"]] == [str(workdir.resolve())]
    assert attrs["Config"]["User"] == "10001:10001"
    env = dict(item.split("=", 1) for item in attrs["Config"]["Env"])
    assert set(env) == {"PATH", "HOME", "PYTHONDONTWRITEBYTECODE", "LANG"}
    assert sandbox_containers(docker_client, sandbox.settings.owner) == []


def test_output_is_capped_keeping_the_tail(
    sandbox: DockerSandbox, base_image: str, workdir: Path
) -> None:
    limits = replace(sandbox.settings.limits, output_cap_bytes=64 * 1024)
    script = "import sys\nfor i in range(200000): print(i)\nprint('THE END')"
    result = sandbox.run(DEFAULT_BASE_IMAGE, ["python3", "-c", script], workdir, limits=limits)
    assert result.ok and result.stdout_truncated and not result.stderr_truncated
    assert result.stdout.startswith("[output truncated")
    assert result.stdout.endswith("199999\nTHE END\n")
    assert len(result.stdout) < 64 * 1024 + 100


def test_container_is_removed_on_keyboard_interrupt(
    docker_client: docker.DockerClient, settings: SandboxSettings, workdir: Path
) -> None:
    owner = settings.owner
    spec = ContainerSpec(
        image=DEFAULT_BASE_IMAGE,
        command=("true",),
        limits=SandboxLimits(memory="256m", pids=64, timeout_s=30),
        environment=base_environment(),
        workdir=workdir,
        labels={OWNER_LABEL: owner},
    )

    def interrupt(_container: Any, _result: SandboxResult) -> None:
        assert sandbox_containers(docker_client, owner) != []  # still there until now
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_container(docker_client, spec, on_exit=interrupt)
    assert sandbox_containers(docker_client, owner) == []


def test_missing_image_is_a_named_error(sandbox: DockerSandbox, workdir: Path) -> None:
    with pytest.raises(SandboxRunError, match="not found"):
        sandbox.run("provenfix/does-not-exist:nope", ["true"], workdir)


def test_leftovers_are_listed_and_removed(
    docker_client: docker.DockerClient, sandbox: DockerSandbox, base_image: str
) -> None:
    name = f"provenfix-sb-orphan-{sandbox.settings.owner}"
    labels = {CONTAINER_LABEL: "1", OWNER_LABEL: sandbox.settings.owner}
    docker_client.containers.create(DEFAULT_BASE_IMAGE, ["true"], labels=labels, name=name)
    assert sandbox.leftover_containers() == [name]
    assert sandbox.remove_leftovers() == 1
    assert sandbox.leftover_containers() == []
