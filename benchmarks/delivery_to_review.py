"""From a signed webhook delivery to the posted review, for a real library's pull request.

The pull request is a real release bump of a pure-Python library fetched as sdists
from PyPI (default: cachetools 5.4.0 -> 5.5.0; the sdists ship the test suite),
replayed as git history: `main` is the base release, `pr` the next one (PKG-INFO
kept, as setuptools-scm needs it). Everything on the way is the real thing:

  GitHub   the stand-in (tests/github_standin): the REST contract enforced on every
           request, JWT and installation-token auth, git over smart HTTP
  web      `provenfix serve`'s gunicorn app (bot.gunicorn_app), real Redis
  worker   `provenfix worker` (rq, a forked work horse per job), started before the
           deliveries and idle until they come, with the production GitHub client
           (it spaces requests 0.25 s apart, writes 1 s apart, as GitHub asks)
  sandbox  the hardened Docker sandbox (PROVENFIX_SANDBOX=docker): the baseline run
           and every proof run the library's own tests in containers

Each round opens a new pull request (same commits, next number) and sends its
signed `pull_request.opened` delivery; the round ends when the review is posted
and the check run completed. One uncounted warm-up round comes first (it may build
the environment image: the "cold" time). The breakdown comes from the requests the
stand-in saw (each stamped on arrival): acknowledgement, queue wait (rq's own
timestamps), token and configuration, check run, fetch, each pipeline stage (the
check-run progress updates: the first message of each stage; they are sent from a
background thread that keeps only the latest text, writes a second apart, so a
stage's mark is when its update reached GitHub, and a short stage may have none),
and publishing.

Rules only: no code model (PROVENFIX_MODEL unset). The goal: well within a minute.

    .venv/bin/python benchmarks/delivery_to_review.py [--package cachetools]
        [--base-version 5.4.0] [--head-version 5.5.0] [--rounds 2]

Exit status 0 whether the target is met or not (the output says PASS or FAIL); 2
when the benchmark itself could not run (no Docker engine, no Redis, no review).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests"), str(ROOT)]

from github_standin import GitHubStandIn, RequestRecord  # noqa: E402
from redis import Redis  # noqa: E402
from redis.exceptions import RedisError  # noqa: E402
from rq.job import Job  # noqa: E402
from validation_speed import fetch_sdist  # noqa: E402
from validation_speed import git as git_in  # noqa: E402
from webhook_load import BenchmarkError, bench_redis, running, say  # noqa: E402

WORK = HERE / ".work" / "delivery"
TARGET_S = 60.0
OWNER = "bench"
SECRET = "delivery-to-review-benchmark"
ROUND_LIMIT_S = 600.0


# --- the pull request ----------------------------------------------------------------------


def unpack(sdist: Path, dest: Path) -> None:
    with tarfile.open(sdist) as tar:
        members = tar.getmembers()
        top = members[0].name.split("/", 1)[0]
        for member in members:
            member.name = member.name[len(top) :].lstrip("/")
            if member.islnk():
                member.linkname = member.linkname[len(top) :].lstrip("/")
        tar.extractall(dest, members=[m for m in members if m.name], filter="data")


def build_repo(name: str, base: str, head: str) -> Path:
    """benchmarks/.work/delivery/NAME-BASE-HEAD: `main` = the base release, `pr` = the head."""
    repo = WORK / f"{name}-{base}-{head}"
    if (repo / ".git").is_dir():
        shutil.rmtree(repo)  # the stand-in's pull refs and any push of an earlier run
    repo.mkdir(parents=True, exist_ok=True)
    unpack(fetch_sdist(name, base), repo)
    git_in(repo, "init", "--quiet", "--initial-branch=main")
    git_in(repo, "add", "--all", "--force")
    git_in(repo, "commit", "--quiet", "--no-verify", "-m", f"{name} {base}")
    git_in(repo, "checkout", "--quiet", "-b", "pr")
    git_in(repo, "rm", "-r", "--quiet", ".")
    unpack(fetch_sdist(name, head), repo)
    git_in(repo, "add", "--all", "--force")
    git_in(repo, "commit", "--quiet", "--no-verify", "-m", f"{name} {head}")
    return repo


# --- one round -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Round:
    number: int
    total_s: float  # delivery sent -> check run completed (the review is posted just before)
    review_s: float  # delivery sent -> review posted
    marks: tuple[tuple[str, float], ...]  # (what, seconds since the delivery), in order
    proven: int
    comments: int


def one_round(standin: GitHubStandIn, port: int, redis: Redis, name: str, number: int) -> Round:
    payload = standin.open_pull(OWNER, name, number, "main", "pr", title="Release bump")
    body, headers = standin.webhook_request("pull_request", payload, SECRET)
    sent = time.time()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhook", data=body, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        acked = time.time()
        if answer.status != 202:
            raise BenchmarkError(f"the webhook answered {answer.status}")
    job_id = (
        f"provenfix-{payload['repository']['id']}-{number}-{payload['pull_request']['head']['sha']}"
    )
    deadline = time.monotonic() + ROUND_LIMIT_S
    while True:
        run = next((r for r in standin.check_runs if r.external_id == job_id), None)
        if run is not None and run.status == "completed":
            break
        if time.monotonic() > deadline:
            raise BenchmarkError(f"no completed check run for {job_id} within {ROUND_LIMIT_S} s")
        time.sleep(0.05)
    done = next(r.at for r in reversed(standin.requests) if r.path.endswith(f"/{run.id}"))
    job = Job.fetch(job_id, connection=redis)
    while not job.is_finished:  # it records the run in the database after publishing
        if job.is_failed or time.monotonic() > deadline:
            raise BenchmarkError(f"{job_id} did not finish: {job.get_status()}")
        time.sleep(0.05)
        job = Job.fetch(job_id, connection=redis)
    if job.started_at is None or job.ended_at is None:
        raise BenchmarkError(f"{job_id} has no start or end time")
    marks: list[tuple[str, float]] = [("acknowledged (202)", acked - sent)]
    marks.append(("job started (rq)", job.started_at.timestamp() - sent))
    mine = [r for r in standin.requests if r.at >= sent]
    first: dict[str, Callable[[RequestRecord], bool]] = {
        "token minted": lambda r: r.path.endswith("/access_tokens"),
        "config read": lambda r: "/contents/" in r.path,
        "check run created": lambda r: r.method == "POST" and r.path.endswith("/check-runs"),
    }
    for what, test in first.items():
        hit = next((r for r in mine if test(r)), None)
        if hit is not None:
            marks.append((what, hit.at - sent))
    fetch = next((r for r in standin.git_requests if r.at >= sent), None)
    if fetch is not None:
        marks.append(("git fetch (first request)", fetch.at - sent))
    for r in mine:  # every progress update that reached GitHub (bot.progress_sender)
        if r.method != "PATCH" or not r.path.endswith(f"/{run.id}"):
            continue
        if not isinstance(r.body, dict) or r.body.get("status") != "in_progress":
            continue
        lines = [x for x in str(r.body["output"]["summary"]).splitlines() if x.startswith("- ")]
        if lines:
            marks.append((f"progress: {lines[-1][2:][:70]}", r.at - sent))
    reading = next(
        (
            r
            for r in mine
            if r.method == "GET" and r.path.endswith(f"/pulls/{number}") and r.at > sent
        ),
        None,
    )
    if reading is not None:
        marks.append(("publishing: pull request read", reading.at - sent))
    review = next(
        (r for r in mine if r.method == "POST" and r.path.endswith(f"/pulls/{number}/reviews")),
        None,
    )
    if review is None:
        raise BenchmarkError(f"pull request #{number} got no review (no proven fix on the diff?)")
    marks.append(("review posted", review.at - sent))
    marks.append(("check run completed", done - sent))
    marks.append(("job finished (run and fixes recorded)", job.ended_at.timestamp() - sent))
    result = job.return_value() or {}
    comments = sum(
        1 for c in standin.review_comments if c["pull_request_url"].endswith(f"/{number}")
    )
    return Round(
        number,
        done - sent,
        review.at - sent,
        tuple(sorted(marks, key=lambda m: m[1])),
        int(result.get("proven", 0)),
        comments,
    )


# --- the run -------------------------------------------------------------------------------


def print_round(label: str, r: Round) -> None:
    print(
        f"\n## {label}: pull request #{r.number}: review after {r.review_s:.1f} s, check run "
        f"completed after {r.total_s:.1f} s ({r.proven} proven, {r.comments} comments)"
    )
    previous = 0.0
    for what, at in r.marks:
        print(f"  {at:7.2f} s  (+{at - previous:6.2f})  {what}")
        previous = at


def run(args: argparse.Namespace) -> int:
    repo_path = build_repo(args.package, args.base_version, args.head_version)
    say(f"{args.package} {args.base_version} -> {args.head_version}: {repo_path}")
    standin = GitHubStandIn().start()
    worker: subprocess.Popen[bytes] | None = None
    rounds: list[Round] = []
    try:
        standin.add_repo(OWNER, args.package, repo_path, "main")
        with (
            tempfile.TemporaryDirectory(prefix="provenfix-d2r-") as scratch,
            bench_redis(args.redis_url) as redis_url,
        ):
            env = {
                "PROVENFIX_APP_ID": str(standin.app_id),
                "PROVENFIX_PRIVATE_KEY": standin.private_key_pem,
                "PROVENFIX_WEBHOOK_SECRET": SECRET,
                "PROVENFIX_REDIS_URL": redis_url,
                "PROVENFIX_DATABASE_URL": f"sqlite:///{scratch}/provenfix.db",
                "PROVENFIX_GITHUB_API_URL": standin.url,
                "PROVENFIX_SANDBOX": "docker",
                "PROVENFIX_QUEUE": "provenfix-bench",
                "PROVENFIX_WORK_DIR": f"{scratch}/work",
            }
            clean_env = {k: v for k, v in os.environ.items() if k != "PROVENFIX_MODEL"}
            with running("app", env, workers=2) as web:
                cli = Path(sys.executable).with_name("provenfix")
                worker = subprocess.Popen(
                    [str(cli), "worker", "--workers", "1", "--log-level", "warning"],
                    env={**clean_env, **env},
                    cwd=scratch,
                )
                redis = Redis.from_url(redis_url)
                warm = one_round(standin, web.port, redis, args.package, 1)
                print_round("warm-up (uncounted: may build the environment image)", warm)
                for i in range(args.rounds):
                    rounds.append(one_round(standin, web.port, redis, args.package, 2 + i))
                    print_round(f"round {i + 1}", rounds[-1])
                redis.close()
    finally:
        if worker is not None and worker.poll() is None:
            worker.send_signal(signal.SIGINT)  # rq's warm shutdown
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        standin.stop()
    violations = standin.take_violations()
    if violations:
        raise BenchmarkError("requests broke GitHub's contract: " + "; ".join(map(str, violations)))
    summarize(args, warm, rounds)
    return 0


def summarize(args: argparse.Namespace, warm: Round, rounds: list[Round]) -> None:
    totals = [r.review_s for r in rounds]
    median = statistics.median(totals)
    print(
        f"\n## Summary: {args.package} {args.base_version} -> {args.head_version}, "
        f"rules only, Docker sandbox"
    )
    print(
        f"delivery -> review: median {median:.1f} s over {len(rounds)} rounds "
        f"({', '.join(f'{t:.1f}' for t in totals)}); warm-up (cold caches) {warm.review_s:.1f} s"
    )
    print(f"target: within {TARGET_S:g} s: {'PASS' if median <= TARGET_S else 'FAIL'}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"(load average 1/5/15 min at the end: {load}; {os.cpu_count()} CPUs)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--package", default="cachetools")
    parser.add_argument("--base-version", default="5.4.0")
    parser.add_argument("--head-version", default="5.5.0")
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds after the warm-up")
    parser.add_argument("--redis-url", help="a Redis database to use (flushed at the end)")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    try:
        return run(args)
    except BenchmarkError as exc:
        say(f"benchmark failed: {exc}")
        return 2
    except (OSError, RedisError, subprocess.SubprocessError) as exc:
        say(f"benchmark failed: {exc.__class__.__name__}: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
