"""How long the GitHub Action takes from the job's start to the analysis' start.

The action (action.yml) runs `scripts/action-setup locate`, restores ProvenFix's virtual
environment with actions/cache (a cache miss installs it with `scripts/action-setup
install`), then `provenfix action`. This benchmark does the same on this machine:

  cold  locate + install into a fresh folder (pip, from the index and pip's own cache)
  warm  locate + restore the environment from a tar archive as actions/cache does (a
        zstd tar when zstd is installed, else gzip) + `provenfix action` up to its first
        progress line, i.e. the analysis starting

on a small pull request (a real git repository and a `pull_request` event file, no
token: nothing is posted). The cache download itself is not included: it depends on the
runner's network (GitHub's cache serves a few hundred MB in a few seconds); the archive
size is printed so it can be estimated.

    .venv/bin/python benchmarks/action_startup.py [--warm-runs 5] [--skip-cold]

Goal: warm start under 30 s. Exit 0 whether or not it is met (the output says PASS or FAIL).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SETUP = ROOT / "scripts" / "action-setup"
GOAL_S = 30.0
GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.org",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.org",
}


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True, env=env
    ).stdout.strip()


def make_pull_request(work: Path) -> tuple[Path, Path]:
    """A repository with `main` and a pull request head, and its event file."""
    repo = work / "workspace"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "shop.py").write_text("def total(xs):\n    return sum(xs)\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    base = git(repo, "rev-parse", "HEAD")
    (repo / "shop.py").write_text(
        "def total(xs, seen=[]):\n    return sum(xs) if xs != None else 0\n"
    )
    git(repo, "commit", "-qam", "pull request")
    head = git(repo, "rev-parse", "HEAD")
    event = {
        "action": "synchronize",
        "number": 7,
        "pull_request": {
            "number": 7,
            "state": "open",
            "base": {"sha": base, "ref": "main", "repo": {"full_name": "bench/shop"}},
            "head": {"sha": head, "ref": "pr", "repo": {"full_name": "bench/shop"}},
        },
        "repository": {
            "full_name": "bench/shop",
            "name": "shop",
            "owner": {"login": "bench"},
            "clone_url": "https://github.com/bench/shop.git",
        },
    }
    path = work / "event.json"
    path.write_text(json.dumps(event))
    return repo, path


def locate(env: dict[str, str], outputs: Path) -> dict[str, str]:
    outputs.write_text("")
    subprocess.run([str(SETUP), "locate"], env={**env, "GITHUB_OUTPUT": str(outputs)}, check=True)
    return dict(line.split("=", 1) for line in outputs.read_text().splitlines())


def time_to_analysis(provenfix: str, repo: Path, event: Path, work: Path) -> float:
    """Seconds from starting `provenfix action` to its first progress line of the pipeline."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(work),
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_WORKSPACE": str(repo),
        "RUNNER_TEMP": str(work),
        "INPUT_SANDBOX": "off",
    }
    started = time.monotonic()
    proc = subprocess.Popen(
        [provenfix, "action"],
        cwd=repo,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    seen = None
    lines = []
    for line in proc.stderr:
        lines.append(line)
        if seen is None and line.startswith("[provenfix] diff:"):
            seen = time.monotonic() - started
    proc.wait(timeout=600)
    if seen is None:
        tail = "".join(lines[-5:])
        raise SystemExit(
            f"provenfix action never started the analysis (exit {proc.returncode}):\n{tail}"
        )
    return seen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warm-runs", type=int, default=5)
    parser.add_argument("--skip-cold", action="store_true", help="reuse this checkout's .venv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="provenfix-action-bench-") as name:
        work = Path(name)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", str(work)),
            "RUNNER_OS": "Linux",
            "RUNNER_TOOL_CACHE": str(work / "toolcache"),
        }
        outputs = work / "outputs"
        started = time.monotonic()
        found = locate(env, outputs)
        venv = Path(found["dir"])
        if args.skip_cold:
            shutil.copytree(ROOT / ".venv", venv, symlinks=True)
            cold = None
            print("cold: skipped (copied this checkout's .venv)")
        else:
            subprocess.run([str(SETUP), "install", str(venv)], env=env, check=True)
            cold = time.monotonic() - started
            print(f"cold: locate + install {cold:.1f} s")
        zstd = shutil.which("zstd") is not None
        archive = work / ("cache.tzst" if zstd else "cache.tgz")
        compress = ["--zstd"] if zstd else ["-z"]
        subprocess.run(
            ["tar", *compress, "-cf", str(archive), "-C", "/", str(venv)[1:]], check=True
        )
        size_mb = archive.stat().st_size / 1e6
        repo, event = make_pull_request(work)
        restores, starts, totals = [], [], []
        for _ in range(args.warm_runs):
            shutil.rmtree(venv)
            t0 = time.monotonic()
            found = locate(env, outputs)
            subprocess.run(["tar", *compress, "-xf", str(archive), "-C", "/"], check=True)
            t1 = time.monotonic()
            to_analysis = time_to_analysis(found["provenfix"], repo, event, work)
            restores.append(t1 - t0)
            starts.append(to_analysis)
            totals.append(t1 - t0 + to_analysis)
    warm = statistics.median(totals)
    print(f"cache archive: {size_mb:.0f} MB ({'zstd' if zstd else 'gzip'})")
    print(
        f"warm ({args.warm_runs} runs, median): restore {statistics.median(restores):.1f} s + "
        f"provenfix action to the analysis' start {statistics.median(starts):.1f} s = {warm:.1f} s"
        f" (min {min(totals):.1f}, max {max(totals):.1f})"
    )
    if cold is not None:
        print(f"warm / cold: {warm / cold:.2f}x")
    verdict = "PASS" if warm < GOAL_S else "FAIL"
    print(
        f"goal: warm start under {GOAL_S:.0f} s (download of the archive not included): {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
