"""How fast does the webhook answer under load, next to a bare Flask endpoint?

Two servers on the same gunicorn configuration (bot.gunicorn_app, the one
`provenfix serve` runs: same worker count, worker class and timeouts), each in
its own process, measured one after the other and interleaved round by round:

  app   the real web app (bot.wsgi.create_app_from_env) on real Redis: every
        delivery is verified (HMAC), deduplicated and enqueued as an rq job
  bare  a Flask app whose POST /webhook answers 202 at once, reading nothing

The load is open-loop at a fixed rate (wrk2-style): request i is due at
start + i/rate whatever happened to the earlier ones, each on its own
connection (gunicorn's sync workers close it after every answer), and its
latency runs from when it was due to its last byte, so a stalled server is
charged for the requests queued behind it. The deliveries are GitHub's real
`pull_request.synchronize` example (tests/fixtures/github-contract), each a new
head of its own pull request (so each enqueues a job, the path that costs the
most), signed, with a unique X-GitHub-Delivery.

Targets: app p99 <= 20 ms at 200 requests/s, and app p99 <= 1.3x bare p99.
It also times the app's handler in-process (Flask's test client, no HTTP) and
counts its Redis round trips per delivery. Redis: one of the databases 8..15,
taken with the test suite's lock key (so a test session never shares it) and
flushed at the end; nothing else is touched.

    .venv/bin/python benchmarks/webhook_load.py [--rate 200] [--duration 10]
        [--rounds 2] [--workers 2] [--redis-url redis://127.0.0.1:6379/DB]

Exit status 0 whether the targets are met or not (the output says PASS or FAIL);
2 when the benchmark itself could not run (no Redis, a server that does not start).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from redis import Redis
from redis.exceptions import RedisError

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXAMPLE = (
    ROOT / "tests/fixtures/github-contract/webhooks/examples/pull_request/synchronize.payload.json"
)
TARGET_P99_MS = 20.0
TARGET_RATIO = 1.3
LOCK_KEY = "provenfix-test-session-lock"  # tests/app/conftest.py's: never share a database
MAX_IN_FLIGHT = 512  # sockets; more would mean the server is hopelessly behind


class BenchmarkError(Exception):
    """The benchmark cannot run; the message says why."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the servers ---------------------------------------------------------------------------


def serve(kind: str, bind: str, workers: int) -> None:
    """Run one server in this process (the benchmark starts itself with --serve)."""
    sys.path.insert(0, str(ROOT))
    from flask import Flask

    from bot.gunicorn_app import ProvenFixApplication

    class BareApplication(ProvenFixApplication):
        """`provenfix serve`'s gunicorn configuration, serving an endpoint that does nothing."""

        def load(self) -> Flask:
            app = Flask("bare")

            @app.post("/webhook")
            def webhook() -> tuple[str, int]:
                return "", 202

            @app.get("/healthz")
            def healthz() -> tuple[str, int]:
                return "ok", 200

            return app

    options = {"bind": bind, "workers": workers, "loglevel": "warning"}
    application = ProvenFixApplication if kind == "app" else BareApplication
    application(options).run()


