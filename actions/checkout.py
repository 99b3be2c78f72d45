"""Making sure the checkout holds the pull request's base and head commits.

`actions/checkout` checks out the merge commit with one commit of history by
default: the base and head commits ProvenFix compares are then missing (or their
history is cut, so there is no merge base). `ensure_commits` fetches what is
missing from the base repository: `refs/pull/N/head` (forks included) and the
base branch, with the history unshallowed when the checkout is shallow.

The token travels as an `http.<url>.extraHeader` given to the one git process
through GIT_CONFIG_COUNT/KEY/VALUE environment variables: it is written to no
file (not `.git/config`, not a remote URL), shows in no command line, and is
removed from every message. The key names the fetch URL itself and is first
reset to empty, so a header `actions/checkout` persisted in `.git/config`
(`http.https://github.com/.extraheader`) is replaced, not sent twice.

The event's shas, base branch and clone URL are checked before git sees them
(bot.git_remote): full hex shas, a valid ref name that is no option, and a clone URL
on the GitHub server the workflow runs on (https; `server_url`, or else the host the
checkout's `origin` was cloned from); git may use no other transport, and the URL
follows `--`.
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from provenfix.actions.event import PullRequestEvent
from provenfix.bot.git_remote import GitOrigin, checked_number, checked_ref, checked_sha
from provenfix.bot.github_api import redact
from provenfix.jobs.errors import NotAGitRepository, ProvenFixError, UsageError

FETCH_TIMEOUT_S = 600.0
REF_PREFIX = "refs/provenfix"


class FetchFailed(ProvenFixError):
    """git could not fetch the pull request's commits; the message says why (no secrets)."""


DEFAULT_SERVER_URL = "https://github.com"


def fetch_environment(url: str, token: str | None) -> dict[str, str]:
    """git configuration, through the environment only, that authenticates fetches of `url`
    and allows git no transport but the URL's own."""
    env = {
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ASKPASS": "/bin/false",
        "GIT_ALLOW_PROTOCOL": "http" if url.startswith("http:") else "https",
    }
    if not token:
        return env
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode("ascii")
    key = f"http.{url}.extraHeader"
    env.update(
        GIT_CONFIG_COUNT="2",
        GIT_CONFIG_KEY_0=key,
        GIT_CONFIG_VALUE_0="",  # an empty value drops the headers configured so far
        GIT_CONFIG_KEY_1=key,
        GIT_CONFIG_VALUE_1=f"Authorization: Basic {basic}",
    )
    return env


def ensure_commits(
    repo_path: Path,
    event: PullRequestEvent,
    token: str | None,
    *,
    log: Callable[[str], None],
    server_url: str | None = None,
) -> tuple[str, ...]:
    """Fetch the base and head commits into `repo_path` when needed; the refspecs fetched.

    `server_url` is the GitHub the workflow runs on (GITHUB_SERVER_URL); without it, the
    host `origin` points at (actions/checkout sets it from GITHUB_SERVER_URL)."""
    base_sha = checked_sha(event.base_sha, "base")
    head_sha = checked_sha(event.head_sha, "head")
    base_ref = checked_ref(event.base_ref, "base branch")
    number = checked_number(event.number)
    probe = _Git(repo_path, "", None)
    if probe.run("rev-parse", "--git-dir").returncode != 0:
        raise NotAGitRepository(str(repo_path))
    server = server_url or _origin_server(probe) or DEFAULT_SERVER_URL
    git = _Git(repo_path, GitOrigin.for_github(server).check(event.clone_url), token)
    shallow = git.output("rev-parse", "--is-shallow-repository") == "true"
    missing = [sha for sha in (base_sha, head_sha) if not git.has(sha)]
    if not missing and not shallow:
        return ()
    why = "shallow checkout" if shallow else f"missing {', '.join(s[:10] for s in missing)}"
    log(f"fetch: {event.full_name}#{event.number} base and head ({why})")
    refspecs = (
        f"+refs/pull/{number}/head:{REF_PREFIX}/pull/{number}/head",
        f"+refs/heads/{base_ref}:{REF_PREFIX}/base/{base_ref}",
    )
    git.fetch(("--unshallow",) if shallow else (), refspecs)
    still = [sha for sha in (base_sha, head_sha) if not git.has(sha)]
    if still:  # the pull request moved on since the event: ask for the commits themselves
        git.fetch((), tuple(still))
    for sha in (base_sha, head_sha):
        if not git.has(sha):
            raise UsageError(
                f"commit {sha} is not in {event.clone_url}: was it force-pushed away? "
                "Re-run the workflow on the pull request's current head"
            )
    return refspecs


def _origin_server(git: _Git) -> str | None:
    """scheme://host[:port] of the checkout's `origin` remote, when it is an http(s) URL."""
    url = git.output("remote", "get-url", "origin")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("https", "http"):
        return None
    return f"{scheme}://{rest.split('/', 1)[0].rpartition('@')[2]}"


class _Git:
    def __init__(self, repo_path: Path, url: str, token: str | None) -> None:
        self.repo_path = repo_path
        self.url = url
        self.token = token

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["git", "-C", str(self.repo_path), *args],
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0", **(env or {})},
        )

    def output(self, *args: str) -> str:
        return self.run(*args).stdout.strip()

    def has(self, sha: str) -> bool:
        return self.run("cat-file", "-e", f"{checked_sha(sha)}^{{commit}}").returncode == 0

    def fetch(self, options: Sequence[str], refspecs: Sequence[str]) -> None:
        args = ("fetch", "--no-tags", "--quiet", *options, "--", self.url, *refspecs)
        try:
            proc = self.run(
                *args, env=fetch_environment(self.url, self.token), timeout=FETCH_TIMEOUT_S
            )
        except subprocess.TimeoutExpired:
            raise FetchFailed(
                f"git fetch from {self.url} did not finish in {FETCH_TIMEOUT_S:.0f} s"
            ) from None
        if proc.returncode != 0:
            raise FetchFailed(f"git fetch from {self.url} failed: {self.clean(proc.stderr)}")

    def clean(self, text: str) -> str:
        text = text.strip() or "no message"
        if self.token:
            text = text.replace(self.token, "***")
        return redact(" ".join(text.split()))[:1000]
