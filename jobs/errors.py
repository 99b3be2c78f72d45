"""Named exceptions of the pipeline.

`UsageError` and `ConfigError` are the user's to fix (the CLI exits 2 and
prints the message, which says how); anything else is ours (exit 1).
"""

from __future__ import annotations


class ProvenFixError(Exception):
    """Base class of every error the pipeline raises on purpose."""


class UsageError(ProvenFixError):
    """The request cannot be served as given: bad path, unknown revision, bad option."""


class ConfigError(UsageError):
    """A configuration file or setting is invalid; the message names the key and the fix."""


class NotAGitRepository(UsageError):
    def __init__(self, path: str) -> None:
        super().__init__(f"{path} is not a git repository; pass --repo with the path of a clone")


class UnknownRevision(UsageError):
    def __init__(self, rev: str) -> None:
        super().__init__(
            f"unknown revision {rev!r}; check the name with `git rev-parse {rev}` "
            "(fetch it first if it lives on a remote)"
        )


class UnsafeRevision(UsageError):
    """A revision that git could read as an option or that holds control characters."""

    def __init__(self, rev: str, why: str) -> None:
        super().__init__(
            f"{rev[:80]!r} is not a revision ProvenFix will pass to git: {why}; "
            "pass a branch, tag or commit id"
        )


class NoCommonAncestor(UsageError):
    def __init__(self, base: str, head: str) -> None:
        super().__init__(
            f"{base} and {head} share no history, so there is no change to measure; "
            "pass a --base that head was branched from"
        )


class ToolFailure(ProvenFixError):
    """An external analyzer (semgrep, git, docker) failed in a way we could not recover from."""
