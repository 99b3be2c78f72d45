"""`provenfix serve` (gunicorn) and `provenfix worker` (rq) as the operator starts them."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from app_support import example, sign
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus

PROVENFIX = str(Path(sys.executable).parent / "provenfix")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_env(env: dict[str, str]) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}


def test_serve_refuses_to_start_without_a_webhook_secret(env: dict[str, str]) -> None:
    without = {k: v for k, v in env.items() if k != "PROVENFIX_WEBHOOK_SECRET"}
    proc = subprocess.run(
        [PROVENFIX, "serve"], env=run_env(without), capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "PROVENFIX_WEBHOOK_SECRET is not set" in proc.stderr


def test_worker_refuses_to_start_with_an_unreadable_key(env: dict[str, str]) -> None:
    broken = {k: v for k, v in env.items() if k != "PROVENFIX_PRIVATE_KEY"}
    broken["PROVENFIX_PRIVATE_KEY_PATH"] = "/nonexistent/app.pem"
    proc = subprocess.run(
        [PROVENFIX, "worker", "--burst"],
        env=run_env(broken),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "PROVENFIX_PRIVATE_KEY_PATH=/nonexistent/app.pem" in proc.stderr


def test_serve_answers_health_and_webhooks_under_gunicorn(
    env: dict[str, str], redis: Redis, queue: Queue
) -> None:
    port = free_port()
    server = subprocess.Popen(
        [PROVENFIX, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2"],
        env=run_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
                    health = json.load(response)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "gunicorn did not come up"
                time.sleep(0.2)
        assert health == {"status": "ok", "failed": [], "redis": "ok", "database": "ok"}
        body = json.dumps(example("ping", "payload.json")).encode()
        request = urllib.request.Request(
            f"{base}/webhook",
            data=body,
            headers={
                "Content-Type": "application/json",
                "X-GitHub-Event": "ping",
                "X-GitHub-Delivery": "serve-1",
                "X-Hub-Signature-256": sign(body),
            },
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200 and json.load(response)["outcome"] == "pong"
        with urllib.request.urlopen(f"{base}/metrics", timeout=5) as response:
            assert 'event="ping",outcome="pong"} 1' in response.read().decode()
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert "Booting worker" in output


def test_worker_burst_works_the_queue_and_exits(
    env: dict[str, str], redis: Redis, queue: Queue
) -> None:
    job = queue.enqueue("builtins.sorted", [3, 1, 2])
    proc = subprocess.run(
        [PROVENFIX, "worker", "--burst"],
        env=run_env(env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    done = Job.fetch(job.id, connection=redis)
    assert done.get_status() == JobStatus.FINISHED
    assert done.return_value() == [1, 2, 3]
