"""The local clone `provenfix analyze` works in: finding it, its default base, the
history it needs, where the report goes, and applying the proven fixes to it.

Every problem here is the user's to fix and says how (UsageError: exit 2).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import git

from provenfix.jobs.errors import NoCommonAncestor, NotAGitRepository, UnknownRevision, UsageError

DEFAULT_BRANCHES = ("main", "master", "trunk", "develop")


def find_repository(path: Path) -> git.Repo:
    """The clone that contains `path` (its top folder or any folder below it)."""
    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise NotAGitRepository(str(path)) from None


def default_base(repo: git.Repo) -> str:
    """The remote's default branch (origin/HEAD), else origin/<a usual name>, else a local
    branch of a usual name; UsageError saying to pass --base when there is none."""
    for remote in repo.remotes:
        try:
            target = remote.refs.HEAD.reference  # refs/remotes/<remote>/HEAD -> the default
        except (AttributeError, IndexError, TypeError, ValueError):
            continue
        return str(target.name)
    names = [f"{remote.name}/{branch}" for remote in repo.remotes for branch in DEFAULT_BRANCHES]
    names += list(DEFAULT_BRANCHES)
    known = {ref.name for ref in repo.refs}
    for name in names:
        if name in known:
            return name
    raise UsageError(
        "cannot tell which branch this change is based on (no origin/HEAD and no main or "
        "master branch); pass --base, e.g. --base origin/main (`git remote set-head origin "
        "--auto` records the remote's default branch)"
    )


def is_shallow(repo: git.Repo) -> bool:
    return Path(repo.git_dir, "shallow").is_file()


def explain_missing_history(repo: git.Repo, error: UsageError) -> UsageError:
    """In a shallow clone, a missing revision or merge base is the shallowness: say so."""
    if not is_shallow(repo) or not isinstance(error, NoCommonAncestor | UnknownRevision):
        return error
    return UsageError(
        f"{error} — this clone is shallow, so the history that links the base and the head "
        "is missing; run `git fetch --unshallow` (or `git fetch --deepen=200`), or in GitHub "
        "Actions check out with `fetch-depth: 0`"
    )


def check_output(path: Path) -> None:
    """Before any work: the report can be written at `path`."""
    if path.is_dir():
        raise UsageError(f"--output {path} is a folder; name a file, e.g. {path / 'report.txt'}")
    parent = path.parent if str(path.parent) else Path(".")
    existing = parent
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {path}: {existing} is not a writable folder")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"cannot write {path}: it is read-only")


def check_clean(repo: git.Repo) -> None:
    """`--apply` writes into the working tree: only a clean one, unless forced."""
    if repo.is_dirty(untracked_files=False):
        raise UsageError(
            "the working tree has uncommitted changes; commit or stash them first, or pass "
            "--force to apply the fixes on top of them"
        )


def apply_patch(repo: git.Repo, patch: str) -> None:
    """Apply `patch` to the working tree with `git apply` (checked first: all or nothing)."""
    root = repo.working_tree_dir
    if root is None:
        raise UsageError("--apply needs a working tree (this is a bare repository)")
    for check in (["--check"], []):
        proc = subprocess.run(
            ["git", "apply", "--whitespace=nowarn", *check, "-"],
            cwd=root,
            input=patch,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            detail = proc.stderr.strip().splitlines()[:3]
            raise UsageError(
                "the proven fixes do not apply to the working tree (it differs from the "
                f"analyzed head): {' | '.join(detail)}; use --format diff to see them"
            )
