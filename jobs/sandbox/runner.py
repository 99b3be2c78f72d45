"""Run a command on a copy of a checkout in a hardened, throw-away container.

Every run: no network, uid 10001, read-only root filesystem, a size-capped /tmp,
no capabilities, no-new-privileges, pids/memory(no swap)/CPU limits, an init
that reaps strays, only explicit environment variables, the work directory as
the only host path, and a wall-clock timeout after which the container is
killed. The container is removed whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
from docker.types import LogConfig, Ulimit

from provenfix.jobs.sandbox.engine import connect_docker
from provenfix.jobs.sandbox.errors import SandboxRunError, WorkdirError
from provenfix.jobs.sandbox.settings import (
    CONTAINER_LABEL,
    IMAGE_PATH,
    OWNER_LABEL,
    SANDBOX_GID,
    SANDBOX_UID,
    WORK_REPO,
    SandboxLimits,
    SandboxSettings,
    format_size,
    settings_from_env,
)

__all__ = [
    "ContainerSpec",
    "DockerSandbox",
    "SandboxLimits",
    "SandboxResult",
    "SandboxSettings",
    "base_environment",
    "container_kwargs",
    "remove_container",
    "run_container",
    "sandbox_from_env",
]

_KILL_GRACE_S = 30.0
_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock", "/run/containerd/containerd.sock")


@dataclass(frozen=True)
class SandboxResult:
    exit_code: int | None  # None only if the engine never reported one
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool
    oom_killed: bool
    reason: str  # "exit code 1", "timed out after 30 s", "killed: memory limit 512 MiB exceeded"
    stdout_truncated: bool = False
    stderr_truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out and not self.oom_killed


@dataclass(frozen=True)
class ContainerSpec:
    """Everything one container gets. The defaults are the locked-down test run."""

    image: str
    command: tuple[str, ...]
    limits: SandboxLimits
    environment: Mapping[str, str]  # complete: nothing else is added but the image's ENV
    workdir: Path | None  # host directory bound read-write at /work/repo
    network_mode: str = "none"
    read_only: bool = True
    readonly_binds: Mapping[str, str] = field(default_factory=dict)  # host -> container
    user: str = f"{SANDBOX_UID}:{SANDBOX_GID}"
    cap_add: tuple[str, ...] = ()
    working_dir: str = WORK_REPO
    labels: Mapping[str, str] = field(default_factory=dict)  # besides provenfix.sandbox=1


def base_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a run: fixed variables plus `extra`, never the host's."""
    env = {
        "PATH": IMAGE_PATH,
        "HOME": "/tmp",
        "PYTHONDONTWRITEBYTECODE": "1",
        "LANG": "C.UTF-8",
    }
    for key, value in (extra or {}).items():
        if not key or "=" in key or "\0" in key or "\0" in value:
            raise SandboxRunError(f"invalid environment variable name or value: {key!r}")
        env[key] = value
    return env


def check_workdir(workdir: Path) -> Path:
    """The resolved work directory, refused unless it is a safe, sandbox-writable tree."""
    path = Path(os.path.realpath(workdir))
    if not path.is_dir():
        raise WorkdirError(f"work directory {workdir} does not exist or is not a directory")
    if len(path.parts) < 3:
        raise WorkdirError(f"refusing to mount {path}: too close to the filesystem root")
    for socket_path in _SOCKETS:
        if Path(os.path.realpath(socket_path)).is_relative_to(path):
            raise WorkdirError(f"refusing to mount {path}: it contains {socket_path}")
    info = path.stat()
    if info.st_uid != SANDBOX_UID and not info.st_mode & stat.S_IWOTH:
        raise WorkdirError(
            f"work directory {path} is not writable by uid {SANDBOX_UID}; "
            "make it with prepare_workdir(src, dst)"
        )
    return path


def describe(
    exit_code: int | None, timed_out: bool, oom_killed: bool, limits: SandboxLimits
) -> str:
    if timed_out:
        return f"timed out after {limits.timeout_s:g} s"
    if oom_killed:
        return f"killed: memory limit {format_size(limits.memory_bytes)} exceeded"
    if exit_code is None:
        return "no exit code reported"
    if exit_code > 128:
        with contextlib.suppress(ValueError):
            return f"exit code {exit_code} (killed by {signal.Signals(exit_code - 128).name})"
    return f"exit code {exit_code}"


