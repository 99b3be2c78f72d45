"""How fast does the webhook answer under load, next to a bare Flask endpoint, and what
does the web process import: this working tree ("after") next to a baseline revision
("before", --baseline, default 2faff89), measured in one run.

Servers on the same gunicorn configuration (bot.gunicorn_app, the one
`provenfix serve` runs: same worker count, worker class and timeouts), each in
its own process, measured one after the other and interleaved round by round:

  app     the real web app (bot.wsgi.create_app_from_env) of this working tree on
          real Redis: every delivery is verified (HMAC), deduplicated and enqueued
          as an rq job
  before  the same, the baseline revision's code (checked out with `git worktree
          add --detach` under /tmp, removed at the end; run with the same Python,
          the baseline tree as working directory and first on PYTHONPATH)
  bare    a Flask app whose POST /webhook answers 202 at once, reading nothing

The web process's imports, per tree, each in --imports fresh interpreters under
`python -X importtime` (medians reported): "worker" is what a gunicorn worker loads
to serve webhooks (bot.gunicorn_app, then ProvenFixApplication.load(), i.e.
bot.wsgi.create_app_from_env()); "cli" is `provenfix serve --help` (bot.cli, the
arbiter whose modules every forked worker inherits). Import time is the sum of the
top-level cumulative times importtime prints; heavy packages are which of docker,
libcst, radon, git, semgrep, torch, transformers ended up in sys.modules, each with
the chain of imports that first loaded it.

The load is open-loop at a fixed rate (wrk2-style): request i is due at
start + i/rate whatever happened to the earlier ones, each on its own
connection (gunicorn's sync workers close it after every answer), and its
latency runs from when it was due to its last byte, so a stalled server is
charged for the requests queued behind it. The deliveries are GitHub's real
`pull_request.synchronize` example (tests/fixtures/github-contract), each a new
head of its own pull request (so each enqueues a job, the path that costs the
most), signed, with a unique X-GitHub-Delivery.

Targets: app p99 <= 20 ms at 200 requests/s, app p99 <= 1.3x bare p99, and no
heavy package in the web process (worker and cli) of this working tree.
It also times the app's handler in-process (Flask's test client, no HTTP) and
counts its Redis round trips per delivery. Redis: one of the databases 8..15,
taken with the test suite's lock key (so a test session never shares it) and
flushed at the end; nothing else is touched.

    .venv/bin/python benchmarks/webhook_load.py [--rate 200] [--duration 10]
        [--rounds 2] [--workers 2] [--redis-url redis://127.0.0.1:6379/DB]
        [--baseline REV|none] [--imports 5]

Exit status 0 whether the targets are met or not (the output says PASS or FAIL);
2 when the benchmark itself could not run (no Redis, a server that does not start, a
tree whose web app does not import, a baseline revision git does not know).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import hashlib
import hmac
import importlib
import json
import os
import re
import secrets
import shutil
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
DEFAULT_BASELINE = "2faff89"  # the commit before the web process stopped importing the pipeline
HEAVY = ("docker", "libcst", "radon", "git", "semgrep", "torch", "transformers")


class BenchmarkError(Exception):
    """The benchmark cannot run; the message says why."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the servers ---------------------------------------------------------------------------


def package_prefix(source: Path) -> str:
    """ "provenfix." in a tree with the provenfix namespace, "" in one from before it."""
    return "provenfix." if (source / "provenfix" / "__init__.py").is_file() else ""


