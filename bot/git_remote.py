"""git over HTTPS with an installation token: credentials, fetching a pull request,
and telling a network failure (retried) from any other (final).

The token travels as an `http.extraHeader` in the environment of the one git
process that needs it (`auth_environment`), so it is never written to
`.git/config`, a remote URL, a command line, a log or an exception message.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path

import git

from bot.github_api import redact
from bot.job_errors import NETWORK_HINTS, JobFailed
from bot.job_requests import JobRequest
from bot.queue import TransientError

__all__ = ["auth_environment", "can_push", "fetch_pull_request", "git_failure", "token_text"]


def token_text(token: object) -> str:
    """The token string of an installation token (a str, or an object with `.token`)."""
    text = token if isinstance(token, str) else getattr(token, "token", None)
    if not isinstance(text, str) or not text:
        raise JobFailed("the GitHub App returned no installation token")
    return text


def can_push(token: object) -> bool:
    """Did the installation grant Contents: write (needed by "Apply proven fixes")?"""
    permissions = getattr(token, "permissions", None) or {}
    return isinstance(permissions, Mapping) and permissions.get("contents") == "write"


def auth_environment(token: str) -> dict[str, str]:
    """git configuration, through the environment, that sends the token as a header.

    `GIT_CONFIG_COUNT`/`GIT_CONFIG_KEY_n`/`GIT_CONFIG_VALUE_n` (git 2.31+) apply to the
    one git process they are given to: nothing is written to `.git/config`, and the
    value appears in no command line (`ps`) and no GitPython error message."""
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "http.extraHeader",
        "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
    }


def fetch_pull_request(request: JobRequest, token: str | None, dest: Path) -> Path:
    """An object-only clone (no checkout) holding the pull request's head and base."""
    dest.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(dest)
    with repo:
        repo.git.remote("add", "origin", request.clone_url)
        env = auth_environment(token) if token else {"GIT_TERMINAL_PROMPT": "0"}
        head_ref = f"refs/remotes/origin/pull/{request.number}"
        base_ref = f"refs/remotes/origin/{request.base_ref}"
        try:
            repo.git.fetch(
                "--no-tags",
                "--quiet",
                "origin",
                f"+refs/pull/{request.number}/head:{head_ref}",
                f"+refs/heads/{request.base_ref}:{base_ref}",
                env=env,
            )
            missing = [sha for sha in (request.head_sha, request.base_sha) if not _has(repo, sha)]
            if missing:  # the pull request or its base moved on since the event
                repo.git.fetch("--no-tags", "--quiet", "origin", *missing, env=env)
        except git.GitCommandError as exc:
            raise git_failure(exc, f"git fetch from {request.clone_url}", token) from None
        for sha in (request.head_sha, request.base_sha):
            if not _has(repo, sha):
                raise JobFailed(f"commit {sha} is not in {request.clone_url}")
    return dest


def git_failure(
    exc: git.GitCommandError, what: str, token: str | None
) -> TransientError | JobFailed:
    """`what` ("git fetch from URL") failed: a TransientError when the network did, else a
    JobFailed; either way git's message without the token."""
    stderr = str(exc.stderr or "").strip()
    if token:
        stderr = stderr.replace(token, "***")
    stderr = redact(stderr)
    message = f"{what} failed: {stderr or exc.status}"
    if any(hint in stderr.lower() for hint in NETWORK_HINTS):
        return TransientError(message)
    return JobFailed(message)


def _has(repo: git.Repo, sha: str) -> bool:
    try:
        repo.git.cat_file("-e", f"{sha}^{{commit}}")
    except git.GitCommandError:
        return False
    return True
