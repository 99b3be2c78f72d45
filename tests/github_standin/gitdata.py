"""What the stand-in reads out of the real git repositories: diffs as GitHub shows
them (three-dot, three lines of context), hunks, blobs, trees and commits."""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_STATUS = {
    "A": "added",
    "D": "removed",
    "M": "modified",
    "R": "renamed",
    "C": "copied",
    "T": "changed",
}


def git_env() -> dict[str, str]:
    return {
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
        "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LC_ALL": "C",
    }


def git(
    repo: Path, *args: str, input: bytes | None = None, env: dict[str, str] | None = None
) -> bytes:
    done = subprocess.run(
        ["git", "-C", str(repo), "-c", "core.quotePath=false", *args],
        check=True,
        capture_output=True,
        input=input,
        env={**git_env(), **(env or {})},
    )
    return done.stdout


def git_text(repo: Path, *args: str) -> str:
    return git(repo, *args).decode("utf-8", "replace").strip()


def rev_parse(repo: Path, rev: str) -> str | None:
    try:
        return git_text(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except subprocess.CalledProcessError:
        return None


def merge_base(repo: Path, a: str, b: str) -> str:
    return git_text(repo, "merge-base", a, b)


@dataclass(frozen=True)
class Hunk:
    left_start: int
    left_count: int
    right_start: int
    right_count: int
    lines: tuple[str, ...]  # the header first, then the hunk's lines as in the patch

    def contains(self, line: int, side: str) -> bool:
        if side == "LEFT":
            return self.left_start <= line < self.left_start + self.left_count
        return self.right_start <= line < self.right_start + self.right_count

    def diff_hunk_to(self, line: int, side: str) -> str:
        """The hunk from its header down to `line`: GitHub's `diff_hunk` of a comment."""
        left, right = self.left_start, self.right_start
        out = [self.lines[0]]
        for text in self.lines[1:]:
            out.append(text)
            if text.startswith("\\"):
                continue
            kind = text[:1]
            here_left = left if kind != "+" else None
            here_right = right if kind != "-" else None
            if kind != "+":
                left += 1
            if kind != "-":
                right += 1
            if (side == "LEFT" and here_left == line) or (side == "RIGHT" and here_right == line):
                break
        return "\n".join(out)


@dataclass(frozen=True)
class DiffFile:
    filename: str
    previous_filename: str | None
    status: str
    sha: str | None  # blob at head (at base for removed files)
    additions: int
    deletions: int
    patch: str | None
    hunks: tuple[Hunk, ...] = field(default=())

    def hunk_for(self, line: int, side: str) -> Hunk | None:
        for hunk in self.hunks:
            if hunk.contains(line, side):
                return hunk
        return None


def parse_hunks(patch: str) -> tuple[Hunk, ...]:
    hunks: list[Hunk] = []
    current: list[str] | None = None
    header: tuple[int, int, int, int] | None = None
    for text in patch.split("\n"):
        m = _HUNK.match(text)
        if m:
            if current is not None and header is not None:
                hunks.append(Hunk(*header, tuple(current)))
            header = (
                int(m.group(1)),
                1 if m.group(2) is None else int(m.group(2)),
                int(m.group(3)),
                1 if m.group(4) is None else int(m.group(4)),
            )
            current = [text]
        elif current is not None:
            current.append(text)
    if current is not None and header is not None:
        hunks.append(Hunk(*header, tuple(current)))
    return tuple(hunks)


def diff_files(repo: Path, base: str, head: str) -> list[DiffFile]:
    """The files of `base...head` in git's order, with patches from the first '@@' on."""
    names = git(repo, "diff", "--name-status", "-z", "-M", base, head).split(b"\0")
    entries: list[tuple[str, str, str | None]] = []  # status letter, path, old path
    i = 0
    while i < len(names) and names[i]:
        letter = names[i].decode()[0]
        if letter in "RC":
            entries.append((letter, names[i + 2].decode(), names[i + 1].decode()))
            i += 3
        else:
            entries.append((letter, names[i + 1].decode(), None))
            i += 2
    raw = git(repo, "diff", "--no-color", "--no-ext-diff", "--full-index", "-U3", "-M", base, head)
    sections = re.split(rb"^diff --git ", raw, flags=re.MULTILINE)[1:]
    files: list[DiffFile] = []
    for (letter, path, old), section in zip(entries, sections, strict=True):
        text = section.decode("utf-8", "replace")
        lines = text.split("\n")
        blob = None
        for line in lines:
            m = re.match(r"^index ([0-9a-f]+)\.\.([0-9a-f]+)", line)
            if m:
                blob = m.group(1) if letter == "D" else m.group(2)
                break
            if line.startswith("@@"):
                break
        if blob is None or set(blob) == {"0"}:
            spec = f"{base}:{old or path}" if letter == "D" else f"{head}:{path}"
            blob = git_text(repo, "rev-parse", spec)
        start = next((n for n, line in enumerate(lines) if line.startswith("@@")), None)
        patch = None
        additions = deletions = 0
        if start is not None:
            body = lines[start:]
            while body and body[-1] == "":
                body.pop()
            patch = "\n".join(body)
            for line in body:
                if line.startswith("+"):
                    additions += 1
                elif line.startswith("-"):
                    deletions += 1
        files.append(
            DiffFile(
                filename=path,
                previous_filename=old if letter == "R" else None,
                status=_STATUS.get(letter, "modified"),
                sha=blob,
                additions=additions,
                deletions=deletions,
                patch=patch,
                hunks=parse_hunks(patch) if patch else (),
            )
        )
    return files


def read_blob(repo: Path, ref: str, path: str) -> bytes | None:
    try:
        return git(repo, "cat-file", "blob", f"{ref}:{path}")
    except subprocess.CalledProcessError:
        return None


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    kind: str  # blob, tree, commit
    sha: str
    size: int
    path: str


def tree_entry(repo: Path, ref: str, path: str) -> TreeEntry | None:
    out = git(repo, "ls-tree", "-l", "-z", ref, "--", path.rstrip("/")).split(b"\0")
    for raw in out:
        if raw:
            return _entry(raw)
    return None


def list_tree(repo: Path, ref: str, path: str) -> list[TreeEntry]:
    spec = f"{ref}:{path}" if path else f"{ref}^{{tree}}"
    out = git(repo, "ls-tree", "-l", "-z", spec).split(b"\0")
    prefix = f"{path.rstrip('/')}/" if path else ""
    entries = [_entry(raw) for raw in out if raw]
    return [TreeEntry(e.mode, e.kind, e.sha, e.size, prefix + e.path) for e in entries]


def _entry(raw: bytes) -> TreeEntry:
    meta, _, name = raw.decode("utf-8", "replace").partition("\t")
    mode, kind, sha, size = meta.split()
    return TreeEntry(mode, kind, sha, 0 if size == "-" else int(size), name)


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_date: str
    committer_name: str
    committer_email: str
    committer_date: str
    message: str


def commits(repo: Path, base: str, head: str) -> list[CommitInfo]:
    """Commits of `base..head`, oldest first, as a pull request lists them."""
    fmt = "%H%x1f%T%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%B%x1e"
    out = git(repo, "log", "--reverse", f"--format={fmt}", f"{base}..{head}").decode()
    result = []
    for record in out.split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        f = record.split("\x1f")
        result.append(
            CommitInfo(
                f[0], f[1], tuple(f[2].split()), f[3], f[4], f[5], f[6], f[7], f[8], f[9].strip()
            )
        )
    return result


def commit_info(repo: Path, sha: str) -> CommitInfo:
    fmt = "%H%x1f%T%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%cn%x1f%ce%x1f%cI%x1f%B"
    f = git(repo, "show", "-s", f"--format={fmt}", sha).decode().split("\x1f")
    return CommitInfo(
        f[0], f[1], tuple(f[2].split()), f[3], f[4], f[5], f[6], f[7], f[8], f[9].strip()
    )