def serve(kind: str, bind: str, workers: int, source: Path) -> None:
    """Run one server in this process (the benchmark starts itself with --serve), with the
    ProvenFix code of the tree `source`."""
    sys.path.insert(0, str(source))
    from flask import Flask

    pkg = package_prefix(source)  # the baseline may predate the provenfix namespace
    bot = importlib.import_module(f"{pkg}bot")
    ProvenFixApplication = importlib.import_module(f"{pkg}bot.gunicorn_app").ProvenFixApplication

    if not Path(bot.__file__ or "").resolve().is_relative_to(source.resolve()):
        raise SystemExit(f"bot imported from {bot.__file__}, not from {source}")

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
    application = BareApplication if kind == "bare" else ProvenFixApplication
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
def running(kind: str, env: dict[str, str], workers: int, source: Path) -> Iterator[Server]:
    port = free_port()
    command = [sys.executable, __file__, "--serve", kind, "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(workers), "--source", str(source)]
    process = subprocess.Popen(command, env=tree_env(source, env), cwd=source)
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


def tree_env(source: Path, env: dict[str, str]) -> dict[str, str]:
    """The environment of a process running the tree `source`: it comes first on PYTHONPATH
    (ahead of the editable install's finder, which points at this checkout)."""
    path = [str(source), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, **env, "PYTHONPATH": os.pathsep.join(path)}


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

    from provenfix.bot.wsgi import create_app_from_env

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


# --- the trees -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tree:
    name: str  # "after" (this working tree) or "before" (the baseline revision)
    root: Path
    label: str


def git(*args: str) -> str:
    result = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BenchmarkError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout.strip()


def working_tree() -> Tree:
    head = git("rev-parse", "--short", "HEAD")
    changed = git("status", "--porcelain", "--", "bot", "jobs", "actions")
    changes = " + uncommitted changes in bot/ jobs/ actions/" if changed else ", clean"
    return Tree("after", ROOT, f"working tree (HEAD {head}{changes})")


@contextlib.contextmanager
def baseline_tree(rev: str) -> Iterator[Tree]:
    """The revision `rev` checked out in a detached worktree under /tmp, removed at the end."""
    sha = git("rev-parse", "--verify", "--short", f"{rev}^{{commit}}")
    scratch = Path(tempfile.mkdtemp(prefix="provenfix-bench-baseline-"))
    path = scratch / "tree"
    git("worktree", "add", "--detach", str(path), sha)
    try:
        yield Tree("before", path, sha)
    finally:
        removed = subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(scratch, ignore_errors=True)
        if removed.returncode != 0:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)


# --- the web process's imports -------------------------------------------------------------

IMPORT_MARK = "provenfix-bench: the web process's imports start here"
PROFILES = {  # name: (what it is, the code a fresh interpreter runs)
    "worker": (
        "what a gunicorn worker loads: bot.gunicorn_app, then ProvenFixApplication.load()"
        " (bot.wsgi.create_app_from_env())",
        "from {pkg}bot.gunicorn_app import ProvenFixApplication\n"
        'ProvenFixApplication({"bind": "127.0.0.1:0", "workers": 1}).load()\n',
    ),
    "cli": (
        "`provenfix serve --help`: bot.cli and its parser (the arbiter the workers fork from)",
        "import {pkg}bot.cli as _cli\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        '    _cli.main(["serve", "--help"])\n',
    ),
}
_PRELUDE = (
    "import contextlib, io, json, sys, time\n"
    f"sys.stderr.write({IMPORT_MARK!r} + '\\n')\n"
    "sys.stderr.flush()\n"
    "_started = time.perf_counter()\n"
)
_EPILOGUE = (
    "_wall = time.perf_counter() - _started\n"
    "import {pkg}bot as bot\n"
    f"_heavy = sorted(name for name in {HEAVY!r} if name in sys.modules)\n"
    "print(json.dumps({'bot': bot.__file__, 'wall_s': _wall, 'modules': len(sys.modules),"
    " 'heavy': _heavy}))\n"
)
_IMPORTTIME = re.compile(r"^import time:\s+\d+ \|\s+(\d+) \| ( *)(\S+)\s*$")


@dataclass(frozen=True)
class ImportRun:
    importtime_ms: float  # the top-level cumulative times `-X importtime` printed, summed
    wall_ms: float  # the same code's wall time (imports, then building the app or parser)
    modules: int  # len(sys.modules) at the end, the interpreter's start-up included
    heavy: tuple[str, ...]
    chains: dict[str, str]  # heavy package -> the imports that first loaded it


@dataclass(frozen=True)
class Imports:
    runs: list[ImportRun]

    @property
    def importtime_ms(self) -> float:
        return statistics.median(r.importtime_ms for r in self.runs)

    @property
    def wall_ms(self) -> float:
        return statistics.median(r.wall_ms for r in self.runs)

    @property
    def modules(self) -> float:
        return statistics.median(r.modules for r in self.runs)

    @property
    def heavy(self) -> tuple[str, ...]:
        return tuple(sorted({name for r in self.runs for name in r.heavy}))

    @property
    def chains(self) -> dict[str, str]:
        return {k: v for r in reversed(self.runs) for k, v in r.chains.items()}


