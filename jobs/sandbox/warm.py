"""A warm sandbox: one hardened container that stays up for many runs of one analysis.

The container is created exactly as a throw-away run's (jobs.sandbox.runner:
no network, uid 10001, read-only root, capped /tmp, no capabilities,
no-new-privileges, pids/memory/CPU limits, an init), with a lifetime cap as its
main process (`sleep`). A server is started in it with `docker exec`: requests
go to the exec's stdin, the server's answers come back on the exec's stdout,
and its stderr (the tests' output) is kept as a capped tail. No other process
in the container holds those streams, so no test can write on them, unlike
the container's own output, which its init holds too.

The checkout a run sees is the host directory mounted at /work/repo, emptied
and filled again by the host between runs (`clear_workdir`, `prepare_workdir`).

The protocol on top (JSON lines: a setup line, then one request per run,
answered by lines that end with a record {"t": "ran"} the server alone writes)
is the caller's; this module only frames it, bounds it in time and size, and
removes the container when anything goes wrong or the caller closes it.
"""

from __future__ import annotations

import contextlib
import json
import math
import select
import socket
import time
import uuid
import weakref
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import docker.errors

from provenfix.jobs.sandbox.errors import SandboxError, SandboxRunError
from provenfix.jobs.sandbox.runner import (
    ContainerSpec,
    base_environment,
    check_workdir,
    container_kwargs,
    remove_container,
)
from provenfix.jobs.sandbox.settings import OWNER_LABEL, WORK_REPO, SandboxLimits
from provenfix.jobs.sandbox.workdir import clear_workdir

__all__ = [
    "Exchange",
    "ServerGone",
    "WarmContainer",
    "WarmSpec",
    "image_volumes",
    "parallel_runs",
]

SERVER_DIR = "/provenfix"  # the server's modules, mounted read-only
WARM_LABEL = "provenfix.sandbox.warm"
START_TIMEOUT_S = 120.0
ANSWER_GRACE_S = 60.0  # past a run's own time limit: killing strays, cleaning up
STDERR_TAIL_BYTES = 64 * 1024
_END = b'{"t":"ran"'
_STDOUT, _STDERR = 1, 2


class ServerGone(SandboxError):
    """The warm container's server ended or stopped answering; the container is removed."""


@dataclass(frozen=True)
class WarmSpec:
    image: str
    limits: SandboxLimits
    server_command: tuple[str, ...]  # run with `docker exec` in SERVER_DIR
    server_files: Path  # host directory mounted read-only at SERVER_DIR
    lifetime_s: float
    owner: str
    environment: Mapping[str, str]  # besides base_environment's


@dataclass(frozen=True)
class Exchange:
    """What one request brought back."""

    lines: tuple[bytes, ...]  # the server's lines before its end record
    end: Mapping[str, Any] | None  # None: the server ended or stopped answering
    problem: str  # why there is no end record
    stderr_tail: str
    overflow: bool  # more than the cap came back; the rest was dropped
    duration_s: float


def parallel_runs(client: docker.DockerClient, limits: SandboxLimits, setting: int) -> int:
    """Warm containers an analysis may run at once: `setting`, or (0) as many as the engine's
    cores (each container gets `limits.cpus`) and three quarters of its memory allow."""
    if setting > 0:
        return setting
    try:
        info = client.info()
    except (docker.errors.DockerException, OSError):
        return 1
    cores = int(info.get("NCPU") or 1) // max(1, math.ceil(limits.cpus))
    memory = int(info.get("MemTotal") or 0) * 3 // 4 // limits.memory_bytes
    return max(1, min(cores, memory, 16))


def image_volumes(client: docker.DockerClient, image: str) -> list[str]:
    """The image's VOLUME paths other than /work/repo: each run gets a writable anonymous
    volume there, which a warm container keeps; the server watches them for changes."""
    try:
        config = client.images.get(image).attrs.get("Config") or {}
    except docker.errors.DockerException as exc:
        raise SandboxRunError(f"inspecting image {image} failed: {exc}") from exc
    return sorted(p for p in (config.get("Volumes") or {}) if p.rstrip("/") != WORK_REPO)


