"""Materializing a git revision as a plain folder (no .git), out of the user's tree."""

from __future__ import annotations

import os
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import git


def export_tree(repo: git.Repo, sha: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=False)
    with tempfile.TemporaryFile() as archive:
        repo.archive(archive, treeish=sha, format="tar")
        archive.seek(0)
        with tarfile.open(fileobj=archive) as tar:
            # the "data" filter refuses absolute paths, links out of dest and device files
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, filter="data")
            else:  # Python < 3.11.4 (Debian 12's 3.11.2): the same checks, by hand
                tar.extractall(dest, members=_data_members(tar, dest))
    return dest


def _data_members(tar: tarfile.TarFile, dest: Path) -> Iterator[tarfile.TarInfo]:
    """What `filter="data"` lets through, for Pythons without extraction filters."""
    root = os.path.realpath(dest)

    def inside(path: str) -> bool:
        return os.path.commonpath([root, os.path.realpath(path)]) == root

    for member in tar.getmembers():
        name = member.name
        if name.startswith(("/", os.sep)) or not inside(os.path.join(root, name)):
            raise tarfile.TarError(f"{name!r} would be extracted outside {dest}")
        if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
            raise tarfile.TarError(f"{name!r} is a special file (device or FIFO)")
        if member.issym():
            target = os.path.join(root, os.path.dirname(name), member.linkname)
            if os.path.isabs(member.linkname) or not inside(target):
                raise tarfile.TarError(f"{name!r} links outside {dest}")
        elif member.islnk() and (
            os.path.isabs(member.linkname) or not inside(os.path.join(root, member.linkname))
        ):
            raise tarfile.TarError(f"{name!r} links outside {dest}")
        if member.isfile() or member.islnk():
            executable = member.mode & 0o100
            member.mode = 0o755 if executable else 0o644
        elif member.isdir():
            member.mode = 0o755
        member.uid = member.gid = 0
        member.uname = member.gname = ""
        yield member