def importtime_rows(stderr: str) -> list[tuple[int, str, int]]:
    """(nesting depth, module, cumulative us) of each import after the mark, in the order
    `-X importtime` printed them: a module once its import finished, nested two spaces a
    level, so its importer is the next line printed one level up."""
    _, found, after = stderr.partition(IMPORT_MARK + "\n")
    if not found:
        raise BenchmarkError("no import mark in the -X importtime output")
    rows = []
    for line in after.splitlines():
        if match := _IMPORTTIME.match(line):
            rows.append((len(match[2]) // 2, match[3], int(match[1])))
    return rows


def first_importers(rows: Sequence[tuple[int, str, int]], names: Sequence[str]) -> dict[str, str]:
    """For each top-level package in `names`, the chain of imports that first loaded it."""
    chains: dict[str, str] = {}
    for i, (depth, module, _) in enumerate(rows):
        top = module.split(".")[0]
        if top not in names or top in chains:
            continue
        chain = [module]
        for level, parent, _ in rows[i + 1 :]:
            if level < depth:
                depth = level
                if parent.split(".")[0] == top:  # `import radon.complexity` loads radon first
                    chain[-1] = parent
                else:
                    chain.append(parent)
                if depth == 0:
                    break
        chains[top] = " <- ".join(chain)
    return chains


def import_once(source: Path, env: dict[str, str], profile: str) -> ImportRun:
    """The web process's imports for `profile`, in a fresh interpreter running the tree `source`."""
    code = (_PRELUDE + PROFILES[profile][1] + _EPILOGUE).replace("{pkg}", package_prefix(source))
    try:
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", code],
            cwd=source,
            env=tree_env(source, env),
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        raise BenchmarkError(f"the {profile} imports of {source} took over 120 s") from None
    errors = "\n".join(
        line for line in result.stderr.splitlines() if not line.startswith("import time:")
    )
    if result.returncode != 0:
        raise BenchmarkError(
            f"the {profile} imports of {source} failed (status {result.returncode}):\n"
            f"{errors[-3000:]}"
        )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if not Path(report["bot"]).resolve().is_relative_to(source.resolve()):
        raise BenchmarkError(f"{source}: bot was imported from {report['bot']}, another tree")
    rows = importtime_rows(result.stderr)
    heavy = tuple(report["heavy"])
    return ImportRun(
        importtime_ms=sum(cumulative for depth, _, cumulative in rows if depth == 0) / 1000,
        wall_ms=report["wall_s"] * 1000,
        modules=report["modules"],
        heavy=heavy,
        chains=first_importers(rows, heavy),
    )


def profile_imports(
    trees: Sequence[Tree], envs: dict[str, dict[str, str]], runs: int
) -> dict[tuple[str, str], Imports]:
    """`runs` fresh interpreters per tree and profile, interleaved, after one uncounted round
    (it writes the trees' bytecode caches, as a deployed image has them)."""
    samples: dict[tuple[str, str], list[ImportRun]] = {
        (tree.name, profile): [] for tree in trees for profile in PROFILES
    }
    for round_no in range(runs + 1):
        for tree in trees:
            for profile in PROFILES:
                sample = import_once(tree.root, envs[tree.name], profile)
                if round_no:
                    samples[tree.name, profile].append(sample)
    return {key: Imports(runs) for key, runs in samples.items()}


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

QUEUES = {"after": "provenfix-bench", "before": "provenfix-bench-before"}
SERVER_TREE = {"bare": "after", "app": "after", "before": "before"}  # server -> its code


@dataclass
class Totals:
    loads: dict[str, list[Load]] = field(default_factory=dict)

    def pooled(self, kind: str, attr: str = "latencies_ms") -> list[float]:
        return [v for load in self.loads[kind] for v in getattr(load, attr)]


@dataclass
class Results:
    trees: dict[str, Tree]
    totals: Totals
    imports: dict[tuple[str, str], Imports]
    handler: InProcess
    queued: dict[str, tuple[int, int]]  # tree -> (jobs in its queue, deliveries answered 202)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def run(args: argparse.Namespace) -> int:
    secret = secrets.token_hex(16)
    count = int(args.rate * args.duration)
    warmup = max(1, int(args.rate * 1.0))
    with contextlib.ExitStack() as stack:
        trees = {"after": working_tree()}
        if args.baseline.lower() != "none":
            trees["before"] = stack.enter_context(baseline_tree(args.baseline))
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="provenfix-bench-")))
        redis_url = stack.enter_context(bench_redis(args.redis_url))
        key = private_key()
        envs = {
            name: {
                "PROVENFIX_APP_ID": "1",
                "PROVENFIX_PRIVATE_KEY": key,
                "PROVENFIX_WEBHOOK_SECRET": secret,
                "PROVENFIX_REDIS_URL": redis_url,
                "PROVENFIX_DATABASE_URL": f"sqlite:///{scratch}/provenfix-{name}.db",
                "PROVENFIX_QUEUE": QUEUES[name],
            }
            for name in trees
        }
        for tree in trees.values():
            say(f"{tree.name}: {tree.label} at {tree.root}")
        say(f"the web process's imports: {args.imports} fresh interpreter(s) per tree and kind")
        imports = profile_imports(list(trees.values()), envs, args.imports)
        kinds = [kind for kind in ("bare", "app", "before") if SERVER_TREE[kind] in trees]
        totals = Totals({kind: [] for kind in kinds})
        say(
            f"Redis {redis_url}; {count} requests per round at {args.rate:g}/s, "
            f"{args.rounds} rounds of {', '.join(kinds)}"
        )
        offset = 0
        for round_no in range(1, args.rounds + 1):
            order = kinds if round_no % 2 else kinds[::-1]
            for kind in order:
                tree = trees[SERVER_TREE[kind]]
                with running(kind, envs[tree.name], args.workers, tree.root) as server:
                    raws = deliveries(warmup + count, secret, start=offset)
                    offset += warmup + count
                    asyncio.run(fire(server.port, raws[:warmup], args.rate, 30))  # uncounted
                    load = asyncio.run(
                        fire(server.port, raws[warmup:], args.rate, args.duration + 30)
                    )
                totals.loads[kind].append(load)
                say(
                    f"round {round_no} {kind:<6}: p50 {percentile(load.latencies_ms, 50):6.2f} ms"
                    f"  p99 {percentile(load.latencies_ms, 99):6.2f} ms  statuses {load.statuses}"
                    f"  errors {len(load.errors)}"
                )
        queued = {}
        conn = Redis.from_url(redis_url)
        try:
            for kind in kinds:
                if kind != "bare":
                    name = SERVER_TREE[kind]
                    answered = sum(load.statuses.get(202, 0) for load in totals.loads[kind])
                    answered += warmup * args.rounds
                    queued[name] = (int(conn.llen(f"rq:queue:{QUEUES[name]}")), answered)
        finally:
            conn.close()
        handler = in_process(envs["after"], secret, args.in_process)
    report(args, Results(trees, totals, imports, handler, queued))
    return 0


