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
"""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path

from actions.event import PullRequestEvent
from bot.github_api import redact
from jobs.errors import NotAGitRepository, ProvenFixError, UsageError

FETCH_TIMEOUT_S = 600.0
REF_PREFIX = "refs/provenfix"


class FetchFailed(ProvenFixError):
    """git could not fetch the pull request's commits; the message says why (no secrets)."""


def fetch_environment(url: str, token: str | None) -> dict[str, str]:
    """git configuration, through the environment only, that authenticates fetches of `url`."""
    env = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "/bin/false"}
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
) -> tuple[str, ...]:
    """Fetch the base and head commits into `repo_path` when needed; the refspecs fetched."""
    git = _Git(repo_path, event.clone_url, token)
    if git.run("rev-parse", "--git-dir").returncode != 0:
        raise NotAGitRepository(str(repo_path))
    shallow = git.output("rev-parse", "--is-shallow-repository") == "true"
    missing = [sha for sha in (event.base_sha, event.head_sha) if not git.has(sha)]
    if not missing and not shallow:
        return ()
    why = "shallow checkout" if shallow else f"missing {', '.join(s[:10] for s in missing)}"
    log(f"fetch: {event.full_name}#{event.number} base and head ({why})")
    refspecs = (
        f"+refs/pull/{event.number}/head:{REF_PREFIX}/pull/{event.number}/head",
        f"+refs/heads/{event.base_ref}:{REF_PREFIX}/base/{event.base_ref}",
    )
    git.fetch(("--unshallow",) if shallow else (), refspecs)
    still = [sha for sha in (event.base_sha, event.head_sha) if not git.has(sha)]
    if still:  # the pull request moved on since the event: ask for the commits themselves
        git.fetch((), tuple(still))
    for sha in (event.base_sha, event.head_sha):
        if not git.has(sha):
            raise UsageError(
                f"commit {sha} is not in {event.clone_url}: was it force-pushed away? "
                "Re-run the workflow on the pull request's current head"
            )
    return refspecs


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
        return self.run("cat-file", "-e", f"{sha}^{{commit}}").returncode == 0

    def fetch(self, options: Sequence[str], refspecs: Sequence[str]) -> None:
        args = ("fetch", "--no-tags", "--quiet", *options, self.url, *refspecs)
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
