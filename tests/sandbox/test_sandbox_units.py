"""The sandbox's pure parts: limits, settings, fingerprints, install plans, work dirs."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from sandbox_support import write_tree

from provenfix.jobs.sandbox.engine import connect_docker
from provenfix.jobs.sandbox.env_image import (
    declared_test_extras,
    default_install_commands,
    dependency_files,
    dependency_fingerprint,
    install_script,
    is_packaged,
)
from provenfix.jobs.sandbox.errors import SandboxRunError, SandboxUnavailable, WorkdirError
from provenfix.jobs.sandbox.runner import (
    base_environment,
    check_workdir,
    describe,
    sandbox_from_env,
)
from provenfix.jobs.sandbox.settings import (
    SANDBOX_UID,
    SandboxConfigError,
    SandboxLimits,
    SandboxSettings,
    format_size,
    parse_size,
    settings_from_env,
)
from provenfix.jobs.sandbox.workdir import prepare_workdir, read_result_file, remove_workdir


@pytest.mark.parametrize(
    ("text", "expected"),
    [("512m", 512 << 20), ("1g", 1 << 30), ("1.5GiB", 3 << 29), ("64k", 65536), ("100", 100)],
)
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1m", "0", "1x"])
def test_parse_size_rejects(text: str) -> None:
    with pytest.raises(SandboxConfigError):
        parse_size(text)


def test_format_size() -> None:
    assert format_size(512 << 20) == "512 MiB"
    assert format_size(1 << 30) == "1 GiB"
    assert format_size(3 << 29) == "1.5 GiB"
    assert format_size(100) == "100 B"


@pytest.mark.parametrize(
    "kwargs",
    [{"memory": "1m"}, {"pids": 2}, {"cpus": 0.0}, {"timeout_s": 0}, {"output_cap_bytes": 10}],
)
def test_limits_are_validated(kwargs: dict[str, object]) -> None:
    with pytest.raises(SandboxConfigError):
        SandboxLimits(**kwargs)  # type: ignore[arg-type]


def test_settings_from_env() -> None:
    settings = settings_from_env(
        {
            "PROVENFIX_SANDBOX_IMAGE": "python:3.12-slim",
            "PROVENFIX_SANDBOX_MEMORY": "2g",
            "PROVENFIX_SANDBOX_PIDS": "512",
            "PROVENFIX_SANDBOX_CPUS": "1.5",
            "PROVENFIX_SANDBOX_TIMEOUT_S": "120",
            "PROVENFIX_SANDBOX_CA_CERTS": "",
            "PROVENFIX_SANDBOX_INSTALL_NETWORK": "pypi-only",
            "PROVENFIX_PIP_INDEX_URL": "https://mirror.example/simple",
        }
    )
    assert settings.base_image == "python:3.12-slim"
    assert settings.limits.memory_bytes == 2 << 30
    assert (settings.limits.pids, settings.limits.cpus, settings.limits.timeout_s) == (
        512,
        1.5,
        120.0,
    )
    assert settings.ca_certs_dir is None
    assert settings.install_network_mode == "pypi-only"
    assert settings.pip_index_url == "https://mirror.example/simple"
    assert settings_from_env({}) == SandboxSettings()


def test_settings_from_env_names_the_bad_variable() -> None:
    with pytest.raises(SandboxConfigError, match="PROVENFIX_SANDBOX_PIDS"):
        settings_from_env({"PROVENFIX_SANDBOX_PIDS": "many"})


def test_describe() -> None:
    limits = SandboxLimits(memory="512m", timeout_s=30)
    assert describe(0, False, False, limits) == "exit code 0"
    assert describe(1, False, False, limits) == "exit code 1"
    assert describe(137, True, False, limits) == "timed out after 30 s"
    assert describe(137, False, True, limits) == "killed: memory limit 512 MiB exceeded"
    assert describe(139, False, False, limits) == "exit code 139 (killed by SIGSEGV)"


def test_base_environment_never_takes_the_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROVENFIX_TEST_SECRET", "nope")
    env = base_environment({"CI": "1"})
    assert set(env) == {"PATH", "HOME", "PYTHONDONTWRITEBYTECODE", "LANG", "CI"}
    assert env["HOME"] == "/tmp"
    with pytest.raises(SandboxRunError):
        base_environment({"A=B": "x"})


def test_unreachable_engine_fails_fast_with_the_fix() -> None:
    with pytest.raises(SandboxUnavailable, match="DOCKER_HOST") as caught:
        connect_docker({"DOCKER_HOST": "unix:///nonexistent/docker.sock"})
    assert "start it" in str(caught.value)
    with pytest.raises(SandboxUnavailable):
        sandbox_from_env({"DOCKER_HOST": "unix:///nonexistent/docker.sock"})


# --- dependency fingerprint and install plan ---


def test_fingerprint_covers_dependency_files_only(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", {"requirements.txt": "six\n", "app.py": "x = 1\n"})
    first = dependency_fingerprint(repo, base_image_id="sha256:a", install_command="pip")
    (repo / "app.py").write_text("x = 2\n")
    (repo / "README.md").write_text("docs\n")
    assert dependency_fingerprint(repo, base_image_id="sha256:a", install_command="pip") == first
    for change in (
        lambda: (repo / "requirements.txt").write_text("six==1.16\n"),
        lambda: write_tree(repo, {"requirements/test.txt": "pytest\n"}),
        lambda: write_tree(repo, {"poetry.lock": "x"}),
        lambda: write_tree(repo, {"tox.ini": "[tox]\n"}),
    ):
        change()
        changed = dependency_fingerprint(repo, base_image_id="sha256:a", install_command="pip")
        assert changed != first
        first = changed
    assert dependency_fingerprint(repo, base_image_id="sha256:b", install_command="pip") != first
    assert dependency_fingerprint(repo, base_image_id="sha256:a", install_command="uv") != first
    scoped = dependency_fingerprint(
        repo, base_image_id="sha256:a", install_command="pip", scope="pr-1"
    )
    assert scoped != first
    assert dependency_files(repo) == [
        "poetry.lock",
        "requirements.txt",
        "requirements/test.txt",
        "tox.ini",
    ]


def test_fingerprint_does_not_follow_symlinks(tmp_path: Path) -> None:
    outside = tmp_path / "host-secret.txt"
    outside.write_text("one")
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "requirements.txt").symlink_to(outside)
    (repo / "requirements").symlink_to(tmp_path)  # a directory link is not entered
    first = dependency_fingerprint(repo)
    outside.write_text("two")
    assert dependency_fingerprint(repo) == first
    assert dependency_files(repo) == ["requirements.txt"]


def test_install_plan_for_a_packaged_project(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path / "repo",
        {
            "pyproject.toml": '[project]\nname = "x"\n[project.optional-dependencies]\n'
            'Test = ["six"]\ndocs = ["sphinx"]\n',
            "requirements-dev.txt": "ruff\n",
            "requirements.txt": "flask\n",
        },
    )
    assert is_packaged(repo)
    assert declared_test_extras(repo) == ["test"]
    commands = default_install_commands(repo)
    assert commands[0] == "pip install -e ."
    assert any(".[test]" in command and "||" in command for command in commands)
    assert not any("docs" in command for command in commands)
    assert any("requirements-dev.txt" in command and "||" in command for command in commands)


def test_install_plan_for_setup_py_tries_the_test_extras(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "repo", {"setup.py": "from setuptools import setup\nsetup()\n"})
    assert declared_test_extras(repo) is None
    commands = default_install_commands(repo)
    assert [c.split("'")[1] for c in commands[1:]] == [
        ".[test]",
        ".[tests]",
        ".[testing]",
        ".[dev]",
    ]


def test_install_plan_without_packaging_uses_requirements(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path / "repo",
        {
            "pyproject.toml": "[tool.pytest.ini_options]\naddopts = '-q'\n",
            "requirements.txt": "six\n",
            "requirements/test.txt": "pytest\n",
        },
    )
    assert not is_packaged(repo)
    assert default_install_commands(repo) == [
        "pip install -r requirements.txt -r requirements/test.txt"
    ]
    assert default_install_commands(write_tree(tmp_path / "empty", {})) == []


def test_install_script_keeps_pip_settings_out_of_the_image() -> None:
    script = install_script(["pip install six"], SandboxSettings(pip_index_url="https://m/simple"))
    assert "export HOME=/tmp" in script and "PIP_CERT=/etc/ssl/certs/ca-certificates.crt" in script
    assert "PIP_INDEX_URL=https://m/simple" in script
    assert script.index("pip install six") < script.index("pip install pytest coverage")


# --- work directories ---


def test_prepare_workdir_copies_without_following_links(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("host secret")
    src = write_tree(tmp_path / "src", {"a.py": "x", "pkg/b.py": "y", ".git/HEAD": "ref"})
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o700)
    (src / "escape").symlink_to(secret)
    (src / "escape_dir").symlink_to(tmp_path)
    os.mkfifo(src / "fifo")
    dst = prepare_workdir(src, tmp_path / "dst", exclude={".git"})
    assert (dst / "pkg/b.py").read_text() == "y"
    # links out of the tree are left out (jobs.links), and never followed either
    assert not os.path.lexists(dst / "escape") and not os.path.lexists(dst / "escape_dir")
    (src / "inside").symlink_to("pkg/b.py")
    assert os.readlink(prepare_workdir(src, tmp_path / "dst2") / "inside") == "pkg/b.py"
    assert not (dst / "fifo").exists() and not (dst / ".git").exists()
    assert stat.S_IMODE((dst / "run.sh").stat().st_mode) == 0o755
    if os.geteuid() == 0:
        owners = {p.lstat().st_uid for p in [dst, *dst.rglob("*")]}
        assert owners == {SANDBOX_UID}
    with pytest.raises(WorkdirError):
        prepare_workdir(src, dst)  # exists
    with pytest.raises(WorkdirError):
        prepare_workdir(src, src / "inside")


def test_check_workdir_refuses_unsafe_mounts(tmp_path: Path) -> None:
    with pytest.raises(WorkdirError):
        check_workdir(Path("/"))
    with pytest.raises(WorkdirError):
        check_workdir(Path("/var"))  # holds the docker socket (and too shallow)
    with pytest.raises(WorkdirError):
        check_workdir(tmp_path / "missing")
    plain = tmp_path / "plain"
    plain.mkdir(mode=0o755)
    with pytest.raises(WorkdirError, match="prepare_workdir"):
        check_workdir(plain)
    ready = prepare_workdir(plain, tmp_path / "ready")
    assert check_workdir(ready) == ready.resolve()


def test_read_result_file_trusts_nothing(tmp_path: Path) -> None:
    workdir = write_tree(tmp_path / "work", {"reports/junit.xml": "<xml/>", "big.txt": "x" * 100})
    (tmp_path / "host.txt").write_text("host secret")
    (workdir / "link.xml").symlink_to(tmp_path / "host.txt")
    (workdir / "dirlink").symlink_to(tmp_path)
    os.mkfifo(workdir / "fifo.xml")
    assert read_result_file(workdir, "reports/junit.xml") == b"<xml/>"
    for bad in ("link.xml", "dirlink/host.txt", "../host.txt", "/etc/passwd", "fifo.xml"):
        with pytest.raises(WorkdirError):
            read_result_file(workdir, bad)
    with pytest.raises(WorkdirError, match="over"):
        read_result_file(workdir, "big.txt", max_bytes=10)


def test_remove_workdir_handles_traps(tmp_path: Path) -> None:
    outside = tmp_path / "keep.txt"
    outside.write_text("keep")
    workdir = write_tree(tmp_path / "work", {"a/b/c.txt": "x"})
    (workdir / "link").symlink_to(tmp_path)
    (workdir / "a").chmod(0)
    deep = workdir / "deep"
    deep.mkdir()
    fd = os.open(deep, os.O_RDONLY)
    for _ in range(1200):  # deeper than Python's recursion limit
        os.mkdir("d", dir_fd=fd)
        next_fd = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = next_fd
    os.close(fd)
    remove_workdir(workdir)
    assert not workdir.exists() and outside.read_text() == "keep"
    remove_workdir(workdir)  # already gone: fine
    with pytest.raises(WorkdirError):
        remove_workdir(outside)
