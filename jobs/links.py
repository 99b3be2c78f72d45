"""Symbolic links in a checkout: which ones leave the tree or loop, never following any.

A pull request controls every link in its tree. A link may point outside the
checkout (`/etc/passwd`, `../../secrets`) or make the tree infinite (`dir -> .`,
`a -> b -> a`, two folders linking to each other), and a test run that follows it
reads host files or collects the same test forty times. `unsafe_links` decides
from a listing alone (git's, a tar's or a folder's; nothing on disk is followed),
resolving each link as the kernel would, component by component:

- a link whose target is absolute, or whose resolution climbs above the root at
  any point (or whose target does so lexically) leaves the tree;
- a link that needs more than 40 hops to resolve (Linux's limit) is a loop;
- a link to a folder from which the folder holding the link can be reached again
  (through the tree or the links kept so far, in path order) closes a cycle.

Everything else is kept: links to files or folders inside the tree, and dangling
links, which nothing can follow.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

MAX_HOPS = 40  # the kernel's limit on links followed while resolving one path
MAX_DIRECTORY_LINKS = 1000  # folder links checked for cycles; more are not followed

ABSOLUTE = "symbolic link to an absolute path, outside the repository: not followed"
OUTSIDE = "symbolic link that leaves the repository: not followed"
LOOP = "symbolic link loop: not followed"
CYCLE = "symbolic link to a folder that contains it again (a loop): not followed"
TOO_MANY = f"more than {MAX_DIRECTORY_LINKS} links to folders: not followed"


@dataclass(frozen=True)
class TreeListing:
    """A tree's folders and links, by '/'-separated path relative to its root."""

    dirs: frozenset[str]
    links: Mapping[str, str] = field(default_factory=dict)  # path -> target as stored


@dataclass(frozen=True)
class _Resolved:
    kind: str  # "dir", "other" (a file or nothing), or one of the reasons above
    path: str = ""  # the real folder, for "dir"


def unsafe_links(listing: TreeListing) -> dict[str, str]:
    """The links of `listing` that must not be followed, each with the reason."""
    unsafe: dict[str, str] = {}
    for path, target in sorted(listing.links.items()):
        kind = _resolve(listing, _parent(path), target).kind
        if kind in (ABSOLUTE, OUTSIDE, LOOP):
            unsafe[path] = kind
    kept = {p: t for p, t in listing.links.items() if p not in unsafe}
    remaining = TreeListing(listing.dirs, kept)
    edges: list[tuple[str, str]] = []  # (folder holding a kept link, the folder it reaches)
    for path, target in sorted(kept.items()):
        resolved = _resolve(remaining, _parent(path), target)
        if resolved.kind != "dir":
            continue
        if len(edges) >= MAX_DIRECTORY_LINKS:
            unsafe[path] = TOO_MANY
        elif _reaches(resolved.path, _parent(path), edges):
            unsafe[path] = CYCLE
        else:
            edges.append((_parent(path), resolved.path))
    return unsafe


def scan_folder(root: Path, *, exclude: frozenset[str] = frozenset()) -> TreeListing:
    """The listing of a folder on disk, without following any link."""
    dirs: set[str] = set()
    links: dict[str, str] = {}
    pending = [""]
    while pending:
        relative = pending.pop()
        with os.scandir(root / relative if relative else root) as entries:
            for entry in entries:
                if entry.name in exclude:
                    continue
                path = f"{relative}/{entry.name}" if relative else entry.name
                if entry.is_symlink():
                    links[path] = os.readlink(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    dirs.add(path)
                    pending.append(path)
    return TreeListing(frozenset(dirs), links)


def _parent(path: str) -> str:
    return posixpath.dirname(path)


def _resolve(listing: TreeListing, start: str, target: str) -> _Resolved:
    if target.startswith("/"):
        return _Resolved(ABSOLUTE)
    # A dangling link that would climb out once its missing folders exist leaves too.
    if posixpath.normpath(posixpath.join(start or ".", target)).split("/")[0] == "..":
        return _Resolved(OUTSIDE)
    current = [part for part in start.split("/") if part]
    pending = target.split("/")
    hops = 1
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not current:
                return _Resolved(OUTSIDE)
            current.pop()
            continue
        path = "/".join([*current, part])
        if path in listing.links:
            hops += 1
            if hops > MAX_HOPS:
                return _Resolved(LOOP)
            inner = listing.links[path]
            if inner.startswith("/"):
                return _Resolved(ABSOLUTE)
            pending = inner.split("/") + pending
        elif path in listing.dirs:
            current.append(part)
        else:
            return _Resolved("other")  # a file, or nothing: resolution stops here
    return _Resolved("dir", "/".join(current))


def _reaches(start: str, goal: str, edges: list[tuple[str, str]]) -> bool:
    """Can `goal` be reached from folder `start`, walking down the tree and along `edges`?"""
    seen: set[str] = set()
    pending = [start]
    while pending:
        folder = pending.pop()
        if folder in seen:
            continue
        seen.add(folder)
        if _within(goal, folder):
            return True
        pending.extend(to for source, to in edges if _within(source, folder))
    return False


def _within(path: str, folder: str) -> bool:
    return folder == "" or path == folder or path.startswith(folder + "/")