class WarmContainer:
    """One warm container and its server; used by one thread at a time."""

    def __init__(self, client: docker.DockerClient, spec: WarmSpec, repo: Path) -> None:
        self.client = client
        self.spec = spec
        self.name = f"provenfix-sb-warm-{uuid.uuid4().hex[:12]}"
        self.repo = repo  # the host directory mounted at /work/repo
        self.started_at = 0.0
        self.container_id = ""
        self._exec_id = ""
        self._stream: _Frames | None = None
        self._finalizer = weakref.finalize(self, remove_container, client, self.name)

    @property
    def alive(self) -> bool:
        return self._stream is not None

    def expires_within(self, seconds: float) -> bool:
        return time.monotonic() + seconds >= self.started_at + self.spec.lifetime_s

    def start(self, setup: Mapping[str, Any]) -> Mapping[str, Any]:
        """Create and start the container and its server, send `setup`; the server's first
        record. SandboxRunError when the engine or the server fails (nothing is left)."""
        spec = self.spec
        self.repo.mkdir(parents=True, exist_ok=True)
        clear_workdir(self.repo)
        container_spec = ContainerSpec(
            image=spec.image,
            command=("sleep", f"{spec.lifetime_s:.0f}"),
            limits=spec.limits,
            environment=base_environment({**spec.environment, "PYTHONPATH": SERVER_DIR}),
            workdir=check_workdir(self.repo),
            readonly_binds={str(spec.server_files): SERVER_DIR},
            working_dir="/",
            labels={OWNER_LABEL: spec.owner, WARM_LABEL: "1"},
        )
        try:
            try:
                container: Any = self.client.containers.create(
                    **container_kwargs(container_spec, self.name)
                )
                container.start()
                self.started_at = time.monotonic()
                self.container_id = str(container.id)
                api = self.client.api
                self._exec_id = api.exec_create(
                    container.id,
                    list(spec.server_command),
                    stdin=True,
                    stdout=True,
                    stderr=True,
                    tty=False,
                    workdir=SERVER_DIR,
                )["Id"]
                self._stream = _Frames(api.exec_start(self._exec_id, socket=True))
            except docker.errors.ImageNotFound as exc:
                raise SandboxRunError(f"image {spec.image} not found: {exc.explanation}") from exc
            except (docker.errors.DockerException, OSError) as exc:
                raise SandboxRunError(f"starting a warm sandbox container failed: {exc}") from exc
            first = self._first_record(setup)
        except BaseException:
            self.close()
            raise
        return first

    def _first_record(self, setup: Mapping[str, Any]) -> Mapping[str, Any]:
        stream = self._stream
        assert stream is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        try:
            stream.send(_line(setup))
            with contextlib.closing(stream.lines(deadline)) as lines:
                for line in lines:
                    record = json.loads(line)
                    if isinstance(record, dict) and record.get("t") == "ready":
                        return record
                    break
        except (OSError, ValueError, TimeoutError) as exc:
            raise SandboxRunError(f"the warm sandbox's server did not start: {exc}") from exc
        raise SandboxRunError(
            "the warm sandbox's server did not start: "
            + (_last_lines(stream.tail()) or "no output")
        )

    def exchange(self, request: Mapping[str, Any], timeout_s: float, *, cap_bytes: int) -> Exchange:
        """Send `request`; collect the lines up to the server's end record, for at most
        `timeout_s` plus a grace. Without an end record the container is removed."""
        stream = self._stream
        if stream is None:
            raise ServerGone(f"warm container {self.name} is closed")
        started = time.monotonic()
        deadline = started + timeout_s + ANSWER_GRACE_S
        stream.reset_tail()
        lines: list[bytes] = []
        size = 0
        overflow = False
        problem = ""
        try:
            stream.send(_line(request))
            with contextlib.closing(stream.lines(deadline)) as received:
                for line in received:
                    end = _end_record(line)
                    if end is not None:
                        seconds = time.monotonic() - started
                        return Exchange(tuple(lines), end, "", stream.tail(), overflow, seconds)
                    size += len(line) + 1
                    if size > cap_bytes:
                        overflow = True
                    else:
                        lines.append(line)
            problem = self._why_ended()
        except TimeoutError:
            problem = f"the test server did not answer within {timeout_s + ANSWER_GRACE_S:.0f} s"
        except OSError as exc:
            problem = f"the connection to the test server failed: {exc}"
        tail = stream.tail()
        self.close()
        return Exchange(tuple(lines), None, problem, tail, overflow, time.monotonic() - started)

    def _why_ended(self) -> str:
        try:
            code = self.client.api.exec_inspect(self._exec_id).get("ExitCode")
            state = self.client.api.inspect_container(self.name).get("State", {})
        except (docker.errors.DockerException, OSError):
            return "the test server ended"
        why = f"the test server ended (exit code {code})"
        if state.get("OOMKilled"):
            why += f"; the memory limit {self.spec.limits.memory} was reached"
        elif not state.get("Running"):
            why += "; the container stopped"
        return why

    def close(self) -> None:
        """Stop the server and remove the container (idempotent)."""
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
        try:
            self._finalizer()
        except (docker.errors.DockerException, OSError) as exc:
            raise SandboxRunError(f"removing container {self.name} failed: {exc}") from exc


