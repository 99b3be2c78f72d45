"""The workflow run an Action step lives in: the event that triggered it, and its token.

GitHub hands a step the triggering event as a JSON file (`GITHUB_EVENT_PATH`) and
its name in `GITHUB_EVENT_NAME`. ProvenFix analyzes pull requests: a
`pull_request` (or `pull_request_target`) event yields a `PullRequestEvent`;
anything else yields `NotApplicable` with the message to print and the exit
status (0: nothing to do on this event; 2: the workflow is set up wrong).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provenfix.bot.job_requests import PullRequestRef

PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
TOKEN_VARIABLES = ("INPUT_TOKEN", "GITHUB_TOKEN")  # the step's input first


@dataclass(frozen=True)
class PullRequestEvent(PullRequestRef):
    """What the Action needs to know about the pull request of the triggering event."""

    event_name: str  # pull_request or pull_request_target
    action: str  # opened, synchronize, reopened...
    base_ref: str  # the base branch's name
    head_repo: str | None  # full name of the head's repository; None: the fork was deleted
    clone_url: str  # of the base repository; refs/pull/N/head lives there, forks included

    @property
    def is_fork(self) -> bool:
        """The head lives in another repository: the workflow's token is read-only then."""
        return self.head_repo != self.full_name


@dataclass(frozen=True)
class NotApplicable:
    """The step has nothing to analyze: `message` says why, `exit_code` is the step's status."""

    message: str
    exit_code: int


class _Malformed(Exception):
    pass


def read_event(env: Mapping[str, str]) -> PullRequestEvent | NotApplicable:
    """The pull request of the triggering event, or why there is none."""
    path = env.get("GITHUB_EVENT_PATH", "").strip()
    if not path:
        return NotApplicable(
            "GITHUB_EVENT_PATH is not set: `provenfix action` runs as a step of a GitHub "
            "Actions workflow (`on: pull_request`); elsewhere use `provenfix analyze`",
            2,
        )
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        return NotApplicable(f"cannot read the event file {path}: {exc.strerror}", 2)
    except ValueError as exc:
        return NotApplicable(f"the event file {path} is not JSON: {exc}", 2)
    if not isinstance(payload, dict):
        return NotApplicable(f"the event file {path} does not hold a JSON object", 2)
    name = env.get("GITHUB_EVENT_NAME", "").strip() or (
        "pull_request" if "pull_request" in payload else "unknown"
    )
    if name not in PULL_REQUEST_EVENTS:
        return NotApplicable(
            f"ProvenFix analyzes pull requests, and this run was triggered by `{name}`: "
            "nothing to do. Run the workflow `on: pull_request`.",
            0,
        )
    try:
        return _pull_request(name, payload, env.get("GITHUB_REPOSITORY", "").strip())
    except _Malformed as exc:
        return NotApplicable(f"the `{name}` event in {path} is malformed: {exc}", 2)


def _pull_request(
    name: str, payload: dict[str, Any], repository: str
) -> PullRequestEvent | NotApplicable:
    pr = _object(payload, "pull_request")
    action = payload.get("action")
    action = action if isinstance(action, str) else ""
    number = pr.get("number", payload.get("number"))
    if not isinstance(number, int) or isinstance(number, bool) or number < 1:
        raise _Malformed("pull_request.number is not a positive whole number")
    state = pr.get("state")
    if action == "closed" or (isinstance(state, str) and state != "open"):
        return NotApplicable(
            f"pull request #{number} is {state or 'closed'}: nothing to analyze", 0
        )
    base, head = _object(pr, "base"), _object(pr, "head")
    base_repo = _object(base, "repo")
    full_name = repository or _text(base_repo, "full_name", "pull_request.base.repo")
    owner, sep, repo = full_name.partition("/")
    if not sep or not owner or not repo or "/" in repo:
        raise _Malformed(f"the repository name {full_name!r} is not OWNER/NAME")
    head_repo = head.get("repo")
    head_name = (
        _text(head_repo, "full_name", "pull_request.head.repo")
        if isinstance(head_repo, dict)
        else None
    )
    repository_obj = payload.get("repository")
    clone_source = repository_obj if isinstance(repository_obj, dict) else base_repo
    return PullRequestEvent(
        event_name=name,
        action=action,
        owner=owner,
        repo=repo,
        number=number,
        base_sha=_sha(base, "pull_request.base"),
        head_sha=_sha(head, "pull_request.head"),
        base_ref=_text(base, "ref", "pull_request.base"),
        head_repo=head_name,
        clone_url=_text(clone_source, "clone_url", "repository"),
    )


def _object(parent: dict[str, Any], key: str) -> dict[str, Any]:
    value = parent.get(key)
    if not isinstance(value, dict):
        raise _Malformed(f"it has no `{key}` object")
    return value


def _text(parent: dict[str, Any], key: str, where: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _Malformed(f"{where}.{key} is missing")
    return value.strip()


def _sha(side: dict[str, Any], where: str) -> str:
    sha = _text(side, "sha", where).lower()
    if len(sha) not in (40, 64) or any(c not in "0123456789abcdef" for c in sha):
        raise _Malformed(f"{where}.sha {sha!r} is not a commit id")
    return sha


def read_token(env: Mapping[str, str]) -> str | None:
    """The token the step publishes with: its `token` input, else GITHUB_TOKEN; None if neither.

    It is only ever read from the environment: never from the command line (visible
    in the process list) and never written anywhere."""
    for name in TOKEN_VARIABLES:
        value = env.get(name, "").strip()
        if value:
            return value
    return None