def container_kwargs(spec: ContainerSpec, name: str) -> dict[str, Any]:
    """The engine's create arguments for `spec`: every hardening setting of a sandbox run."""
    limits = spec.limits
    volumes: dict[str, dict[str, str]] = {}
    if spec.workdir is not None:
        volumes[str(spec.workdir)] = {"bind": WORK_REPO, "mode": "rw"}
    for host, target in spec.readonly_binds.items():
        volumes[host] = {"bind": target, "mode": "ro"}
    # json-file keeps at most 2 files of this size: bounds the host disk a flood can use.
    log_file_bytes = max(4 * limits.output_cap_bytes, 1 << 20)
    return {
        "image": spec.image,
        "command": list(spec.command),
        "name": name,
        "detach": True,
        "user": spec.user,
        "working_dir": spec.working_dir,
        "environment": [f"{key}={value}" for key, value in spec.environment.items()],
        "labels": {**spec.labels, CONTAINER_LABEL: "1", f"{CONTAINER_LABEL}.run": name},
        "hostname": "sandbox",
        "network_mode": spec.network_mode,
        "read_only": spec.read_only,
        # exec: tests routinely run scripts they write to tmp_path; /work/repo is
        # writable and executable anyway, so noexec here would buy nothing.
        "tmpfs": {"/tmp": f"rw,exec,nosuid,nodev,size={limits.tmpfs_bytes},mode=1777"},
        "cap_drop": ["ALL"],
        "cap_add": list(spec.cap_add) or None,
        "security_opt": ["no-new-privileges"],
        "pids_limit": limits.pids,
        "mem_limit": limits.memory_bytes,
        "memswap_limit": limits.memory_bytes,
        "nano_cpus": limits.nano_cpus,
        "shm_size": min(64 << 20, limits.memory_bytes // 4),
        "ipc_mode": "private",
        "oom_score_adj": 1000,  # if the host runs short, the sandbox dies first
        "init": True,
        "ulimits": [
            Ulimit(name="core", soft=0, hard=0),
            Ulimit(name="fsize", soft=limits.max_file_bytes, hard=limits.max_file_bytes),
            Ulimit(name="nofile", soft=1024, hard=4096),
        ],
        "log_config": LogConfig(
            type="json-file", config={"max-size": str(log_file_bytes), "max-file": "2"}
        ),
        "volumes": volumes,
        "stdin_open": False,
        "tty": False,
    }


def _tail(data: bytes, cap: int) -> tuple[str, bool]:
    if len(data) <= cap:
        return data.decode("utf-8", errors="replace"), False
    kept = data[-cap:]
    text = kept.decode("utf-8", errors="replace")
    return f"[output truncated: only the last {cap} bytes are kept]\n{text}", True


def _kill(container: Any) -> None:
    with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
        container.kill()  # 409 when it exited in the meantime: fine
    try:
        container.wait(timeout=_KILL_GRACE_S)
    except docker.errors.NotFound:
        pass
    except (docker.errors.DockerException, OSError) as exc:
        raise SandboxRunError(f"container {container.name} did not stop after kill: {exc}") from exc


def remove_container(client: docker.DockerClient, name: str) -> None:
    # By name: it also finds a container whose create call was interrupted.
    with contextlib.suppress(docker.errors.NotFound):
        client.api.remove_container(name, force=True, v=True)


def run_container(
    client: docker.DockerClient,
    spec: ContainerSpec,
    *,
    on_exit: Callable[[Any, SandboxResult], None] | None = None,
) -> SandboxResult:
    """Create, start, wait (up to the timeout, then kill), collect, always remove.

    `on_exit(container, result)` runs after the container stopped and before it
    is removed (the install step commits it there).
    """
    name = f"provenfix-sb-{uuid.uuid4().hex[:16]}"
    failed = True
    try:
        try:
            container: Any = client.containers.create(**container_kwargs(spec, name))
            started = time.monotonic()
            container.start()
        except docker.errors.ImageNotFound as exc:
            raise SandboxRunError(f"image {spec.image} not found: {exc.explanation}") from exc
        except docker.errors.APIError as exc:
            raise SandboxRunError(f"starting a sandbox container failed: {exc}") from exc
        timed_out = False
        try:
            container.wait(timeout=spec.limits.timeout_s)
        except (docker.errors.DockerException, OSError) as exc:
            if time.monotonic() - started < spec.limits.timeout_s - 0.5:
                raise SandboxRunError(f"waiting for {name} failed: {exc}") from exc
            timed_out = True
            _kill(container)
        duration = time.monotonic() - started
        result = _collect(container, spec.limits, duration, timed_out)
        if on_exit is not None:
            on_exit(container, result)
        failed = False
        return result
    finally:
        try:
            remove_container(client, name)
        except (docker.errors.DockerException, OSError) as exc:
            if not failed:  # never hide the exception that is already on its way
                raise SandboxRunError(f"removing container {name} failed: {exc}") from exc


def _collect(
    container: Any, limits: SandboxLimits, duration: float, timed_out: bool
) -> SandboxResult:
    try:
        container.reload()
        state = container.attrs.get("State", {})
        stdout_raw = container.logs(stdout=True, stderr=False)
        stderr_raw = container.logs(stdout=False, stderr=True)
    except docker.errors.DockerException as exc:
        raise SandboxRunError(f"inspecting container {container.name} failed: {exc}") from exc
    exit_code = state.get("ExitCode")
    oom_killed = bool(state.get("OOMKilled"))
    stdout, stdout_cut = _tail(stdout_raw, limits.output_cap_bytes)
    stderr, stderr_cut = _tail(stderr_raw, limits.output_cap_bytes)
    return SandboxResult(
        exit_code=exit_code if isinstance(exit_code, int) else None,
        stdout=stdout,
        stderr=stderr,
        duration_s=duration,
        timed_out=timed_out,
        oom_killed=oom_killed,
        reason=describe(exit_code, timed_out, oom_killed, limits),
        stdout_truncated=stdout_cut,
        stderr_truncated=stderr_cut,
    )


class DockerSandbox:
    """Runs commands in throw-away hardened containers on one engine."""

    def __init__(self, client: docker.DockerClient, settings: SandboxSettings) -> None:
        self.client = client
        self.settings = settings

    def run(
        self,
        image: str,
        command: Sequence[str],
        workdir: Path,
        *,
        limits: SandboxLimits | None = None,
        env: Mapping[str, str] | None = None,
    ) -> SandboxResult:
        """Run `command` in `image` with `workdir` (a copy the caller made) at /work/repo.

        A failing, killed or timed-out command is a result, not an exception;
        SandboxRunError means the engine itself failed.
        """
        if isinstance(command, str):
            raise SandboxRunError("command must be a sequence of arguments, not a string")
        spec = ContainerSpec(
            image=image,
            command=tuple(command),
            limits=limits or self.settings.limits,
            environment=base_environment(env),
            workdir=check_workdir(workdir),
            labels={OWNER_LABEL: self.settings.owner},
        )
        return run_container(self.client, spec)

    def leftover_containers(self, *, older_than_s: float = 0.0) -> list[str]:
        """Names of this owner's sandbox containers that still exist (a worker was SIGKILLed),
        created more than `older_than_s` ago.

        Only containers labelled with `settings.owner`: other workers' runs are not ours.
        """
        labels = [f"{CONTAINER_LABEL}=1", f"{OWNER_LABEL}={self.settings.owner}"]
        # The listing itself, not a model per container: one that is removed meanwhile
        # (another analysis ending) must not fail the listing.
        found: list[dict[str, Any]] = self.client.api.containers(
            all=True, filters={"label": labels}
        )
        cutoff = time.time() - older_than_s
        return sorted(
            str(entry["Names"][0]).lstrip("/")
            for entry in found
            if entry.get("Names") and (older_than_s <= 0 or _created_at(entry) < cutoff)
        )

    def remove_leftovers(self, *, older_than_s: float = 0.0) -> int:
        """Remove what `leftover_containers` lists; the worker calls it when it starts, for
        containers older than any run may last (another worker of this owner may be busy)."""
        names = self.leftover_containers(older_than_s=older_than_s)
        for name in names:
            remove_container(self.client, name)
        return len(names)

    @property
    def longest_run_s(self) -> float:
        """No container of ours lives longer than this unless its worker died (a warm
        container lives for an analysis, up to `warm_lifetime_s`)."""
        settings = self.settings
        longest = max(settings.limits.timeout_s, settings.install_limits.timeout_s)
        if settings.warm:
            longest = max(longest, settings.warm_lifetime_s)
        return longest + 60


def _created_at(entry: dict[str, Any]) -> float:
    created = entry.get("Created")
    # unknown age: never old enough to remove
    return float(created) if isinstance(created, int | float) else time.time()


def open_sandbox(settings: SandboxSettings) -> DockerSandbox:
    """A sandbox on a pinged engine (SandboxUnavailable if none), as `settings` say."""
    client = connect_docker(dict(settings.docker_env), settings.docker_base_url)
    return DockerSandbox(client, settings)


def sandbox_from_env(env: Mapping[str, str]) -> DockerSandbox:
    """`open_sandbox` with the settings in `env` (PROVENFIX_SANDBOX_*, DOCKER_HOST)."""
    return open_sandbox(settings_from_env(env))
