"""Releases from PyPI as git history: what the benchmarks share.

`fetch_sdist` downloads (once, cached) the sdist of NAME==VERSION, `unpack_sdist` lays its tree
into a folder without the sdist's one top folder, and `git` runs git with a fixed identity and
date so that the repositories the benchmarks build are the same on every run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Collection
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "benchmark",
    "GIT_AUTHOR_EMAIL": "benchmark@example.org",
    "GIT_COMMITTER_NAME": "benchmark",
    "GIT_COMMITTER_EMAIL": "benchmark@example.org",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class BenchmarkError(Exception):
    """The benchmark cannot run; the message says why."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def git(repo: Path, *args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(repo), "-c", "commit.gpgsign=false", "-c", "core.autocrlf=false", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **GIT_ENV},
        check=False,
    )
    if proc.returncode != 0:
        raise BenchmarkError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout.strip()


def sdists_in(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.name.endswith((".tar.gz", ".zip")))


def fetch_sdist(cache: Path, name: str, version: str) -> Path:
    """The sdist of name==version, from `cache`/NAME-VERSION/ or downloaded there by pip."""
    folder = cache / f"{name}-{version}"
    found = sdists_in(folder)
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        say(f"downloading {name}=={version} (sdist) ...")
        command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        command += ["--no-binary", ":all:", "--dest", str(folder), f"{name}=={version}"]
        proc = subprocess.run(command, capture_output=True, text=True, check=False)
        found = sdists_in(folder)
        if proc.returncode != 0 or not found:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            raise BenchmarkError(f"pip download {name}=={version} failed: {' '.join(tail)}")
    return found[0]


def unpack_sdist(sdist: Path, dest: Path, *, drop: Collection[str] = ()) -> None:
    """The sdist's tree, without its one top folder, copied into dest (`drop`: top-level names
    left out, e.g. PKG-INFO)."""
    with tempfile.TemporaryDirectory(prefix="sdist-", dir=dest.parent) as scratch:
        raw = Path(scratch)
        if sdist.name.endswith(".zip"):
            with zipfile.ZipFile(sdist) as archive:
                archive.extractall(raw)
        else:
            with tarfile.open(sdist) as archive:
                archive.extractall(raw, filter="data")
        entries = list(raw.iterdir())
        if len(entries) != 1 or not entries[0].is_dir():
            raise BenchmarkError(f"{sdist.name}: expected one top-level folder")
        top = entries[0]
        for name in drop:
            target = top / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        shutil.copytree(top, dest, symlinks=True, dirs_exist_ok=True)