def report(args: argparse.Namespace, results: Results) -> None:
    totals, trees, handler = results.totals, results.trees, results.handler
    print(
        f"\n## Webhook acknowledgement: {args.rate:g} requests/s open-loop for {args.duration:g} s"
        f" x {args.rounds} rounds per server, gunicorn sync workers: {args.workers}"
    )
    header = (
        f"{'server':<7} {'requests':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'max ms':>8}"
    )
    header += f" {'svc p99':>8} {'lag p99':>8}  errors"
    print(header)
    print("-" * len(header))
    p = {}
    for kind in totals.loads:
        lat = totals.pooled(kind)
        p[kind] = {q: percentile(lat, q) for q in (50, 90, 99)}
        loads = totals.loads[kind]
        bad = sum(len(x.errors) for x in loads) + sum(
            n for x in loads for s, n in x.statuses.items() if s != 202
        )
        print(
            f"{kind:<7} {len(lat):>8} {p[kind][50]:>8.2f} {p[kind][90]:>8.2f} {p[kind][99]:>8.2f}"
            f" {max(lat, default=float('nan')):>8.2f}"
            f" {percentile(totals.pooled(kind, 'service_ms'), 99):>8.2f}"
            f" {percentile(totals.pooled(kind, 'lag_ms'), 99):>8.2f}  {bad}"
        )
    print(
        "(app: this working tree's web app; "
        + (f"before: the web app of {trees['before'].label}; " if "before" in trees else "")
        + "bare: a Flask endpoint answering 202 at once)"
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
    print(
        "jobs enqueued: "
        + "; ".join(
            f"{name} {queued} of {answered} deliveries answered 202"
            for name, (queued, answered) in results.queued.items()
        )
        + " (warm-ups included)"
    )
    print_before_after(args, results, p)
    print(
        f"\napp p99 {p['app'][99]:.2f} ms (target <= {TARGET_P99_MS:g} ms at 200/s): "
        f"{verdict(p['app'][99] <= TARGET_P99_MS)}"
    )
    print(
        f"app/bare p99 {ratio:.2f}x (target <= {TARGET_RATIO:g}x; per round {per_round}); "
        f"p50 {p['app'][50] / p['bare'][50]:.2f}x: {verdict(ratio <= TARGET_RATIO)}"
    )
    heavy = {profile: results.imports["after", profile].heavy for profile in PROFILES}
    found = "; ".join(
        f"{profile}: {', '.join(names) or 'none'}" for profile, names in heavy.items()
    )
    print(f"web import has no heavy dependency ({found}): {verdict(not any(heavy.values()))}")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"(load average 1/5/15 min at the end: {load}; {os.cpu_count()} CPUs)")


