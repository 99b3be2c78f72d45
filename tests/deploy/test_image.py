"""The Docker image: built from the Dockerfile, run as the operator runs it (real engine).

One image serves every role: `provenfix analyze` (the CLI and the Action, on a mounted
checkout), `provenfix serve` and `provenfix worker` (the App, against real Redis and
PostgreSQL), and a worker that proves fixes in sandboxes on the HOST's engine through
the mounted socket. Fails, never skips, without Docker.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import docker
import psycopg
import pytest
from deploy_support import HARDENING, IMAGE_UID, app_env, docker_run, free_port
from github_standin import GitHubStandIn
from redis import Redis
from repo_support import MakeRepo
from rq import Queue
from rq.job import Job, JobStatus

from provenfix.jobs import __version__
from provenfix.jobs.sandbox.settings import CONTAINER_LABEL, OWNER_LABEL

pytestmark = pytest.mark.docker

BASE = {
    "shop.py": "def total(prices):\n    return sum(prices)\n",
    "test_shop.py": (
        "from shop import total\n\n\n"
        "def test_total():\n    assert total([1, 2]) == 3\n\n\n"
        "def test_total_of_nothing():\n    assert total([]) == 0\n"
    ),
}
# A mutable default and an `== None` on the lines the pull request adds; the tests still pass.
HEAD = {
    "shop.py": (
        "def total(prices, seen=[]):\n"
        "    if prices == None:\n"
        "        return 0\n"
        "    return sum(prices)\n"
    ),
}
EXPECTED_RULES = {"mutable-default-arg", "comparison-to-none-eq"}
ANALYZE = ["analyze", "--repo", "/repo", "--base", "main", "--head", "pr"]


def test_image_runs_as_non_root_without_pip_or_build_arguments(
    provenfix_image: str, docker_client: docker.DockerClient
) -> None:
    version = docker_run(provenfix_image, ["--version"])
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"provenfix {__version__}"

    config: dict[str, Any] = docker_client.images.get(provenfix_image).attrs["Config"]
    assert config["User"] == f"{IMAGE_UID}:{IMAGE_UID}"
    assert config["Entrypoint"] == ["provenfix"]
    ids = docker_run(provenfix_image, ["-c", "id -u; id -g"], options=["--entrypoint", "sh"])
    assert ids.stdout.split() == [str(IMAGE_UID), str(IMAGE_UID)], ids.stderr

    # What only the build needed stays in the build stages: pip, and the CA build argument.
    no_pip = docker_run(provenfix_image, ["-c", "import pip"], options=["--entrypoint", "python"])
    assert no_pip.returncode != 0 and "No module named 'pip'" in no_pip.stderr
    history = subprocess.run(
        ["docker", "history", "--no-trunc", provenfix_image],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "EXTRA_CA_CERTS" not in history and "BEGIN CERTIFICATE" not in history


def test_analyze_in_the_image_writes_a_valid_json_report(
    provenfix_image: str, make_repo: MakeRepo, report_validator: Callable[[Any], None]
) -> None:
    repo = make_repo(BASE, HEAD)
    proc = docker_run(
        provenfix_image,
        [*ANALYZE, "--no-validate", "--format", "json"],
        # Read-only and owned by another uid than the image's user, as a CI checkout is.
        options=["--network", "none", "-v", f"{repo.path}:/repo:ro"],
        timeout_s=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    report_validator(report)
    assert report["head"] == repo.git("rev-parse", "pr")
    assert {f["rule_id"] for f in report["findings"]} >= EXPECTED_RULES
    assert {f["source"] for f in report["findings"]} == {"semgrep"}  # semgrep ran in the image
    assert report["summary"]["suggestions_validated"] == 0  # --no-validate


def test_worker_image_proves_fixes_in_sandboxes_on_the_host_engine(
    provenfix_image: str,
    make_repo: MakeRepo,
    report_validator: Callable[[Any], None],
    docker_client: docker.DockerClient,
    tmp_path: Path,
) -> None:
    """Docker-out-of-Docker as compose.yaml sets it up: the socket and a scratch folder at
    the same path inside and outside, because the engine mounts work directories by host path."""
    repo = make_repo(BASE, HEAD)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    scratch.chmod(0o1777)
    owner = f"pytest-deploy-{uuid.uuid4().hex[:8]}"
    socket_gid = os.stat("/var/run/docker.sock").st_gid
    assert stat.S_ISSOCK(os.stat("/var/run/docker.sock").st_mode)
    try:
        proc = docker_run(
            provenfix_image,
            [*ANALYZE, "--format", "json"],
            options=[
                *HARDENING,
                *("-v", f"{repo.path}:/repo:ro"),
                *("-v", "/var/run/docker.sock:/var/run/docker.sock"),
                *("--group-add", str(socket_gid)),
                *("-v", f"{scratch}:{scratch}"),
            ],
            env={
                "TMPDIR": str(scratch),
                "PROVENFIX_SANDBOX_SCRATCH": str(scratch),
                "PROVENFIX_SANDBOX_OWNER": owner,
            },
            timeout_s=900,
        )
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        report_validator(report)
        proven = [s for s in report["suggestions"] if s["validation"]["status"] == "passed"]
        assert proven, proc.stderr
        assert report["summary"]["suggestions_validated"] == len(proven)
    finally:
        leftovers = docker_client.containers.list(
            all=True, filters={"label": [f"{CONTAINER_LABEL}=1", f"{OWNER_LABEL}={owner}"]}
        )
        for container in leftovers:
            container.remove(force=True)
    assert not leftovers, "the worker left sandbox containers behind"


def test_serve_and_worker_run_from_the_image_on_redis_and_postgres(
    provenfix_image: str,
    redis: Redis,
    redis_url: str,
    postgres_url: str,
    github_standin: GitHubStandIn,
) -> None:
    queue_name = "provenfix-deploy-image"
    env = app_env(
        github=github_standin,
        redis_url=redis_url,
        database_url=postgres_url,
        queue=queue_name,
    )
    port = free_port()
    name = f"provenfix-test-serve-{uuid.uuid4().hex[:8]}"
    server = subprocess.Popen(
        ["docker", "run", "--rm", "--name", name, "--network", "host", *HARDENING]
        + [arg for key in env for arg in ("-e", key)]
        + [provenfix_image, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        health = _wait_for_health(f"http://127.0.0.1:{port}/healthz", server, timeout_s=120)
        assert health["failed"] == [], health
    finally:
        subprocess.run(["docker", "stop", "-t", "20", name], capture_output=True, check=False)
        output, _ = server.communicate(timeout=60)
    assert server.returncode == 0, output
    with psycopg.connect(postgres_url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        }
    assert {"installations", "repositories", "runs", "suggestions"} <= tables

    job = Queue(queue_name, connection=redis).enqueue("builtins.sorted", [3, 1, 2])
    worker = docker_run(
        provenfix_image, ["worker", "--burst"], options=["--network", "host", *HARDENING], env=env
    )
    assert worker.returncode == 0, worker.stderr
    done = Job.fetch(job.id, connection=redis)
    assert done.get_status() == JobStatus.FINISHED
    assert done.return_value() == [1, 2, 3]


def _wait_for_health(url: str, server: subprocess.Popen[str], *, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    while time.monotonic() < deadline:
        if server.poll() is not None:
            output = server.stdout.read() if server.stdout else ""
            pytest.fail(f"provenfix serve exited with {server.returncode}:\n{output}")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:  # 503 names what is down
            last = f"{exc.code} {exc.read().decode(errors='replace')}"
        except (urllib.error.URLError, ConnectionError) as exc:
            last = str(exc)
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer 200 within {timeout_s} s; last: {last}")
