"""A hostile repository's tests attack the sandbox; every attack must fail.

Each attack runs as its own sandbox run so that its result, and its reason,
is checked on its own. The host side then checks that nothing happened on the
host: no connection, no file, no process, no container left.
"""

from __future__ import annotations

import ast
import hashlib
import os
import random
import re
import socket
import time
import uuid
from dataclasses import replace
from pathlib import Path

import docker
import pytest
from sandbox_support import HOSTILE_REPO, host_processes_with, sandbox_containers, write_tree

from provenfix.jobs.sandbox.env_image import EnvImage
from provenfix.jobs.sandbox.runner import DockerSandbox, SandboxResult
from provenfix.jobs.sandbox.settings import SandboxLimits
from provenfix.jobs.sandbox.workdir import prepare_workdir

pytestmark = pytest.mark.docker

_ATTACK_LINE = re.compile(r"^[.FEsx]*(ATTACK .*)$")


@pytest.fixture(scope="module")
def hostile_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tree(tmp_path_factory.mktemp("hostile") / "repo", HOSTILE_REPO)


def attack(
    sandbox: DockerSandbox,
    env_image: EnvImage,
    repo: Path,
    tmp_path: Path,
    test_file: str,
    *,
    limits: SandboxLimits | None = None,
    env: dict[str, str] | None = None,
) -> SandboxResult:
    workdir = prepare_workdir(repo, tmp_path / f"run-{uuid.uuid4().hex[:8]}")
    command = ["python", "-m", "pytest", "-q", "-s", "--tb=line", "-p", "no:cacheprovider"]
    command.append(test_file)
    return sandbox.run(env_image.tag, command, workdir, limits=limits, env=env)


def attack_lines(result: SandboxResult) -> list[str]:
    # pytest -q writes its progress letters on the same line as the prints.
    found = (_ATTACK_LINE.match(line) for line in result.stdout.splitlines())
    return [match.group(1) for match in found if match]


def assert_all_blocked(result: SandboxResult, expected: int) -> None:
    lines = attack_lines(result)
    assert not [line for line in lines if "SUCCEEDED" in line], result.stdout
    assert len([line for line in lines if " blocked: " in line]) == expected, result.stdout
    assert result.exit_code == 1 and result.reason == "exit code 1", result


def test_network_is_unreachable(
    sandbox: DockerSandbox, plain_env: EnvImage, hostile_repo: Path, tmp_path: Path
) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    port = listener.getsockname()[1]
    try:
        started = time.monotonic()
        result = attack(
            sandbox, plain_env, hostile_repo, tmp_path, "test_network.py",
            env={"HOST_PORT": str(port)},
        )  # fmt: skip
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected to the host's loopback
    finally:
        listener.close()
    assert "ATTACK interfaces ['lo']" in result.stdout
    # 1.1.1.1:53, 127.0.0.1:6379, the host listener, the DNS lookup
    assert_all_blocked(result, expected=4)
    assert "Network is unreachable" in result.stdout
    assert "5 failed" in result.stdout, result.stdout
    assert time.monotonic() - started < 30