def print_before_after(
    args: argparse.Namespace, results: Results, p: dict[str, dict[int, float]]
) -> None:
    trees, imports = results.trees, results.imports
    names = [name for name in ("before", "after") if name in trees]
    both = len(names) == 2
    print(f"\n## The web process, {' / '.join(names)}, measured in this run")
    for name in names:
        print(f"{name}: {trees[name].label}")
    for profile, (what, _) in PROFILES.items():
        print(f"{profile}: {what}")
    print(
        f"imports: fresh interpreters under `python -X importtime`, median of {args.imports};"
        f" ack: the servers above (app is after), {args.rounds} interleaved round(s)"
    )
    header = f"{'':<34}" + "".join(f"{name:>10}" for name in names)
    header += f"{'after/before':>14}" if both else ""
    print(header)
    print("-" * len(header))

    def row(label: str, values: dict[str, float], digits: int = 1) -> None:
        line = f"{label:<34}" + "".join(f"{values[name]:>10.{digits}f}" for name in names)
        if both:
            line += f"{values['after'] / values['before']:>13.2f}x"
        print(line)

    for profile in PROFILES:
        got = {name: imports[name, profile] for name in names}
        row(f"{profile} import ms (importtime)", {n: i.importtime_ms for n, i in got.items()})
        row(f"{profile} wall ms (imports + setup)", {n: i.wall_ms for n, i in got.items()})
        row(f"{profile} modules in sys.modules", {n: i.modules for n, i in got.items()}, 0)
    server = {"after": "app", "before": "before"}
    for q in (50, 99):
        row(f"ack p{q} ms", {name: p[server[name]][q] for name in names}, 2)
    print()
    for profile in PROFILES:
        for name in names:
            heavy = imports[name, profile].heavy
            print(f"{profile} heavy packages, {name}: {', '.join(heavy) or 'none'}")
    for profile in PROFILES:
        chains = imports["after", profile].chains
        for package in imports["after", profile].heavy:
            print(f"  after, {profile}: {chains.get(package, package + ' (importer not found)')}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=200.0, help="requests per second")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per round")
    parser.add_argument("--rounds", type=int, default=2, help="rounds per server, interleaved")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (serve's default)")
    parser.add_argument("--in-process", type=int, default=300, help="in-process deliveries timed")
    parser.add_argument("--redis-url", help="a Redis database to use (flushed at the end)")
    parser.add_argument(
        "--baseline",
        default=DEFAULT_BASELINE,
        help=f"the revision measured as 'before' (default {DEFAULT_BASELINE}); none: skip it",
    )
    parser.add_argument(
        "--imports", type=int, default=5, help="fresh interpreters per tree timing the imports"
    )
    parser.add_argument("--serve", choices=("app", "bare", "before"), help=argparse.SUPPRESS)
    parser.add_argument("--bind", help=argparse.SUPPRESS)
    parser.add_argument("--source", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.bind, args.workers, args.source)
        return 0
    if args.rate <= 0 or args.duration <= 0 or args.rounds < 1 or args.in_process < 1:
        parser.error("--rate, --duration, --rounds and --in-process must be positive")
    if args.imports < 1:
        parser.error("--imports must be positive")
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
