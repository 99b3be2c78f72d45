"""`--sandbox none`: when a run ends or times out, no process the tests started survives.

The hanging test starts `sleep 300` in its own process group and a double-forked process
(orphaned, same group), records their ids on this host, then hangs in one of three ways:
the driver's step timeout kills it; it kills the driver first (the run ends at once, the
step's group is left behind); or it stops the driver (only the runner's own timeout ends
the run). Each time, nothing of that group, or of the driver's session, is alive after.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from provenfix.jobs.validation.local_runner import (
    SubprocessTestRunner,
    kill_session,
    session_members,
)
from provenfix.jobs.validation.testrun import run_tests

HANGING_TEST = """
import json, os, pathlib, signal, subprocess, time

def test_hangs():
    sleeper = subprocess.Popen(["sleep", "300"], start_new_session=False)
    read_end, write_end = os.pipe()
    middle = os.fork()
    if middle == 0:
        if os.fork() == 0:  # the grandchild: orphaned once the middle exits
            os.write(write_end, str(os.getpid()).encode())
            os.execvp("sleep", ["sleep", "300"])
        os._exit(0)
    os.waitpid(middle, 0)
    grandchild = int(os.read(read_end, 32))
    pathlib.Path({record!r}).write_text(json.dumps({{
        "pgid": os.getpgid(0), "sid": os.getsid(0), "driver": os.getppid(),
        "pids": [os.getpid(), sleeper.pid, grandchild],
    }}))
    {then}
    time.sleep(300)
"""

ENDINGS = {
    "step timeout": "pass",
    "driver killed": "os.kill(os.getppid(), signal.SIGKILL)",
    "driver stopped": "os.kill(os.getppid(), signal.SIGSTOP)",
}


def alive_in_group(pgid: int) -> list[int]:
    """Live (not zombie) processes whose process group is `pgid`."""
    found = []
    for name in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{name}/stat").read_bytes()
        except OSError:
            continue
        fields = stat[stat.rfind(b")") + 2 :].split()
        if fields[0] != b"Z" and int(fields[2]) == pgid:
            found.append(int(name))
    return found


def is_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[0]
    except OSError:
        return False
    return state != b"Z"


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_no_process_of_the_run_survives(tmp_path: Path, ending: str) -> None:
    record = tmp_path / "pids.json"
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "test_hang.py").write_text(
        HANGING_TEST.format(record=str(record), then=ENDINGS[ending]), encoding="utf-8"
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    runner = SubprocessTestRunner(scratch, python=sys.executable, timeout_s=3)

    started = time.monotonic()
    run = run_tests(runner, tree, None)
    elapsed = time.monotonic() - started

    assert run.result is None or run.result.invalid, run
    ids = json.loads(record.read_text())
    assert ids["sid"] != os.getsid(0)  # the driver had a session of its own
    assert alive_in_group(ids["pgid"]) == []
    assert [pid for pid in ids["pids"] if is_alive(pid)] == []
    assert session_members(ids["sid"]) == []
    if ending == "driver killed":
        assert elapsed < 3, elapsed  # over when the driver is gone, not at the timeout
    if ending == "driver stopped":
        assert elapsed >= 6, elapsed  # only the runner's own limit (2 x 3 s) ended it


def test_kill_session_is_quiet_about_sessions_that_are_gone() -> None:
    kill_session(2**22 + 12345)  # above any pid: nothing to kill, nothing raised
