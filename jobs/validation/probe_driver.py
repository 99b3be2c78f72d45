"""The sandbox's entry point: runs a plan of test sessions, streams what they report.

Runs INSIDE the sandbox as `python -m provenfix_driver PLAN`, so it imports
nothing from ProvenFix. The driver itself never runs repository code: it
reads the plan and the file versions it lays over the tree, keeps the
process's stdout for itself (the channel) and points fd 1 at stderr, imports
pytest once, then forks one child per step. Each child gets a fresh pipe,
opened before collection, and no other way to reach the channel; the driver
relays its JSON lines, stamped with the step's name, then adds the child's
exit status as it saw it (waitpid). A step that runs past its time is killed
with its whole process group. Test code can lie about its own step while it
runs; it cannot rewrite what already left, forge another step, or change the
exit status the driver observed, and the host cross-checks the rest.

The warm fork server (probe_server.py) runs its steps with `run_steps` too.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

MAX_STEP_BYTES = 256 * 1024 * 1024
# (step, write_fd) -> exit code, in the forked child; it may not return
ChildBody = Callable[[dict[str, Any], int], int]
Consume = Callable[[dict[str, Any]], bool]  # True: the record was the caller's, not relayed


def _channel_write(fd: int, record: dict[str, Any]) -> None:
    data = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
    while data:
        data = data[os.write(fd, data) :]


def _not_dumpable() -> None:
    """/proc/<driver>/fd/ becomes root's: a test cannot open the driver's stdout through it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4


def read_versions(head_files: dict[str, str]) -> dict[str, dict[str, str]]:
    """path -> {"cand": the tree's text, "head": the text in `head_files[path]`}."""
    versions: dict[str, dict[str, str]] = {}
    for path, head_file in head_files.items():
        with open(path, encoding="utf-8") as handle:
            current = handle.read()
        with open(head_file, encoding="utf-8") as handle:
            head = handle.read()
        versions[path] = {"cand": current, "head": head}
    return versions


def _lay_over(versions: dict[str, dict[str, str]], tree: str) -> None:
    for path, texts in versions.items():
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(texts[tree])


def _relay(
    channel: int,
    step: str,
    pid: int,
    read_fd: int,
    timeout_s: float,
    consume: Consume | None = None,
) -> tuple[int | None, bool]:
    """Forward the child's lines until it exits; (wait status, timed out)."""
    deadline = time.monotonic() + timeout_s
    pending = b""
    received = 0
    status: int | None = None
    timed_out = eof = False
    while True:
        if status is None:
            done, raw = os.waitpid(pid, os.WNOHANG)
            if done:
                status = raw
        if status is not None and eof:
            break
        remaining = deadline - time.monotonic()
        if status is None and remaining <= 0:
            timed_out = True
            break
        if eof:
            time.sleep(min(0.05, remaining))
            continue
        wait = 0.0 if status is not None else min(0.2, remaining)
        if not select.select([read_fd], [], [], wait)[0]:
            if status is not None:  # exited and drained; a grandchild may hold the pipe
                break
            continue
        chunk = os.read(read_fd, 1 << 16)
        if not chunk:
            eof = True
            continue
        received += len(chunk)
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            _forward(channel, step, line, consume)
        if received > MAX_STEP_BYTES:
            _channel_write(channel, {"s": step, "t": "garbage", "reason": "output cap"})
            break
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)  # strays and, on a timeout, the child itself
    if status is None:
        with contextlib.suppress(ChildProcessError):
            _, status = os.waitpid(pid, 0)
    if pending.strip():
        _forward(channel, step, pending, consume)
    return status, timed_out


def _forward(channel: int, step: str, line: bytes, consume: Consume | None = None) -> None:
    try:
        record = json.loads(line)
    except ValueError:
        record = None
    if not isinstance(record, dict):
        record = {"t": "garbage", "reason": "a line that is not a JSON object"}
    elif consume is not None and consume(record):
        return
    record["s"] = step
    _channel_write(channel, record)


def _exit_record(name: str, status: int | None, timed_out: bool, started: float) -> dict[str, Any]:
    record: dict[str, Any] = {
        "s": name,
        "t": "exit",
        "timed_out": timed_out,
        "seconds": round(time.monotonic() - started, 3),
    }
    if status is not None and os.WIFEXITED(status):
        record["code"] = os.WEXITSTATUS(status)
    elif status is not None and os.WIFSIGNALED(status):
        record["signal"] = os.WTERMSIG(status)
    return record


def _fork_step(step: dict[str, Any], channel: int, body: ChildBody) -> tuple[int, int]:
    """Fork the step's child (its own process group; only the pipe leads out): (pid, read fd)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 70
        try:
            os.setpgid(0, 0)
            os.close(read_fd)
            os.close(channel)
            code = body(step, write_fd)
        except BaseException as exc:  # noqa: BLE001 - reported, then the child ends
            traceback.print_exc()
            reason = f"{type(exc).__name__}: {exc}".strip()[:500]
            with contextlib.suppress(OSError):
                _channel_write(write_fd, {"t": "crash", "reason": reason})
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)
    os.close(write_fd)
    return pid, read_fd


def run_steps(
    channel: int,
    steps: list[dict[str, Any]],
    versions: dict[str, dict[str, str]],
    body: ChildBody,
    *,
    deadline: float | None = None,
    consume: Consume | None = None,
) -> bool:
    """Each step in a forked child, its records relayed; False when `deadline` (monotonic)
    cut the run short (the step running then is reported as timed out, later ones not at all)."""
    for step in steps:
        name = str(step["name"])
        timeout_s = float(step.get("timeout_s", 600))
        if deadline is not None:
            timeout_s = min(timeout_s, deadline - time.monotonic())
            if timeout_s <= 0:
                return False
        _lay_over(versions, str(step.get("tree", "cand")))
        started = time.monotonic()
        pid, read_fd = _fork_step(step, channel, body)
        try:
            status, timed_out = _relay(channel, name, pid, read_fd, timeout_s, consume)
        finally:
            os.close(read_fd)
        _channel_write(channel, _exit_record(name, status, timed_out, started))
        if timed_out and deadline is not None and time.monotonic() >= deadline:
            return False
    _lay_over(versions, "cand")
    return True


def main(argv: list[str]) -> int:
    with open(argv[1], encoding="utf-8") as handle:
        plan: dict[str, Any] = json.load(handle)
    root = os.getcwd()
    versions = read_versions(plan.get("versions", {}))
    channel = os.dup(1)
    os.dup2(2, 1)
    _not_dumpable()
    import provenfix_probe  # type: ignore[import-not-found]  # pytest imported once, before forks

    def body(step: dict[str, Any], write_fd: int) -> int:
        return int(
            provenfix_probe.run_step(step, provenfix_probe.Channel(write_fd), root, versions)
        )

    run_steps(channel, plan["steps"], versions, body)
    _channel_write(channel, {"t": "done"})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
