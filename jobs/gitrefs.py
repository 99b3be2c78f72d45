"""What jobs/ hands to git: checked revisions and object ids, never an option.

Revisions come from users (`--base`, the Action's event, a webhook's payload),
and git reads any argument that starts with `-` as an option: `--output=FILE`
makes `git diff` write a file, `--upload-pack=CMD` and `--exec=CMD` run a
command. So a revision is checked before git sees it (no leading `-`, no
control characters, a bounded length), resolved to a commit with `rev-parse
--verify --end-of-options`, and every later command gets only the full object
id that came back (40 or 64 hex digits, checked again where it is used). Paths
come after `--` wherever a command takes them.
"""

from __future__ import annotations

import re

import git

from provenfix.jobs.errors import UnknownRevision, UnsafeRevision

MAX_REVISION_CHARS = 1024
_OBJECT_ID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_revision(rev: str) -> str:
    """`rev` unchanged when git can only read it as a revision; UnsafeRevision otherwise."""
    if not rev:
        raise UnsafeRevision(rev, "it is empty")
    if rev.startswith("-"):
        raise UnsafeRevision(rev, "it starts with '-', so git would read it as an option")
    if _CONTROL.search(rev):
        raise UnsafeRevision(rev, "it holds control characters")
    if len(rev) > MAX_REVISION_CHARS:
        raise UnsafeRevision(rev, f"it is longer than {MAX_REVISION_CHARS} characters")
    return rev


def check_object_id(sha: str) -> str:
    """`sha` unchanged when it is a full object id (SHA-1 or SHA-256); UnsafeRevision otherwise."""
    if not _OBJECT_ID.fullmatch(sha):
        raise UnsafeRevision(sha, "a full commit id (40 or 64 hex digits) was expected")
    return sha


def resolve_commit(repo: git.Repo, rev: str) -> str:
    """The full id of the commit `rev` names; UnsafeRevision or UnknownRevision otherwise."""
    check_revision(rev)
    try:
        out = repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}")
    except git.GitCommandError:
        raise UnknownRevision(rev) from None
    return check_object_id(str(out).strip())
