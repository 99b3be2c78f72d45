"""The stand-in's records: what it stores about repositories, pull requests, tokens and
check runs, what it records of each request, and the error it answers with."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

Json = Any
Values = dict[str, Any]
Answer = tuple[int, Json, dict[str, str]]
DOCS = "https://docs.github.com/rest"
EXAMPLE_REPO = "octocat/Hello-World"
MAX_PER_PAGE = 100


def now_iso(delta: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An error answer of the stand-in (GitHub's status and body)."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
        if errors is not None:
            self.body["errors"] = errors


@dataclass(frozen=True)
class Violation:
    """A request (or a stand-in response) that breaks the contract."""

    method: str
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}: {self.problem}"


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    body: Json
    operation_id: str | None
    status: int = 0
    auth: str = "none"  # jwt, token, basic, none
    at: float = field(default_factory=time.time)  # when it arrived (epoch seconds)


@dataclass
class Injection:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    match: re.Pattern[str] | None


@dataclass
class RepoRecord:
    owner: str
    name: str
    path: Path
    default_branch: str
    id: int

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class PullRecord:
    repo: RepoRecord
    number: int
    base: str  # branch names
    head: str
    id: int
    title: str
    body: str | None
    created_at: str
    author: str
    state: str = "open"
    fork_owner: str | None = None  # the head lives in this account's fork


@dataclass
class TokenRecord:
    token: str
    installation_id: int
    expires_at: datetime
    permissions: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class UserTokenRecord:
    """A user access token (`ghu_…`) the OAuth web flow issued for a GitHub App."""

    token: str
    login: str
    installation_ids: tuple[int, ...]
    expires_at: datetime


@dataclass(frozen=True)
class OAuthGrant:
    """A code of the OAuth web flow, for one user, until exchanged (once) or expired."""

    code: str
    login: str
    installation_ids: tuple[int, ...]
    redirect_uri: str
    expires_at: datetime


@dataclass
class Stored:
    """A stored API object of one pull request or repository."""

    key: tuple[str, str, int]  # owner, repo, pull number (0: repository-wide)
    data: dict[str, Any]


@dataclass
class CheckRunView:
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    title: str | None
    summary: str | None
    text: str | None
    annotations: list[dict[str, Any]]
    updates: int  # PATCH requests received
    external_id: str = ""
    actions: list[dict[str, Any]] = field(default_factory=list)  # the buttons, as last set


@dataclass
class CheckRunRecord:
    """A check run as stored: GitHub's object, and what is kept aside."""

    key: tuple[str, str, int]
    data: dict[str, Any]
    annotations: list[dict[str, Any]] = field(default_factory=list)
    updates: int = 0
    actions: list[dict[str, Any]] = field(default_factory=list)
