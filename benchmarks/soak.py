"""Soak: webhook deliveries across pull requests for minutes, two workers, one of them
SIGKILLed every minute (and started again). Nothing lost, nothing posted twice?

Everything runs on loopback, as deployed:

  GitHub   the stand-in (tests/github_standin), in this process: the REST contract on
           every request, JWT and installation tokens, git over smart HTTP; it keeps
           every check run and review, which is what the results count
  web      `provenfix serve` (gunicorn, 2 workers) on a free port
  workers  two `provenfix worker` processes with the production timing and GitHub
           client; PROVENFIX_SANDBOX=none (the pull requests' tests run in the
           worker's Python: this measures the service, not Docker)
  Redis    a redis-server of the soak's own on a free port (no persistence)

`--pulls` repositories each get one pull request (tests/stats_repo.py: one finding with
a proven fix). For `--duration` seconds, deliveries go out at `--rate` a second, each to
a random pull request: its `opened` first, then a mix of GitHub redelivering an earlier
delivery (same delivery id), the same event sent again (new id), a push (a new commit:
`synchronize`, a new head that supersedes the older one; at most `--heads` heads per pull
request) and an event the App ignores. Every `--kill-every` seconds one worker, chosen
at random, is SIGKILLed with everything it started (work horse, tools, scheduler) and
a new one started. Then the soak waits (`--drain` at most) until every job is final.

Reported: deliveries (by answer), acknowledgement latency (p50, p99, max: the POST as
the sender saw it), jobs (enqueued, completed, superseded, failed, lost), reviews and
duplicate reviews (two for one head), check runs (two for one head, left in progress),
and the pull requests whose last head was never analyzed (lost). Goals: 0 lost, 0
duplicate reviews, p99 acknowledgement <= 20 ms.

    .venv/bin/python benchmarks/soak.py [--duration 180] [--pulls 12] [--rate 1.5]
        [--heads 4] [--kill-every 60] [--drain 420] [--seed 1]

Exit status 0 whether the goals are met or not (the output says PASS or FAIL); 2 when
the soak itself could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from github_standin import GitHubStandIn  # noqa: E402
from github_standin.webhooks import http_target  # noqa: E402
from redis import Redis  # noqa: E402
from redis.exceptions import RedisError  # noqa: E402
from rq import Worker  # noqa: E402
from rq.job import Job, JobStatus  # noqa: E402
from stats_repo import BASE, HEAD, TESTS  # noqa: E402

SECRET = "soak-benchmark"
OWNER = "soak"
QUEUE = "provenfix-soak"
CLI = str(Path(sys.executable).with_name("provenfix"))
P99_TARGET_MS = 20.0


class SoakError(Exception):
    """The soak cannot run; the message says why."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


# --- the processes -------------------------------------------------------------------------