@dataclass
class Server:
    kind: str
    port: int
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # gunicorn's arbiter stops its workers on SIGTERM
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextlib.contextmanager
def running(kind: str, env: dict[str, str], workers: int) -> Iterator[Server]:
    port = free_port()
    command = [sys.executable, __file__, "--serve", kind, "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers)]
    process = subprocess.Popen(command, env={**os.environ, **env}, cwd=ROOT)
    server = Server(kind, port, process)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise BenchmarkError(f"the {kind} server exited with status {process.returncode}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchmarkError(f"the {kind} server did not answer /healthz within 60 s")
            time.sleep(0.2)
        yield server
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- the deliveries ------------------------------------------------------------------------


def deliveries(count: int, secret: str, start: int) -> list[bytes]:
    """`count` signed synchronize deliveries (raw HTTP requests, Host filled in later)."""
    example = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    example["installation"] = {"id": 77}
    requests: list[bytes] = []
    for i in range(start, start + count):
        payload = copy.deepcopy(example)
        sha = hashlib.sha1(f"head-{i}".encode()).hexdigest()
        payload["number"] = payload["pull_request"]["number"] = 100_000 + i
        payload["pull_request"]["head"]["sha"] = payload["after"] = sha
        body = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        head = (
            "POST /webhook HTTP/1.1\r\nHost: {host}\r\n"
            "User-Agent: GitHub-Hookshot/benchmark\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nX-GitHub-Event: pull_request\r\n"
            f"X-GitHub-Delivery: {uuid.uuid4()}\r\nX-Hub-Signature-256: {signature}\r\n"
            "Connection: close\r\n\r\n"
        )
        requests.append(head.encode() + body)
    return requests


# --- the load ------------------------------------------------------------------------------


@dataclass
class Load:
    latencies_ms: list[float] = field(default_factory=list)  # due -> last byte
    service_ms: list[float] = field(default_factory=list)  # connect -> last byte
    lag_ms: list[float] = field(default_factory=list)  # due -> connect (the generator's lag)
    statuses: dict[int, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def sent(self) -> int:
        return len(self.latencies_ms) + len(self.errors)


async def fire(port: int, requests: Sequence[bytes], rate: float, timeout_s: float) -> Load:
    load = Load()
    host = f"127.0.0.1:{port}".encode()
    loop = asyncio.get_running_loop()
    in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def one(raw: bytes, due: float) -> None:
        async with in_flight:
            started = loop.time()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.write(raw.replace(b"{host}", host, 1))
                await writer.drain()
                answer = await reader.read()
                writer.close()
            except OSError as exc:
                load.errors.append(f"{exc.__class__.__name__}: {exc}")
                return
            done = loop.time()
        status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
        load.statuses[status] = load.statuses.get(status, 0) + 1
        load.latencies_ms.append((done - due) * 1000)
        load.service_ms.append((done - started) * 1000)
        load.lag_ms.append((started - due) * 1000)

    begin = loop.time() + 0.05
    tasks: list[asyncio.Task[None]] = []
    for i, raw in enumerate(requests):
        due = begin + i / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(raw, due)))
    _, late = await asyncio.wait(tasks, timeout=timeout_s)
    for task in late:
        task.cancel()
        load.errors.append("no answer within the time limit")
    load.seconds = loop.time() - begin
    return load


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


# --- the handler in-process ----------------------------------------------------------------


@dataclass(frozen=True)
class InProcess:
    median_ms: float
    p99_ms: float
    round_trips: float  # Redis round trips per delivery (a pipeline counts once)
    redis_median_ms: float  # of the handler's time: sending to Redis and waiting for answers


def in_process(env: dict[str, str], secret: str, count: int) -> InProcess:
    """The app's handler without HTTP: Flask's test client, real Redis, round trips counted."""
    sys.path.insert(0, str(ROOT))
    from redis.connection import Connection

    from bot.wsgi import create_app_from_env

    app = create_app_from_env({**os.environ, **env})
    client = app.test_client()
    trips = [0]
    in_redis = [0.0]
    send = Connection.send_packed_command
    read = Connection.read_response

    def counted(self: Any, command: Any, check_health: bool = True) -> None:
        trips[0] += 1  # one write per round trip: a pipeline sends its commands at once
        started = time.perf_counter()
        try:
            send(self, command, check_health)  # type: ignore[no-untyped-call]
        finally:
            in_redis[0] += time.perf_counter() - started

    def timed_read(self: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return read(self, *args, **kwargs)
        finally:
            in_redis[0] += time.perf_counter() - started

    timings: list[float] = []
    redis_ms: list[float] = []
    raws = deliveries(count, secret, start=900_000)
    Connection.send_packed_command = counted  # type: ignore[method-assign]
    Connection.read_response = timed_read  # type: ignore[method-assign]
    try:
        for raw in raws:
            head, _, body = raw.partition(b"\r\n\r\n")
            headers = dict(
                line.split(": ", 1) for line in head.decode().split("\r\n")[1:] if ": " in line
            )
            headers.pop("Content-Length", None)
            headers.pop("Host", None)
            in_redis[0] = 0.0
            started = time.perf_counter()
            response = client.post("/webhook", data=body, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            redis_ms.append(in_redis[0] * 1000)
            if response.status_code != 202:
                raise BenchmarkError(f"in-process delivery answered {response.status_code}")
    finally:
        Connection.send_packed_command = send  # type: ignore[method-assign]
        Connection.read_response = read  # type: ignore[method-assign]
    return InProcess(
        statistics.median(timings),
        percentile(timings, 99),
        trips[0] / count,
        statistics.median(redis_ms),
    )


# --- Redis ---------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_redis(url: str | None) -> Iterator[str]:
    """A Redis database for the run, flushed at the end."""
    if url:
        conn = Redis.from_url(url)
        try:
            conn.ping()
            yield url
        finally:
            conn.flushdb()
            conn.close()
        return
    token = secrets.token_hex(8)
    for db in range(8, 16):
        conn = Redis(host="127.0.0.1", port=6379, db=db)
        try:
            if conn.set(LOCK_KEY, token, nx=True, ex=3600):
                break
        finally:
            conn.close()
    else:
        raise BenchmarkError("no free Redis database among 8..15 (test sessions hold them all)")
    url = f"redis://127.0.0.1:6379/{db}"
    conn = Redis.from_url(url)
    try:
        yield url
    finally:
        conn.flushdb()  # the queue, its jobs, the delivery and pull-request keys, the counters
        conn.close()


def private_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")


# --- the run -------------------------------------------------------------------------------


@dataclass
class Totals:
    loads: dict[str, list[Load]] = field(default_factory=lambda: {"bare": [], "app": []})

    def pooled(self, kind: str, attr: str = "latencies_ms") -> list[float]:
        return [v for load in self.loads[kind] for v in getattr(load, attr)]


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def run(args: argparse.Namespace) -> int:
    secret = secrets.token_hex(16)
    count = int(args.rate * args.duration)
    warmup = max(1, int(args.rate * 1.0))
    totals = Totals()
    with (
        tempfile.TemporaryDirectory(prefix="provenfix-bench-") as scratch,
        bench_redis(args.redis_url) as redis_url,
    ):
        env = {
            "PROVENFIX_APP_ID": "1",
            "PROVENFIX_PRIVATE_KEY": private_key(),
            "PROVENFIX_WEBHOOK_SECRET": secret,
            "PROVENFIX_REDIS_URL": redis_url,
            "PROVENFIX_DATABASE_URL": f"sqlite:///{scratch}/provenfix.db",
            "PROVENFIX_QUEUE": "provenfix-bench",
        }
        say(
            f"Redis {redis_url}; {count} requests per round at {args.rate:g}/s, "
            f"{args.rounds} rounds"
        )
        offset = 0
        for round_no in range(1, args.rounds + 1):
            order = ("bare", "app") if round_no % 2 else ("app", "bare")
            for kind in order:
                with running(kind, env, args.workers) as server:
                    raws = deliveries(warmup + count, secret, start=offset)
                    offset += warmup + count
                    asyncio.run(fire(server.port, raws[:warmup], args.rate, 30))  # uncounted
                    load = asyncio.run(
                        fire(server.port, raws[warmup:], args.rate, args.duration + 30)
                    )
                totals.loads[kind].append(load)
                say(
                    f"round {round_no} {kind:<4}: p50 {percentile(load.latencies_ms, 50):6.2f} ms"
                    f"  p99 {percentile(load.latencies_ms, 99):6.2f} ms  statuses {load.statuses}"
                    f"  errors {len(load.errors)}"
                )
        queued = Redis.from_url(redis_url).llen("rq:queue:provenfix-bench")
        expected = sum(load.statuses.get(202, 0) for load in totals.loads["app"])
        expected += warmup * args.rounds
        handler = in_process(env, secret, args.in_process)
    report(args, totals, handler, queued, expected)
    return 0


def report(
    args: argparse.Namespace, totals: Totals, handler: InProcess, queued: int, expected: int
) -> None:
    print(
        f"\n## Webhook acknowledgement: {args.rate:g} requests/s open-loop for {args.duration:g} s"
        f" x {args.rounds} rounds per server, gunicorn sync workers: {args.workers}"
    )
    header = (
        f"{'server':<6} {'requests':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    header += f" {'svc p99':>8} {'lag p99':>8}  errors"
    print(header)
    print("-" * len(header))
    p = {}
    for kind in ("bare", "app"):
        lat = totals.pooled(kind)
        p[kind] = {q: percentile(lat, q) for q in (50, 90, 99)}
        loads = totals.loads[kind]
        bad = sum(len(x.errors) for x in loads) + sum(
            n for x in loads for s, n in x.statuses.items() if s != 202
        )
        print(
            f"{kind:<6} {len(lat):>8} {p[kind][50]:>8.2f} {p[kind][90]:>8.2f} {p[kind][99]:>8.2f}"
            f" {max(lat, default=float('nan')):>8.2f}"
            f" {percentile(totals.pooled(kind, 'service_ms'), 99):>8.2f}"
            f" {percentile(totals.pooled(kind, 'lag_ms'), 99):>8.2f}  {bad}"
        )
    per_round = ", ".join(
        f"{percentile(a.latencies_ms, 99) / percentile(b.latencies_ms, 99):.2f}"
        for a, b in zip(totals.loads["app"], totals.loads["bare"], strict=True)
    )
    ratio = p["app"][99] / p["bare"][99]
    print(
        f"\napp handler in-process (Flask test client, no HTTP): median {handler.median_ms:.2f} ms,"
        f" p99 {handler.p99_ms:.2f} ms, {handler.round_trips:.1f} Redis round trips per delivery"
        f" (median {handler.redis_median_ms:.2f} ms of it sending to Redis and awaiting answers)"
    )
    print(f"jobs enqueued: {queued} of {expected} deliveries answered 202 (warm-ups included)")
    print(
        f"app p99 {p['app'][99]:.2f} ms (target <= {TARGET_P99_MS:g} ms at 200/s): "
        f"{verdict(p['app'][99] <= TARGET_P99_MS)}"
    )
    print(
        f"app/bare p99 {ratio:.2f}x (target <= {TARGET_RATIO:g}x; per round {per_round}); "
        f"p50 {p['app'][50] / p['bare'][50]:.2f}x: {verdict(ratio <= TARGET_RATIO)}"
    )
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"(load average 1/5/15 min at the end: {load}; {os.cpu_count()} CPUs)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per server, interleaved")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (serve's default)")
    parser.add_argument("--in-process", type=int, default=300, help="in-process deliveries timed")
    parser.add_argument("--redis-url", help="a Redis database to use (flushed at the end)")
    parser.add_argument("--serve", choices=("app", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--bind", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.bind, args.workers)
        return 0
    if args.rate <= 0 or args.duration <= 0 or args.rounds < 1 or args.in_process < 1:
        parser.error("--rate, --duration, --rounds and --in-process must be positive")
    try:
        return run(args)
    except BenchmarkError as exc:
        say(f"benchmark failed: {exc}")
        return 2
    except (OSError, RedisError) as exc:  # Redis unreachable, no free port
        say(f"benchmark failed: {exc.__class__.__name__}: {exc}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
