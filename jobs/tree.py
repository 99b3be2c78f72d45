"""Materializing a git revision as a plain folder (no .git), out of the user's tree."""

from __future__ import annotations

import tarfile
import tempfile
from pathlib import Path

import git


def export_tree(repo: git.Repo, sha: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=False)
    with tempfile.TemporaryFile() as archive:
        repo.archive(archive, treeish=sha, format="tar")
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            # the "data" filter refuses absolute paths, links out of dest and device files
            tar.extractall(dest, filter="data")
    return dest
