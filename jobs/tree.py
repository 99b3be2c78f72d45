"""Materializing a git revision as a plain folder (no .git), out of the user's tree.

Links that leave the tree or loop (jobs.links) are left out of the folder, each
with the reason: a test run on it never reads a host file through a link, and
never collects the same test again through `dir -> .`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import git

from provenfix.jobs.gitrefs import check_object_id
from provenfix.jobs.links import OUTSIDE, TreeListing, unsafe_links
from provenfix.jobs.report import Skipped

_LINK_MODE = "120000"


@dataclass(frozen=True)
class ExportedTree:
    root: Path
    left_out: tuple[Skipped, ...]  # links not written, with the reason


def export_tree(repo: git.Repo, sha: str, dest: Path) -> Path:
    return export_revision(repo, sha, dest).root


def export_revision(repo: git.Repo, sha: str, dest: Path) -> ExportedTree:
    """The tree of commit `sha` (a full object id) under the new folder `dest`.

    Written from git's objects, not with `git archive`: that applies the tree's own
    .gitattributes, so a change could `export-ignore` test files (hiding them from every
    test run) or `export-subst` a file into something else than what was committed."""
    check_object_id(sha)
    dest.mkdir(parents=True, exist_ok=False)
    entries = _entries(repo, sha)
    dirs = {path for mode, kind, _, path in entries if kind in ("tree", "commit")}
    links = {
        path: _read(repo, oid).decode("utf-8", errors="surrogateescape")
        for mode, _, oid, path in entries
        if mode == _LINK_MODE
    }
    left_out = dict(unsafe_links(TreeListing(frozenset(dirs), links)))
    root = dest.resolve()
    for mode, kind, oid, path in entries:
        if path in left_out or not _plain(path):
            left_out.setdefault(path, "a path git should never hold: not written")
            continue
        target = root / path
        if kind in ("tree", "commit"):  # a submodule is an empty folder in a checkout
            target.mkdir(parents=True, exist_ok=True)
        elif kind == "blob" and mode != _LINK_MODE:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_read(repo, oid))
            target.chmod(0o755 if mode == "100755" else 0o644)
    for path, link in sorted(links.items()):  # last: nothing is ever written through one
        if path in left_out:
            continue
        where = os.path.normpath(os.path.join(root, os.path.dirname(path), link))
        if os.path.isabs(link) or os.path.commonpath([root, where]) != str(root):
            left_out[path] = OUTSIDE  # what jobs.links should have caught: never written
            continue
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(link, root / path)
    skipped = tuple(Skipped(path, reason) for path, reason in sorted(left_out.items()))
    return ExportedTree(dest, skipped)


def _entries(repo: git.Repo, sha: str) -> list[tuple[str, str, str, str]]:
    """(mode, kind, object id, path) of every entry of commit `sha`'s tree, folders first."""
    raw = repo.git.ls_tree(
        "-r", "-t", "-z", "--full-tree", "--end-of-options", check_object_id(sha),
        stdout_as_string=False,
    )  # fmt: skip
    entries = []
    for record in bytes(raw).split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, kind, object_id = meta.decode("ascii").split(" ")
        entries.append((mode, kind, object_id, name.decode("utf-8", errors="surrogateescape")))
    return entries


def _read(repo: git.Repo, object_id: str) -> bytes:
    data: bytes = repo.odb.stream(bytes.fromhex(check_object_id(object_id))).read()
    return data


def _plain(path: str) -> bool:
    parts = path.split("/")
    return not path.startswith("/") and all(p not in ("", ".", "..", ".git") for p in parts)


def unsafe_links_at(repo: git.Repo, sha: str) -> dict[str, str]:
    """The links of commit `sha` that leave its tree or loop, with the reason (from git)."""
    raw = repo.git.ls_tree(
        "-r", "-t", "-z", "--full-tree", "--end-of-options", check_object_id(sha),
        stdout_as_string=False,
    )  # fmt: skip
    dirs: set[str] = set()
    link_ids: dict[str, str] = {}
    for record in bytes(raw).split(b"\0"):
        if not record:
            continue
        meta, _, name = record.partition(b"\t")
        mode, kind, object_id = meta.decode("ascii").split(" ")
        path = name.decode("utf-8", errors="surrogateescape")
        if kind in ("tree", "commit"):  # a submodule is a folder in a checkout
            dirs.add(path)
        elif mode == _LINK_MODE:
            link_ids[path] = object_id
    if not link_ids:
        return {}
    links = {
        path: repo.odb.stream(bytes.fromhex(check_object_id(object_id)))
        .read()
        .decode("utf-8", errors="surrogateescape")
        for path, object_id in link_ids.items()
    }
    return unsafe_links(TreeListing(frozenset(dirs), links))