@contextmanager
def private_redis(folder: Path) -> Iterator[str]:
    port = free_port()
    subprocess.run(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(folder), "--daemonize", "yes"],
        check=True, capture_output=True,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    conn = Redis.from_url(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                conn.ping()
                break
            except RedisError:
                if time.monotonic() > deadline:
                    raise SoakError("redis-server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        with suppress(RedisError):  # it shut down before it could answer
            conn.shutdown(nosave=True)


def children_of() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parent = int(stat[stat.rindex(")") + 2 :].split()[1])
            tree.setdefault(parent, []).append(int(entry.name))
    return tree


def process_tree(pid: int) -> list[int]:
    tree, found, frontier = children_of(), [pid], [pid]
    while frontier:
        kids = tree.get(frontier.pop(), [])
        found += kids
        frontier += kids
    return found


@dataclass
class Workers:
    env: dict[str, str]
    logs: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kills: list[tuple[float, int, bool]] = field(default_factory=list)  # (at, pid, had a horse)
    interrupted: list[tuple[float, str]] = field(default_factory=list)  # (killed at, job id)
    started: int = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        out = (self.logs / f"worker-{self.started}.log").open("ab")
        process = subprocess.Popen(
            [CLI, "worker", "--log-level", "INFO"], env=self.env, stdout=out, stderr=out
        )
        self.processes.append(process)
        return process

    def alive(self) -> list[subprocess.Popen[bytes]]:
        return [p for p in self.processes if p.poll() is None]

    def kill_one(self, rng: random.Random, redis: Redis) -> None:
        victim = rng.choice(self.alive())
        running = running_jobs(redis, victim.pid)
        pids = process_tree(victim.pid)
        horse = any(os.getpgid(pid) == pid for pid in pids[1:] if _exists(pid))
        for pid in pids:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        victim.wait(10)
        self.kills.append((time.monotonic(), victim.pid, horse))
        self.interrupted += [(time.time(), job_id) for job_id in running]
        say(f"killed worker {victim.pid} ({'busy' if horse else 'idle'}) and {len(pids) - 1} more")
        self.start()

    def stop(self) -> None:
        for process in self.alive():
            leftovers = process_tree(process.pid)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
            for pid in leftovers[1:]:
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def running_jobs(redis: Redis, pid: int) -> list[str]:
    """The jobs rq says the worker with process id `pid` is running."""
    for worker in Worker.all(connection=redis):
        if worker.pid == pid:
            return [e.job_id for e in worker.get_current_executions(refresh=True)]
    return []


def _exists(pid: int) -> bool:
    try:
        os.getpgid(pid)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def web_server(env: dict[str, str], logs: Path) -> Iterator[int]:
    port = free_port()
    out = (logs / "web.log").open("ab")
    process = subprocess.Popen(
        [CLI, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning"],
        env=env,
        stdout=out,
        stderr=out,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SoakError("provenfix serve did not come up (see web.log)") from None
                time.sleep(0.2)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()


# --- the deliveries ------------------------------------------------------------------------


@dataclass
class Pull:
    name: str
    path: Path
    number: int = 1
    heads: list[str] = field(default_factory=list)
    sent: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    last_event: dict[str, Any] | None = None


@dataclass
class Sender:
    standin: GitHubStandIn
    port: int
    pulls: list[Pull]
    max_heads: int
    rng: random.Random
    latencies_ms: list[float] = field(default_factory=list)
    answers: Counter[str] = field(default_factory=Counter)
    enqueued: set[str] = field(default_factory=set)

    def post(self, body: bytes, headers: dict[str, str]) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/webhook", data=body, headers=headers, method="POST"
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                text = answer.read()
                status = answer.status
        except urllib.error.HTTPError as error:
            text, status = error.read(), error.code
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        outcome = str(json.loads(text).get("outcome", status)) if text else str(status)
        self.answers[f"{status} {outcome}"] += 1
        if outcome == "enqueued":
            self.enqueued.add(str(json.loads(text)["job_id"]))

    def send(self, pull: Pull, event: str, payload: dict[str, Any]) -> None:
        body, headers = self.standin.webhook_request(event, payload, SECRET)
        pull.sent.append((body, headers))
        self.post(body, headers)

    def one(self) -> None:
        pull = self.rng.choice(self.pulls)
        if pull.last_event is None:
            pull.last_event = self.standin.open_pull(OWNER, pull.name, 1, "main", "pr")
            pull.heads.append(pull.last_event["pull_request"]["head"]["sha"])
            self.send(pull, "pull_request", pull.last_event)
            return
        roll = self.rng.random()
        if roll < 0.45:  # GitHub redelivers an earlier delivery: same id
            self.post(*self.rng.choice(pull.sent))
        elif roll < 0.70:  # the same event again, a new delivery id
            self.send(pull, "pull_request", pull.last_event)
        elif roll < 0.90 and len(pull.heads) < self.max_heads:  # a push
            (pull.path / "NOTES.md").write_text(f"push {len(pull.heads)}\n")
            git(pull.path, "add", "NOTES.md")
            git(pull.path, "commit", "-q", "-m", f"push {len(pull.heads)}")
            before = pull.heads[-1]
            pull.last_event = self.standin.synchronize(OWNER, pull.name, 1, before=before)
            pull.heads.append(pull.last_event["pull_request"]["head"]["sha"])
            self.send(pull, "pull_request", pull.last_event)
        else:  # an event the App does not handle
            self.send(pull, "star", {"action": "created", "starred_at": None})


def make_pulls(standin: GitHubStandIn, root: Path, count: int) -> list[Pull]:
    pulls = []
    for i in range(count):
        path = root / f"stats-{i}"
        path.mkdir(parents=True)
        git(path, "init", "-q", "-b", "main")
        git(path, "config", "user.email", "soak@example.com")
        git(path, "config", "user.name", "soak")
        (path / "tests").mkdir()
        (path / "stats.py").write_text(BASE)
        (path / "tests" / "test_stats.py").write_text(TESTS)
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", "base")
        git(path, "checkout", "-q", "-b", "pr")
        (path / "stats.py").write_text(HEAD)
        git(path, "commit", "-q", "-am", "pull request")
        standin.add_repo(OWNER, f"stats-{i}", path, default_branch="main")
        pulls.append(Pull(f"stats-{i}", path))
    return pulls


# --- the results ---------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def job_states(redis: Redis, job_ids: set[str]) -> dict[str, str]:
    states: dict[str, str] = {}
    for job_id in sorted(job_ids):
        try:
            job = Job.fetch(job_id, connection=redis)
        except Exception:  # noqa: BLE001 - gone: counted as lost
            states[job_id] = "missing"
            continue
        status = job.get_status(refresh=True)
        if status == JobStatus.FINISHED:
            states[job_id] = str((job.return_value() or {}).get("outcome", "finished"))
        elif status == JobStatus.CANCELED:  # superseded while it waited
            states[job_id] = "superseded (waiting)"
        else:
            states[job_id] = JobStatus(status).value
    return states


def run_rows(database: Path) -> dict[str, int]:
    with sqlite3.connect(database) as conn:
        return dict(conn.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall())


def drained(redis: Redis, job_ids: set[str]) -> bool:
    """Every job final, the jobs that finish abandoned ones included."""
    finishing = {k.decode()[len("rq:job:") :] for k in redis.scan_iter("rq:job:provenfix-finish-*")}
    states = job_states(redis, job_ids | {f for f in finishing if ":" not in f})
    done = ("completed", "superseded", "superseded (waiting)", "finished", "failed", "stopped")
    return all(state in done for state in states.values())


def report(
    args: argparse.Namespace,
    sender: Sender,
    standin: GitHubStandIn,
    redis: Redis,
    workers: Workers,
    drain_s: float,
) -> bool:
    states = job_states(redis, sender.enqueued)
    outcomes = Counter(states.values())
    runs = standin.check_runs
    per_head = Counter(r.external_id for r in runs)
    in_progress = [r for r in runs if r.status != "completed"]
    reviews = standin.reviews
    per_commit = Counter((str(r["pull_request_url"]), str(r["commit_id"])) for r in reviews)
    duplicate_reviews = sum(n - 1 for n in per_commit.values())
    not_analyzed = []
    for pull in sender.pulls:
        if not pull.heads:
            continue
        last = pull.heads[-1]
        done = [r for r in runs if r.head_sha == last and r.status == "completed"]
        if not done or not done[0].title or "could not finish" in str(done[0].title):
            not_analyzed.append(f"{pull.name}@{last[:10]}")
    lost_jobs = [j for j, s in states.items() if not s.startswith(("completed", "superseded"))]
    lost = len(not_analyzed) + sum(1 for s in states.values() if s == "missing")
    p50, p99 = percentile(sender.latencies_ms, 0.50), percentile(sender.latencies_ms, 0.99)
    busy_kills = sum(1 for _, _, horse in workers.kills if horse)
    print(f"\n## Soak: {args.duration:.0f} s, {args.pulls} pull requests, {args.rate}/s, "
          f"2 workers, a SIGKILL every {args.kill_every:.0f} s (seed {args.seed})")  # fmt: skip
    print(f"deliveries: {sum(sender.answers.values())} "
          f"({', '.join(f'{k}: {v}' for k, v in sorted(sender.answers.items()))})")  # fmt: skip
    print(
        f"acknowledgement: p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
        f"max {max(sender.latencies_ms, default=0):.1f} ms"
    )
    print(f"kills: {len(workers.kills)} ({busy_kills} during a job); workers started: "
          f"{workers.started}")  # fmt: skip
    for killed_at, job_id in workers.interrupted:
        job = Job.fetch(job_id, connection=redis)
        ended = job.ended_at.timestamp() - killed_at if job.ended_at else float("nan")
        print(f"  killed during {job_id}: {states.get(job_id, '?')} {ended:.0f} s after the "
              f"kill, attempts {job.meta.get('attempts')}")  # fmt: skip
    print(
        f"jobs: {len(states)} enqueued: "
        + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))
    )
    print(f"drained {drain_s:.0f} s after the last delivery")
    print(f"check runs: {len(runs)}; two for one head: {sum(n - 1 for n in per_head.values())}; "
          f"left in progress: {len(in_progress)}")  # fmt: skip
    for run in in_progress:
        state = job_states(redis, {run.external_id}).get(run.external_id)
        print(f"  in progress: {run.external_id} (job: {state}): {str(run.summary)[-200:]!r}")
    print(f"reviews: {len(reviews)}; duplicate reviews (two for one head): {duplicate_reviews}")
    print(f"pull requests whose last head was not analyzed: {len(not_analyzed)} {not_analyzed}")
    print(f"jobs not completed or superseded: {len(lost_jobs)} {lost_jobs[:5]}")
    rows = run_rows(Path(args.database))
    unfinished = sum(n for status, n in rows.items() if status in ("running", "retrying"))
    print(f"database rows: {dict(sorted(rows.items()))}; not final: {unfinished}")
    lost += unfinished
    print(f"lost: {lost}")
    ok = lost == 0 and duplicate_reviews == 0 and not in_progress and p99 <= P99_TARGET_MS
    print(f"goals (0 lost, 0 duplicate reviews, none in progress, p99 <= {P99_TARGET_MS:g} ms): "
          f"{'PASS' if ok else 'FAIL'}")  # fmt: skip
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"(load average 1/5/15 min at the end: {load}; {os.cpu_count()} CPUs)")
    return ok


# --- the run -------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    standin = GitHubStandIn().start()
    workers: Workers | None = None
    try:
        with (
            tempfile.TemporaryDirectory(prefix="provenfix-soak-") as scratch_dir,
            private_redis(Path(scratch_dir)) as redis_url,
        ):
            scratch = Path(scratch_dir)
            logs = scratch / "logs"
            logs.mkdir()
            (scratch / "work").mkdir()
            pulls = make_pulls(standin, scratch / "repos", args.pulls)
            args.database = str(scratch / "provenfix.db")
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("PROVENFIX_")},
                "PROVENFIX_APP_ID": str(standin.app_id),
                "PROVENFIX_PRIVATE_KEY": standin.private_key_pem,
                "PROVENFIX_WEBHOOK_SECRET": SECRET,
                "PROVENFIX_REDIS_URL": redis_url,
                "PROVENFIX_DATABASE_URL": f"sqlite:///{args.database}",
                "PROVENFIX_GITHUB_API_URL": standin.url,
                "PROVENFIX_SANDBOX": "none",
                "PROVENFIX_QUEUE": QUEUE,
                "PROVENFIX_WORK_DIR": str(scratch / "work"),
            }
            redis = Redis.from_url(redis_url)
            with web_server(env, logs) as port:
                standin.webhook_target = http_target(f"http://127.0.0.1:{port}/webhook")
                workers = Workers(env, logs)
                workers.start()
                workers.start()
                sender = Sender(standin, port, pulls, args.heads, rng)
                say(f"soaking for {args.duration:.0f} s (logs: {logs})")
                started = time.monotonic()
                next_kill = started + args.kill_every
                while (now := time.monotonic()) - started < args.duration:
                    if now >= next_kill:
                        workers.kill_one(rng, redis)
                        next_kill += args.kill_every
                    sender.one()
                    time.sleep(rng.expovariate(args.rate))
                last = time.monotonic()
                say(f"{sum(sender.answers.values())} deliveries sent; draining")
                while not drained(redis, sender.enqueued):
                    if time.monotonic() - last > args.drain:
                        say(f"not drained within {args.drain:.0f} s")
                        break
                    time.sleep(1)
                drain_s = time.monotonic() - last
                time.sleep(2)  # the last check-run update of a finishing job
                report(args, sender, standin, redis, workers, drain_s)
                workers.stop()
            violations = standin.take_violations()
            if violations:
                print(f"contract violations: {len(violations)}: {violations[:3]}")
            if args.keep_logs:
                kept = Path(args.keep_logs)
                subprocess.run(["cp", "-r", str(logs), str(kept)], check=False)
                say(f"logs copied to {kept}")
    finally:
        if workers is not None:
            workers.stop()
        standin.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of deliveries")
    parser.add_argument("--pulls", type=int, default=12, help="pull requests (one per repository)")
    parser.add_argument("--rate", type=float, default=1.5, help="deliveries a second (mean)")
    parser.add_argument("--heads", type=int, default=4, help="heads (pushes) per pull request")
    parser.add_argument("--kill-every", type=float, default=60.0, help="seconds between kills")
    parser.add_argument("--drain", type=float, default=420.0, help="seconds to wait at the end")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep-logs", help="copy the processes' logs to this folder")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except (SoakError, OSError, RedisError, subprocess.SubprocessError) as exc:
        say(f"soak failed: {exc.__class__.__name__}: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
