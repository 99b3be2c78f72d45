"""Shared pieces of the end-to-end tests (the App against the GitHub stand-in): the
repository configuration's path, helpers to run the jobs on a real rq worker (the
`stats` repository itself is tests/stats_repo.py), and real worker processes for the
fault tests (`WorkerProcess`: `worker_main` in a child interpreter, killed with SIGKILL
like a crashed machine)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from redis import Redis
from rq import Queue, Worker

from provenfix.bot.github_api import GitHubApp, RetryPolicy
from provenfix.bot.job_context import JobContext, context_from_settings
from provenfix.bot.job_errors import TransientError
from provenfix.bot.settings import load_settings
from provenfix.bot.worker import WorkerTiming, run_worker

CONFIG = ".github/provenfix.yml"
HERE = Path(__file__).resolve().parent

# Abandoned jobs noticed in seconds, not a minute: heartbeat 1 s + grace 5 s, maintenance
# every second (bot.worker.WorkerTiming; production waits 10 + 20 s).
FAST_TIMING = WorkerTiming(
    job_heartbeat_s=1,
    heartbeat_grace_s=5,
    maintenance_s=1,
    idle_poll_s=1,
    redis_retry_max_s=1.0,
    janitor_s=2,
    sweep_s=3600,
    restart_pause_s=0.5,
)


def fast_context(env: dict[str, str], github_app: GitHubApp) -> JobContext:
    """The worker's context with tests/conftest.py's GitHubApp: no pauses between requests
    (GitHub asks for them; the stand-in does not) and short retry waits."""
    return replace(context_from_settings(load_settings(env)), github=github_app, app_api=github_app)


def work(queue: Queue) -> None:
    """A real rq worker in burst mode: every job runs in a forked work horse."""
    Worker([queue], connection=queue.connection).work(burst=True)


# --- real worker processes ------------------------------------------------------------------


def worker_main() -> None:
    """A `provenfix worker` process (bot.worker.run_worker: ProvenFixWorker, forked horses,
    the scheduler) from the PROVENFIX_* environment, with the fast GitHub client and
    FAST_TIMING (E2E_TIMING=production: the production timing). Started by WorkerProcess."""
    settings = load_settings(os.environ)
    app = GitHubApp(
        settings.app_id,
        settings.private_key_pem(),
        base_url=settings.github_api_url,
        retry=RetryPolicy(
            total=3, backoff_factor=0.05, secondary_rate_wait=0.1, max_rate_limit_wait=5
        ),
        seconds_between_requests=0,
        seconds_between_writes=0,
    )
    context = replace(context_from_settings(settings), github=app, app_api=app)
    production = os.environ.get("E2E_TIMING") == "production"
    timing = WorkerTiming() if production else FAST_TIMING
    run_worker(context, Redis.from_url(settings.redis_url), timing=timing)


class WorkerProcess:
    """A worker in its own interpreter; its output goes to `log`."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        python_path = os.pathsep.join([str(HERE), str(HERE.parent)])
        self.out = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "import e2e_support; e2e_support.worker_main()"],
            env={
                "PATH": os.environ["PATH"],
                "HOME": os.environ.get("HOME", "/tmp"),
                "PYTHONPATH": python_path,
                **env,
            },
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def horse(self) -> int | None:
        """The work horse: the worker's child that leads its own process group."""
        for pid in children(self.pid):
            try:
                if os.getpgid(pid) == pid:
                    return pid
            except ProcessLookupError:
                continue
        return None

    def kill_all(self) -> list[int]:
        """SIGKILL the worker and everything it started (horse, scheduler, tools)."""
        pids = [self.pid, *descendants(self.pid)]
        _kill(pids)
        self.proc.wait(10)
        return pids

    def stop(self) -> None:
        started = descendants(self.pid)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill_all()
        _kill(started)  # a scheduler or horse it left behind
        self.out.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _parents() -> dict[int, int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
    return parents


def children(pid: int) -> list[int]:
    return [child for child, parent in _parents().items() if parent == pid]


def descendants(pid: int) -> list[int]:
    parents = _parents()
    found: list[int] = []
    frontier = [pid]
    while frontier:
        current = frontier.pop()
        kids = [child for child, parent in parents.items() if parent == current]
        found += kids
        frontier += kids
    return found


def wait_for(check: Callable[[], object], timeout_s: float, what: str) -> float:
    """Poll `check` until it is truthy; the seconds it took (AssertionError after timeout)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.1)
    return time.monotonic() - started


# --- job functions of the fault tests (run in the worker processes) --------------------------


def fail_once(marker: str) -> str:
    """Raise TransientError the first time (no `marker` file yet), then succeed."""
    path = Path(marker)
    if not path.exists():
        path.write_text("failed once\n")
        raise TransientError("GitHub answered 502: Server Error")
    return "done"
