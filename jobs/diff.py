"""Diff stage: what a change (merge-base(base, head)..head) touched, from git.

Only the head side matters downstream: which lines a change added or modified,
and the extent of each hunk (suggestions must stay inside one hunk to be
committable on GitHub). Deleted and binary files are reported as skipped, and so
are the head's links that leave the tree or loop (jobs.links), changed or not:
they are never followed, and left out of every tree the tests run on (jobs.tree).

Revisions are checked and resolved by jobs.gitrefs; git only ever sees full
object ids after that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import git

from provenfix.jobs.errors import NoCommonAncestor, NotAGitRepository
from provenfix.jobs.gitrefs import check_object_id, resolve_commit
from provenfix.jobs.report import ChangedFile, LineRange, Skipped
from provenfix.jobs.tree import unsafe_links_at

_HUNK_HEADER = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)


@dataclass(frozen=True)
class Change:
    """The resolved change plus everything the diff stage found in it."""

    repo: git.Repo
    base_sha: str  # the merge base: what "the change" is measured against
    head_sha: str
    files: tuple[ChangedFile, ...]
    skipped: tuple[Skipped, ...]

    def head_blob(self, path: str) -> bytes:
        return _read_blob(self.repo, self.head_sha, path)

    def base_blob(self, path: str) -> bytes | None:
        return _read_blob(self.repo, self.base_sha, path) if path else None


def open_repo(path: Path) -> git.Repo:
    try:
        return git.Repo(path, search_parent_directories=False)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise NotAGitRepository(str(path)) from None


def resolve(repo: git.Repo, rev: str) -> str:
    """The full commit id `rev` names; UnsafeRevision or UnknownRevision (UsageErrors)."""
    return resolve_commit(repo, rev)


def compute_change(repo: git.Repo, base: str, head: str) -> Change:
    head_sha = resolve(repo, head)
    base_tip = resolve(repo, base)
    bases = repo.merge_base(base_tip, head_sha)
    if not bases:
        raise NoCommonAncestor(base, head)
    merge_base = repo.commit(check_object_id(str(bases[0].hexsha)))
    unsafe_at_head = unsafe_links_at(repo, head_sha)
    files: list[ChangedFile] = []
    skipped: list[Skipped] = []
    # Three lines of context, as GitHub shows a pull request, so hunk extents
    # match where review comments may be anchored; -M (added by GitPython when
    # create_patch is set) pairs renames with their old path.
    for item in merge_base.diff(head_sha, create_patch=True, unified=3):
        path = item.b_path or item.a_path or ""
        patch = item.diff if isinstance(item.diff, bytes) else str(item.diff).encode()
        if item.deleted_file:
            skipped.append(Skipped(path=path, reason="deleted in this change"))
            continue
        if patch.startswith(b"Binary files") or b"\nBinary files" in patch:
            skipped.append(Skipped(path=path, reason="binary file"))
            continue
        if item.b_mode is not None and (item.b_mode & 0o170000) == 0o120000:
            skipped.append(Skipped(path, unsafe_at_head.get(path, "symbolic link")))
            continue
        if item.b_mode is not None and (item.b_mode & 0o170000) == 0o160000:
            skipped.append(Skipped(path=path, reason="submodule"))
            continue
        added, hunks = parse_patch(patch)
        old_path = None if item.new_file else (item.a_path or path)
        if not added:
            if item.renamed_file:
                skipped.append(Skipped(path=path, reason=f"renamed from {old_path} unchanged"))
            continue
        files.append(ChangedFile(path=path, old_path=old_path, added=added, hunks=hunks))
    files.sort(key=lambda f: f.path)
    # unchanged links (already on the base branch) are part of every tree the tests see too
    reported = {s.path for s in skipped}
    skipped += [Skipped(p, r) for p, r in sorted(unsafe_at_head.items()) if p not in reported]
    return Change(
        repo=repo,
        base_sha=str(merge_base.hexsha),
        head_sha=head_sha,
        files=tuple(files),
        skipped=tuple(skipped),
    )


def parse_patch(patch: bytes) -> tuple[tuple[LineRange, ...], tuple[LineRange, ...]]:
    """Head-side added lines and hunk extents of one file's unified diff."""
    added: list[int] = []
    hunks: list[LineRange] = []
    line_no = 0
    in_hunk = False
    for raw in patch.split(b"\n"):
        header = _HUNK_HEADER.match(raw)
        if header:
            line_no = int(header.group(1))
            count = int(header.group(2)) if header.group(2) is not None else 1
            if count:
                hunks.append(LineRange(line_no, line_no + count - 1))
            in_hunk = True
            continue
        if not in_hunk:
            continue  # file header lines before the first hunk
        if raw.startswith(b"+"):
            added.append(line_no)
            line_no += 1
        elif raw.startswith(b" "):
            line_no += 1
    return _to_ranges(added), tuple(hunks)


def _to_ranges(lines: list[int]) -> tuple[LineRange, ...]:
    ranges: list[LineRange] = []
    for line in lines:
        if ranges and ranges[-1].end == line - 1:
            ranges[-1] = LineRange(ranges[-1].start, line)
        else:
            ranges.append(LineRange(line, line))
    return tuple(ranges)


def _read_blob(repo: git.Repo, sha: str, path: str) -> bytes:
    # GitPython walks the tree itself: `path` reaches no command line
    blob = repo.commit(check_object_id(sha)).tree / path
    data: bytes = blob.data_stream.read()
    return data
