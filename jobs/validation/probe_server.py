"""The warm fork server: one per sandbox container, for every run of an analysis.

Runs INSIDE the sandbox as `python -m provenfix_server`, started by the host
with `docker exec`, so it imports nothing from ProvenFix. Its stdout (the
exec's output stream, held by no other process in the container) is the only
channel; requests arrive on its stdin, which no test process holds. It makes
itself non-dumpable (no /proc/<server>/fd for tests), imports pytest and the
probe once, then serves one run at a time: the host has put the run's tree at
/work/repo; each step runs in a forked child exactly as probe_driver runs it.

Between runs it keeps what a cold container would not carry over from one
run to the next from leaking into the next: it kills every process the run
left, empties /tmp, /dev/shm and /dev/mqueue, and reports a *taint* (the host
then replaces the container) when anything else changed: a SysV IPC object,
the image's volumes, its own resource limits, CPU affinity or priority.

It learns the third-party modules the tests import (probe_learn: each child
reports what it loaded from the image's stdlib or site-packages before its
tests first changed the environment or the working directory) and imports them
while idle, at the latest before the next run forks, so later children start
with them loaded. A module is never learned from the repository, nor when its
name exists anywhere in the run's tree, nor when pytest rewrites it; a run
whose tree would shadow a module already loaded is refused, and the host
starts a fresh server for it.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import resource
import select
import signal
import sys
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenfix.jobs.validation import probe_driver as driver
    from provenfix.jobs.validation import probe_learn as learn
else:
    import provenfix_driver as driver
    import provenfix_learn as learn

ROOT = "/work/repo"
PROBE = "provenfix_probe"
WIPED = ("/tmp", "/dev/shm", "/dev/mqueue")
_KILL_ROUNDS = 200


def _live_pids() -> set[int]:
    alive: set[int] = set()
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        if stat[stat.rfind(b")") + 2 :][:1] != b"Z":
            alive.add(int(name))
    return alive


def _kill_strays(keep: set[int]) -> bool:
    """SIGKILL every process but `keep` until none is left; False if some survived."""
    for _ in range(_KILL_ROUNDS):
        strays = _live_pids() - keep
        if not strays:
            return True
        for pid in strays:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)
    return not (_live_pids() - keep)


def _wipe(top: str) -> None:
    """Delete everything inside `top` (iteratively: a run may leave very deep trees)."""
    stack = [(os.path.join(top, name), False) for name in os.listdir(top)]
    while stack:
        path, emptied = stack.pop()
        if emptied:
            os.rmdir(path)
        elif os.path.isdir(path) and not os.path.islink(path):
            with contextlib.suppress(OSError):
                os.chmod(path, 0o700)
            stack.append((path, True))
            stack.extend((os.path.join(path, name), False) for name in os.listdir(path))
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _listing(top: str) -> list[tuple[str, int, int, int]]:
    out: list[tuple[str, int, int, int]] = []
    for folder, dirs, files in os.walk(top):
        for name in sorted(dirs + files):
            with contextlib.suppress(OSError):
                info = os.lstat(os.path.join(folder, name))
                out.append(
                    (os.path.join(folder, name), info.st_mode, info.st_size, info.st_mtime_ns)
                )
    return out


def _ipc_objects() -> list[str]:
    found: list[str] = []
    for kind in ("shm", "sem", "msg"):
        with contextlib.suppress(OSError), open(f"/proc/sysvipc/{kind}", encoding="utf-8") as f:
            found += [f"SysV {kind} {line.split()[1]}" for line in f.read().splitlines()[1:]]
    return found


def _process_state() -> tuple[Any, ...]:
    limits = tuple(
        (name, resource.getrlimit(getattr(resource, name)))
        for name in sorted(dir(resource))
        if name.startswith("RLIMIT_")
    )
    return limits, sorted(os.sched_getaffinity(0)), os.getpriority(os.PRIO_PROCESS, 0)


class Server:
    def __init__(self, channel: int, setup: dict[str, Any]) -> None:
        self.channel = channel
        self.keep = _live_pids()  # init, the container's main process, this server
        self.watched = [str(p) for p in setup.get("watch", [])]
        self.volumes = {p: _listing(p) for p in self.watched}
        self.state = _process_state()
        self.learner = learn.Learner(setup.get("preload", []), setup.get("avoid", []))
        self.reported: list[list[Any]] = []
        self.versions: dict[str, dict[str, str]] = {}

    def idle(self, requests: _Lines) -> bytes | None:
        """The next request line (None at the end), importing what was learned meanwhile."""
        learner = self.learner
        while True:
            line = requests.take()
            if line is not None or requests.closed:
                return line
            if learner.pending and not learner.taint:
                if not requests.wait(0):
                    learner.import_next()
                continue
            requests.wait(None)

    def serve(self, request: dict[str, Any]) -> None:
        ran: dict[str, Any] = {"t": "ran", "id": request.get("id")}
        learner = self.learner
        tree = learn.tree_names(ROOT)
        shadowed = learner.shadowed(tree)
        while learner.pending and not learner.taint and not shadowed:
            learner.import_next()  # what the last run taught, before this one forks
        if learner.taint or shadowed:
            ran["refused"] = learner.taint or f"the tree shadows {', '.join(shadowed[:5])}"
            ran["avoid"] = sorted(learner.avoid | set(shadowed))
            driver._channel_write(self.channel, ran)
            return
        started = time.monotonic()
        self.reported = []
        finished = False
        try:
            os.chdir(ROOT)
            self.versions = {
                path: {"cand": _read(path), "head": str(text)}
                for path, text in dict(request.get("versions", {})).items()
            }
            finished = driver.run_steps(
                self.channel,
                list(request["steps"]),
                self.versions,
                self._child,
                deadline=started + float(request.get("timeout_s", 600)),
                consume=self._consume,
            )
        except (OSError, UnicodeError, ValueError, KeyError, TypeError) as exc:
            ran["error"] = f"{type(exc).__name__}: {exc}"[:500]
        os.chdir("/")
        ran["taint"] = self._clean_up()
        if finished:
            driver._channel_write(self.channel, {"t": "done"})
        queued: set[str] = set()
        for modules in self.reported if tree is not None else []:
            queued.update(learner.queue(modules, tree))
        ran["finished"] = finished
        ran["seconds"] = round(time.monotonic() - started, 3)
        ran["learned"] = [[n, o] for n, o in learner.pending if n in queued]
        ran["avoid"] = sorted(learner.avoid)
        driver._channel_write(self.channel, ran)

    def _consume(self, record: dict[str, Any]) -> bool:
        if record.get("t") != "imports":
            return False
        modules = record.get("modules")
        if isinstance(modules, list) and len(self.reported) < 64:
            self.reported.append(modules)
        return True

    def _child(self, step: dict[str, Any], write_fd: int) -> int:
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as handle:
            handle.write("1000")  # the OOM killer takes a test process before the server
        sys.path[0] = ROOT
        importlib.invalidate_caches()
        watch = learn.Watch()
        probe: Any = sys.modules[PROBE]
        emit = probe.Channel(write_fd)
        code = int(probe.run_step(step, emit, ROOT, self.versions))
        emit({"t": "imports", "modules": watch.learnable(self.learner.roots)})
        return code

    def _clean_up(self) -> str:
        """Leave the container as a fresh one would be; what could not be (a taint), or ""."""
        problems: list[str] = []
        if not _kill_strays(self.keep):
            problems.append("processes the run left could not be killed")
        for top in WIPED:
            if not os.path.isdir(top):
                continue
            try:
                _wipe(top)
            except (OSError, RecursionError) as exc:
                problems.append(f"cannot empty {top}: {exc}")
            if os.path.isdir(top) and os.listdir(top):
                problems.append(f"{top} is not empty")
        problems += _ipc_objects()
        problems += [f"{p} changed" for p in self.watched if _listing(p) != self.volumes[p]]
        if _process_state() != self.state:
            problems.append("the server's limits, CPU affinity or priority changed")
        return "; ".join(problems)[:500]


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


class _Lines:
    """Request lines from a file descriptor, without blocking unless asked to."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = b""
        self.closed = False

    def take(self) -> bytes | None:
        if b"\n" in self.buffer:
            line, self.buffer = self.buffer.split(b"\n", 1)
            return line
        return None

    def wait(self, timeout: float | None) -> bool:
        """Read what is there (waiting up to `timeout`); whether a whole line is ready."""
        if self.closed or b"\n" in self.buffer:
            return True
        if select.select([self.fd], [], [], timeout)[0]:
            chunk = os.read(self.fd, 1 << 20)
            if not chunk:
                self.closed = True
            self.buffer += chunk
        return b"\n" in self.buffer or self.closed

    def next_line(self) -> bytes | None:
        while (line := self.take()) is None and not self.closed:
            self.wait(None)
        return line


def main() -> int:
    channel = os.dup(1)
    os.dup2(2, 1)
    driver._not_dumpable()
    with contextlib.suppress(OSError), open("/proc/self/oom_score_adj", "w") as handle:
        handle.write("999")
    requests = _Lines(0)
    first = requests.next_line()
    if first is None:
        return 0
    importlib.import_module(PROBE)  # pytest and the probe, once, before any fork

    server = Server(channel, json.loads(first))
    driver._channel_write(channel, {"t": "ready", "pid": os.getpid()})
    while (line := server.idle(requests)) is not None:
        server.serve(json.loads(line))
    # the host is gone (or done): end the container's main process, and so the container
    for pid in server.keep - {1, os.getpid()}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