def _line(record: Mapping[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":")).encode("utf-8") + b"\n"


def _end_record(line: bytes) -> Mapping[str, Any] | None:
    """The server's end record: {"t":"ran",...} with no step name (a test process's lines
    always carry one: the server stamps them)."""
    if not line.startswith(_END):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) and "s" not in record else None


def _last_lines(text: str, count: int = 3) -> str:
    return " | ".join(text.strip().splitlines()[-count:])


class _Frames:
    """The exec's multiplexed stream (8-byte headers: stream, size): stdout as lines,
    stderr as a capped tail."""

    def __init__(self, sock: Any) -> None:
        self._keep = sock  # the response object holds TLS connections open
        self._raw: socket.socket = getattr(sock, "_sock", sock)
        self._buffer = bytearray()
        self._stdout = bytearray()
        self._stderr = bytearray()
        self._eof = False

    def send(self, data: bytes) -> None:
        self._raw.sendall(data)

    def lines(self, deadline: float) -> Generator[bytes, None, None]:
        """Complete stdout lines until the stream ends; TimeoutError at `deadline`. Lines
        not taken when the iterator is closed stay for the next call."""
        while True:
            start = 0
            try:
                while (end := self._stdout.find(b"\n", start)) >= 0:
                    line, start = bytes(self._stdout[start:end]), end + 1
                    yield line
            finally:
                del self._stdout[:start]
            if self._eof:
                return
            self._fill(deadline)

    def _fill(self, deadline: float) -> None:
        pending = getattr(self._raw, "pending", None)  # TLS may hold decrypted bytes
        if not (pending is not None and pending()):
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._raw], [], [], remaining)[0]:
                raise TimeoutError("no answer in time")
        chunk = self._raw.recv(1 << 20)
        if not chunk:
            self._eof = True
            return
        self._buffer += chunk
        while len(self._buffer) >= 8:
            size = int.from_bytes(self._buffer[4:8], "big")
            if len(self._buffer) < 8 + size:
                break
            kind, payload = self._buffer[0], bytes(self._buffer[8 : 8 + size])
            del self._buffer[: 8 + size]
            if kind == _STDOUT:
                self._stdout += payload
            elif kind == _STDERR:
                self._stderr += payload
                del self._stderr[:-STDERR_TAIL_BYTES]

    def tail(self) -> str:
        return bytes(self._stderr).decode("utf-8", errors="replace")

    def reset_tail(self) -> None:
        self._stderr.clear()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._raw.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            self._raw.close()
