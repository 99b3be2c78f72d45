"""Running tests WITHOUT a sandbox, for hosts that have no container engine.

This is the explicit in-runner mode of the GitHub Action (an ephemeral VM
that already holds only this repository) and of `provenfix analyze
--sandbox none`. It is not isolation: the tests run as the current user with
the current Python. Only a scrubbed environment is passed, so the host's
tokens never reach the tests. The driver and its stream are the same as in
the sandbox (jobs.validation.testrun).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from provenfix.jobs.sandbox.workdir import copy_tree
from provenfix.jobs.validation.testrun import (
    STREAM_CAP_BYTES,
    Plan,
    PlanRun,
    TestRun,
    collect_plan_run,
    driver_command,
    lay_out_probe,
    run_tests,
)

_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")
_STDERR_TAIL_BYTES = 64 * 1024
_KILL_ROUNDS = 200  # a process forking as fast as it can is caught within a few rounds


class SubprocessTestRunner:
    def __init__(
        self,
        scratch: Path,
        *,
        python: str = sys.executable,
        timeout_s: float = 600.0,
        pytest_args: Sequence[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._scratch = scratch
        self._python = python
        self._timeout_s = timeout_s
        self._pytest_args = tuple(pytest_args)
        # what the tests inherit: jobs.config's tool environment, never a credential
        source = environ or {"PATH": os.defpath}
        self._env = {key: source[key] for key in _KEPT_ENV if key in source}
        self._counter = itertools.count()

    def run(self, tree: Path, tests: Sequence[str] | None, *, coverage: bool) -> TestRun:
        return run_tests(self, tree, tests, coverage=coverage)

    def run_plan(self, tree: Path, plan: Plan) -> PlanRun:
        name = f"local-{next(self._counter)}"
        workdir = self._scratch / name
        copy_tree(tree, workdir, exclude={".git"})
        probe_dir = lay_out_probe(
            workdir, plan, step_timeout_s=self._timeout_s, pytest_args=self._pytest_args
        )
        env = dict(self._env)
        env.update(
            HOME=str(probe_dir),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONPATH=os.pathsep.join([str(probe_dir), str(workdir)]),
        )
        # Files, not pipes: a process the tests left behind cannot hold the run open.
        out_path, err_path = self._scratch / f"{name}.out", self._scratch / f"{name}.err"
        limit = self._timeout_s * (len(plan.steps) + 1)
        started = time.monotonic()
        try:
            trouble = self._drive(workdir, env, limit, out_path, err_path)
            stdout = _read_head(out_path, STREAM_CAP_BYTES)
            return collect_plan_run(stdout, trouble, time.monotonic() - started)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            out_path.unlink(missing_ok=True)
            err_path.unlink(missing_ok=True)

    def _drive(
        self, workdir: Path, env: dict[str, str], limit: float, out_path: Path, err_path: Path
    ) -> str:
        """Run the driver; how it ended ("" when it exited with 0)."""
        with out_path.open("wb") as out, err_path.open("wb") as err:
            # Its own session: the driver, its steps' process groups and whatever they
            # start share it, so all of them can be found and killed.
            proc = subprocess.Popen(
                driver_command(self._python),
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        ended = False
        try:
            # The driver stays unreaped until its session is killed, so that no other
            # process can take its id (the session's) meanwhile.
            ended = _wait_unreaped(proc.pid, limit)
        finally:
            kill_session(proc.pid)  # on a timeout everything, otherwise the leftovers
            code = proc.wait()
        if not ended:
            return f"timed out after {limit:.0f} s"
        if code == 0:
            return ""
        tail = _read_tail(err_path, _STDERR_TAIL_BYTES).strip().splitlines()[-3:]
        return f"exit code {code}" + (": " + " | ".join(tail) if tail else "")


def _wait_unreaped(pid: int, timeout_s: float) -> bool:
    """Wait up to `timeout_s` for child `pid` to exit, leaving it to be reaped; exited?"""
    deadline = time.monotonic() + timeout_s
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (not Linux, or before 5.3): poll
        pidfd = -1
    try:
        while True:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if pidfd >= 0:
                select.select([pidfd], [], [], remaining)
            else:
                time.sleep(min(0.05, remaining))
    finally:
        if pidfd >= 0:
            os.close(pidfd)


def kill_session(sid: int) -> None:
    """SIGKILL every process of session `sid` until none is left.

    The driver leads the session; each step's child is the leader of its own process
    group in it, so killing the driver's group alone would miss the steps. Processes
    are found in /proc (Linux); elsewhere only the driver's group is killed. A test
    that calls setsid() itself leaves the session: only the sandbox stops that one.
    """
    for _ in range(_KILL_ROUNDS):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(sid, signal.SIGKILL)
        alive = session_members(sid)
        if not alive:
            return
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def session_members(sid: int) -> list[int]:
    """Live (not zombie) processes of session `sid`, from /proc; [] where there is none."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return []
    members: list[int] = []
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue  # gone meanwhile
        # after the command's name (which may hold anything): state ppid pgrp session ...
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) > 3 and fields[0] != b"Z" and int(fields[3]) == sid:
            members.append(int(name))
    return members


def _read_head(path: Path, limit: int) -> str:
    with path.open("rb") as handle:
        return handle.read(limit).decode("utf-8", errors="replace")


def _read_tail(path: Path, limit: int) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - limit))
        return handle.read().decode("utf-8", errors="replace")
