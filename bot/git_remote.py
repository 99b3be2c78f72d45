"""git over HTTPS with an installation token: credentials, fetching a pull request,
safe git arguments, and telling a network failure (retried) from any other (final).

The token travels as an `http.extraHeader` in the environment of the one git
process that needs it (`auth_environment`), so it is never written to
`.git/config`, a remote URL, a command line, a log or an exception message.

Every value from a webhook payload or the API that reaches a git command line is
checked first (`checked_sha`, `checked_ref`, `GitOrigin.check`): a sha is 40 (or
64) hex digits, a ref follows git's ref-name rules and never starts with `-`, a
clone URL is https on the configured GitHub's web host (`GitOrigin.for_github`), and
git may use no other transport (`GIT_ALLOW_PROTOCOL`). Positional arguments come
after `--` where git takes it. A value that fails is an `UnsafeGitArgument`: the
job fails at once and no git process sees it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import git

from provenfix.bot.github_api import redact
from provenfix.bot.job_errors import NETWORK_HINTS, JobFailed, TransientError
from provenfix.bot.job_requests import JobRequest
from provenfix.jobs.errors import ProvenFixError

__all__ = [
    "GitOrigin",
    "UnsafeGitArgument",
    "auth_environment",
    "can_push",
    "checked_ref",
    "checked_sha",
    "fetch_pull_request",
    "git_environment",
    "git_failure",
    "token_text",
]

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")  # SHA-1, or SHA-256 object names
# git check-ref-format's rules: no control characters, space, ~ ^ : ? * [ \ or DEL
_REF_FORBIDDEN = re.compile(r"[\x00-\x20~^:?*\[\\\x7f]")
_URL_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\\]")
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


class UnsafeGitArgument(ProvenFixError):
    """A value that would reach a git command line is not a sha, ref or URL we accept."""


def _shown(value: object) -> str:
    return repr(str(value)[:80])


def checked_sha(value: object, what: str = "commit") -> str:
    """`value` when it is a full hex object name (40 or 64 lower-case hex digits)."""
    if not isinstance(value, str) or not _SHA.fullmatch(value):
        raise UnsafeGitArgument(f"{what} {_shown(value)} is not a full hex commit sha")
    return value


def checked_ref(value: object, what: str = "branch") -> str:
    """`value` when git accepts it as a branch name and it cannot be read as an option."""
    if not isinstance(value, str):
        raise UnsafeGitArgument(f"{what} {_shown(value)} is not a name")
    parts = value.split("/")
    bad = (
        not value
        or len(value) > 255
        or value.startswith(("-", "/"))
        or value.endswith(("/", ".", ".lock"))
        or value == "@"
        or ".." in value
        or "@{" in value
        or _REF_FORBIDDEN.search(value) is not None
        or any(not part or part.startswith(".") for part in parts)
    )
    if bad:
        raise UnsafeGitArgument(f"{what} {_shown(value)} is not a valid git ref name")
    return value


def checked_number(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UnsafeGitArgument(f"pull request number {_shown(value)} is not a positive integer")
    return value


@dataclass(frozen=True)
class GitOrigin:
    """Where git may fetch from and push to: the configured GitHub's web origin."""

    scheme: str  # https; http only for a loopback stand-in configured as http
    host: str  # lower-case
    port: int | None = None

    @classmethod
    def for_github(cls, url: str) -> GitOrigin:
        """The web origin of a GitHub API or web URL: api.github.com → github.com (and
        api.SUB.ghe.com → SUB.ghe.com), https://HOST/api/v3 (Enterprise Server) → HOST,
        https://HOST → HOST (bot.payloads.GitHubHosts maps them alike). Plain http
        only for a loopback host (a local stand-in): a real GitHub is https."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if not host or parts.scheme not in ("https", "http"):
            raise UnsafeGitArgument(f"the GitHub URL {_shown(url)} has no https host")
        if parts.scheme == "http" and host not in _LOOPBACK:
            raise UnsafeGitArgument(
                f"the GitHub URL {_shown(url)} is plain http: git fetches over https only"
            )
        if host.startswith("api.") and parts.path.strip("/") == "":
            return cls(parts.scheme, host.removeprefix("api."), parts.port)  # api.github.com
        return cls(parts.scheme, host, parts.port)

    @property
    def protocol(self) -> str:
        return self.scheme

    def check(self, url: object) -> str:
        """`url` when it is a clone URL on this origin (no credentials, query or fragment)."""
        if not isinstance(url, str) or not url or _URL_FORBIDDEN.search(url):
            raise UnsafeGitArgument(f"clone URL {_shown(url)} is not a URL")
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise UnsafeGitArgument(f"clone URL {_shown(url)} is not a URL") from None
        expected = f"{self.scheme}://{self.host}" + (f":{self.port}" if self.port else "")
        if (
            parts.scheme != self.scheme
            or (parts.hostname or "").lower() != self.host
            or port != self.port
            or parts.username is not None
            or parts.password is not None
            or parts.query
            or parts.fragment
            or not parts.path.startswith("/")
            or "/../" in f"{parts.path}/"
        ):
            raise UnsafeGitArgument(
                f"clone URL {_shown(redact(url))} is not a repository on {expected}"
            )
        return url


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


def git_environment(token: str | None, origin: GitOrigin) -> dict[str, str]:
    """The environment of a git command that talks to `origin`: the token (if any) as a
    header, and no transport but the origin's (no file://, ext::, ssh…)."""
    env = auth_environment(token) if token else {"GIT_TERMINAL_PROMPT": "0"}
    return {**env, "GIT_ALLOW_PROTOCOL": origin.protocol}