def test_host_environment_and_files_are_invisible(
    sandbox: DockerSandbox,
    plain_env: EnvImage,
    hostile_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    secret = f"provenfix-secret-{uuid.uuid4().hex}"
    monkeypatch.setenv("PROVENFIX_TEST_SECRET", secret)
    marker_dir = tmp_path / "host-only"
    marker_dir.mkdir()
    marker = marker_dir / "marker.txt"
    marker_text = f"host-marker-{uuid.uuid4().hex}"
    marker.write_text(marker_text)
    passwd_sha = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    result = attack(
        sandbox, plain_env, hostile_repo, tmp_path, "test_secrets.py",
        env={"HOST_MARKER": str(marker), "HOST_PASSWD_SHA256": passwd_sha},
    )  # fmt: skip
    everything = result.stdout + result.stderr
    assert secret not in everything and marker_text not in everything
    assert "4 failed" in result.stdout, result.stdout
    assert result.reason == "exit code 1"
    expected_keys = ["HOME", "HOSTNAME", "HOST_MARKER", "HOST_PASSWD_SHA256", "LANG", "PATH"]
    expected_keys.append("PYTHONDONTWRITEBYTECODE")
    keys_line = next(line for line in attack_lines(result) if line.startswith("ATTACK env keys"))
    seen_keys = ast.literal_eval(keys_line.removeprefix("ATTACK env keys "))
    # pytest itself sets PYTEST_CURRENT_TEST and PYTEST_VERSION
    assert sorted(k for k in seen_keys if not k.startswith("PYTEST_")) == sorted(expected_keys)
    pids_line = next(line for line in attack_lines(result) if "visible pids" in line)
    assert len(ast.literal_eval(pids_line.removeprefix("ATTACK visible pids "))) < 10
    blocked = [line for line in attack_lines(result) if " blocked: " in line]
    assert any("read /etc/shadow blocked: PermissionError" in line for line in blocked)
    assert sum(str(marker) in line for line in blocked) == 3
    assert not [line for line in attack_lines(result) if "SUCCEEDED" in line]


def test_writes_outside_the_workdir_fail(
    sandbox: DockerSandbox, plain_env: EnvImage, hostile_repo: Path, tmp_path: Path
) -> None:
    host_target = tmp_path / "outside" / "pwned"
    host_target.parent.mkdir()
    result = attack(
        sandbox, plain_env, hostile_repo, tmp_path, "test_write.py",
        env={"HOST_WRITE_TARGET": str(host_target)},
    )  # fmt: skip
    assert_all_blocked(result, expected=9)
    assert "Read-only file system" in result.stdout
    assert not host_target.exists()
    for target in ("/usr/lib/pwned", "/etc/pwned", "/pwned"):
        assert not Path(target).exists()


def test_docker_socket_is_not_reachable(
    sandbox: DockerSandbox, plain_env: EnvImage, hostile_repo: Path, tmp_path: Path
) -> None:
    result = attack(sandbox, plain_env, hostile_repo, tmp_path, "test_docker_socket.py")
    assert_all_blocked(result, expected=3)
    assert "FileNotFoundError" in result.stdout


def test_fork_bomb_stops_at_the_pids_limit(
    sandbox: DockerSandbox, plain_env: EnvImage, hostile_repo: Path, tmp_path: Path
) -> None:
    limits = replace(sandbox.settings.limits, pids=64, timeout_s=60.0)
    started = time.monotonic()
    result = attack(sandbox, plain_env, hostile_repo, tmp_path, "test_fork_bomb.py", limits=limits)
    assert_all_blocked(result, expected=1)
    assert "Resource temporarily unavailable" in result.stdout
    spawned = next(line for line in attack_lines(result) if "spawned" in line)
    assert int(spawned.rsplit(" ", 1)[1]) < 64
    assert time.monotonic() - started < 40


def test_memory_hog_is_oom_killed(
    sandbox: DockerSandbox, plain_env: EnvImage, hostile_repo: Path, tmp_path: Path
) -> None:
    limits = replace(sandbox.settings.limits, memory="256m", timeout_s=60.0)
    result = attack(sandbox, plain_env, hostile_repo, tmp_path, "test_memory.py", limits=limits)
    assert result.oom_killed and not result.timed_out, result
    assert result.reason == "killed: memory limit 256 MiB exceeded"
    assert result.exit_code == 137
    held = [line for line in attack_lines(result) if "memory holds" in line]
    assert held and int(held[-1].split()[3]) < 256
    assert "SUCCEEDED" not in result.stdout


def test_endless_run_is_killed_at_the_timeout(
    docker_client: docker.DockerClient,
    sandbox: DockerSandbox,
    plain_env: EnvImage,
    hostile_repo: Path,
    tmp_path: Path,
) -> None:
    mark = str(random.randrange(7_000_000, 8_000_000))
    limits = replace(sandbox.settings.limits, timeout_s=3.0)
    result = attack(
        sandbox, plain_env, hostile_repo, tmp_path, "test_sleep.py",
        limits=limits, env={"SLEEP_MARK": mark},
    )  # fmt: skip
    assert result.timed_out and result.reason == "timed out after 3 s", result
    assert 3.0 <= result.duration_s < 15.0
    assert "ATTACK sleep started" in result.stdout
    assert sandbox_containers(docker_client, sandbox.settings.owner) == []
    assert host_processes_with(f"sleep {mark}") == []


def test_background_processes_do_not_survive(
    docker_client: docker.DockerClient,
    sandbox: DockerSandbox,
    plain_env: EnvImage,
    hostile_repo: Path,
    tmp_path: Path,
) -> None:
    mark = str(random.randrange(8_000_000, 9_000_000))
    result = attack(
        sandbox, plain_env, hostile_repo, tmp_path, "test_daemon.py", env={"SLEEP_MARK": mark}
    )
    assert result.ok and "ATTACK daemons started" in result.stdout, result
    assert sandbox_containers(docker_client, sandbox.settings.owner) == []
    deadline = time.monotonic() + 5
    while host_processes_with(f"sleep {mark}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert host_processes_with(f"sleep {mark}") == []


def test_host_is_unaffected(docker_client: docker.DockerClient, sandbox: DockerSandbox) -> None:
    """After the attacks: no container of ours, the socket still there, the host sane."""
    assert sandbox_containers(docker_client, sandbox.settings.owner) == []
    assert os.path.exists("/var/run/docker.sock")
    assert not Path("/etc/pwned").exists()
    docker_client.ping()