def _origin_of(url: str) -> GitOrigin:
    """For a caller that names no origin: the clone URL's own, https (or a loopback http)."""
    try:
        return GitOrigin.for_github(url)
    except UnsafeGitArgument:
        raise UnsafeGitArgument(f"clone URL {_shown(redact(url))} is not an https URL") from None


def fetch_pull_request(
    request: JobRequest, token: str | None, dest: Path, *, origin: GitOrigin | None = None
) -> Path:
    """An object-only clone (no checkout) holding the pull request's head and base.

    `origin` is where the clone URL must point (the job passes the configured GitHub's);
    without it the URL must still be https (or http on loopback) and credential-free."""
    head_sha = checked_sha(request.head_sha, "head")
    base_sha = checked_sha(request.base_sha, "base")
    base = checked_ref(request.base_ref, "base branch")
    number = checked_number(request.number)
    allowed = origin if origin is not None else _origin_of(str(request.clone_url))
    url = allowed.check(request.clone_url)
    dest.mkdir(parents=True, exist_ok=True)
    repo = git.Repo.init(dest)
    with repo:
        repo.git.remote("add", "--", "origin", url)
        env = git_environment(token, allowed)
        head_ref = f"refs/remotes/origin/pull/{number}"
        base_ref = f"refs/remotes/origin/{base}"
        try:
            repo.git.fetch(
                "--no-tags",
                "--quiet",
                "--",
                "origin",
                f"+refs/pull/{number}/head:{head_ref}",
                f"+refs/heads/{base}:{base_ref}",
                env=env,
            )
            missing = [sha for sha in (head_sha, base_sha) if not _has(repo, sha)]
            if missing:  # the pull request or its base moved on since the event
                repo.git.fetch("--no-tags", "--quiet", "--", "origin", *missing, env=env)
        except git.GitCommandError as exc:
            raise git_failure(exc, f"git fetch from {url}", token) from None
        for sha in (head_sha, base_sha):
            if not _has(repo, sha):
                raise JobFailed(f"commit {sha} is not in {url}")
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
        repo.git.cat_file("-e", f"{checked_sha(sha)}^{{commit}}")
    except git.GitCommandError:
        return False
    return True
