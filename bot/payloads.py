"""The fields of each webhook event the App reads, as typed models, checked before use.

bot.events parses every delivery with `parse` into the models below — exactly the
fields its handler uses; an unknown key is ignored, a wrong one is a `BadPayload`
(400, counted in /metrics by field, nothing claimed or enqueued). Handlers parse
in stages: the envelope that decides whether the delivery matters (`action`, a
check run's App), then what the chosen path needs, so a delivery that is ignored
is not refused for a field it never reads. Every check is met by what GitHub
sends; the list is in docs/github-app.md ("What a delivery must hold").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
)

MAX_ID = 2**53 - 1  # what JSON numbers carry exactly
MAX_NUMBER = 2**31 - 1
MAX_COMMENT_CHARS = 262_144  # GitHub stops a comment at 65,536


class PayloadRejected(ValueError):
    """A verified delivery that cannot be handled; `reason` (and `field`) label the metric."""

    def __init__(self, reason: str, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.field = field


class BadPayload(PayloadRejected):
    """A field the handler uses is missing or not what GitHub sends."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__("invalid_payload", message, field=field)


# --- the GitHub host ---------------------------------------------------------------------


@dataclass(frozen=True)
class GitHubHosts:
    """Where the App's GitHub lives: clone URLs must be on `web_url`, API URLs under
    `api_url`. https://api.github.com → github.com; https://HOST/api/v3 (Enterprise
    Server) → HOST; https://api.SUB.ghe.com → SUB.ghe.com; any other API URL (a proxy, a
    stand-in) serves both."""

    api_url: str
    web_url: str

    @classmethod
    def from_api_url(cls, api_url: str) -> GitHubHosts:
        parts = urlsplit(api_url.rstrip("/"))
        scheme, host, path = parts.scheme.lower(), parts.netloc.lower(), parts.path
        if path.endswith("/api/v3"):
            web = f"{scheme}://{host}{path[: -len('/api/v3')]}"
        elif host.startswith("api.") and not path:
            web = f"{scheme}://{host[len('api.') :]}"
        else:
            web = f"{scheme}://{host}{path}"
        return cls(api_url=f"{scheme}://{host}{path}", web_url=web)

    def clone_url(self, url: str) -> str | None:
        """`url` rebased onto `web_url` (GitHub's older payloads say http://), or None when it
        is not a URL of a path on that host."""
        return _rebase(url, self.web_url)


_URL_PATH = re.compile(r"(?:/[A-Za-z0-9_.~-]+)+/?")


def _rebase(url: str, base: str) -> str | None:
    """`base` + the path of `url`, when `url` is an http(s) URL below `base` whose path is
    plain segments: no userinfo, port or host of its own, no query, no fragment, no `..`,
    no percent escapes, no spaces. The scheme is `base`'s: a payload cannot downgrade it."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return None
    where = base.partition("://")[2]
    if rest[: len(where)].lower() != where.lower() or rest[len(where) : len(where) + 1] != "/":
        return None
    path = rest[len(where) :]
    if not _URL_PATH.fullmatch(path) or any(part in (".", "..") for part in path.split("/")):
        return None
    return base + path


def _url_check(kind: str, base_of: Callable[[GitHubHosts], str]) -> AfterValidator:
    def check(value: str, info: ValidationInfo) -> str:
        if not isinstance(info.context, GitHubHosts):
            raise TypeError("parse() passes the GitHubHosts as the context")
        rebased = _rebase(value, base_of(info.context))
        if rebased is None:
            raise ValueError(f"not a {kind} URL under {base_of(info.context)}/")
        return rebased

    return AfterValidator(check)


# --- field types ---------------------------------------------------------------------------


def _matching(pattern: str, what: str) -> AfterValidator:
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise ValueError(f"not {what}")
        return value

    return AfterValidator(check)


_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//|/\.")


def _branch(value: str) -> str:
    if value.startswith("-"):
        raise ValueError("a branch name cannot start with '-'")
    if (
        not value.isprintable()
        or _REF_FORBIDDEN.search(value)
        or value.startswith(("/", "."))
        or value.endswith(("/", ".", ".lock"))
        or ".lock/" in value
        or value == "@"
    ):
        raise ValueError("not a valid branch name (git check-ref-format)")
    return value


def _text(max_length: int) -> StringConstraints:
    return StringConstraints(strict=True, min_length=1, max_length=max_length)


_LOGIN = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}"

Id = Annotated[int, Field(strict=True, ge=1, le=MAX_ID)]
PullNumber = Annotated[int, Field(strict=True, ge=1, le=MAX_NUMBER)]
Sha = Annotated[
    str, _text(64), _matching(r"[0-9a-f]{40}|[0-9a-f]{64}", "a 40- or 64-hex-digit commit sha")
]
Branch = Annotated[str, _text(255), AfterValidator(_branch)]
FullName = Annotated[
    str,
    _text(201),
    _matching(rf"{_LOGIN}/(?!\.\.?$)[A-Za-z0-9_.-]{{1,100}}", "an OWNER/NAME repository name"),
]
Login = Annotated[str, _text(106), _matching(rf"{_LOGIN}(?:\[bot\])?", "a GitHub login")]
Slug = Annotated[str, _text(100), _matching(_LOGIN, "an App slug")]
Kind = Annotated[str, _text(32), _matching(r"[A-Za-z]+", "a word")]
Action = Annotated[str, _text(64), _matching(r"[a-z][a-z_]*", "an action name")]
Association = Annotated[str, _text(64), _matching(r"[A-Z][A-Z_]*", "an author association")]
_ISO_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
Timestamp = Annotated[
    str, _text(40), _matching(rf"{_ISO_TIME}(?:Z|[+-][0-9]{{2}}:[0-9]{{2}})", "an ISO 8601 time")
]
Identifier = Annotated[str, StringConstraints(strict=True, max_length=100)]
ExternalId = Annotated[str, StringConstraints(strict=True, max_length=512)]
CommentBody = Annotated[str, StringConstraints(strict=True, max_length=MAX_COMMENT_CHARS)]
Zen = Annotated[str, StringConstraints(strict=True, max_length=1000)]
CloneUrl = Annotated[str, _text(2048), _url_check("clone", lambda hosts: hosts.web_url)]
ApiUrl = Annotated[str, _text(2048), _url_check("API", lambda hosts: hosts.api_url)]


# --- the models ------------------------------------------------------------------------------


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", hide_input_in_errors=True)


class Envelope(Model):
    action: Action


class IdOnly(Model):
    id: Id


class Repository(Model):
    id: Id
    full_name: FullName
    clone_url: CloneUrl
    default_branch: Branch

    @property
    def owner(self) -> str:
        return self.full_name.partition("/")[0]

    @property
    def name(self) -> str:
        return self.full_name.partition("/")[2]


class Sender(Model):
    login: Login
    id: Id
    type: Kind


# pull_request


class PullRequestNumber(Model):
    number: PullNumber


class ClosedPullRequest(Model):
    number: PullNumber
    merged: bool | None = Field(default=None, strict=True)


class PullRequestClosing(Model):
    """closed / converted_to_draft: which pull request's job to cancel (and, once closed,
    whose open suggestions to settle: bot.review_feedback)."""

    pull_request: ClosedPullRequest
    repository: Repository
    installation: IdOnly | None = None


class PullRequestChanges(Model):
    base: dict[str, object] | None = None  # in an `edited` delivery: the base branch changed


class PullRequestEdit(Model):
    changes: PullRequestChanges | None = None


class Commit(Model):
    sha: Sha


class BaseBranch(Model):
    sha: Sha
    ref: Branch


class PullRequest(Model):
    number: PullNumber
    state: Literal["open", "closed"]
    draft: bool = Field(default=False, strict=True)
    head: Commit
    base: BaseBranch
    updated_at: Timestamp | None = None


class PullRequestEvent(Model):
    pull_request: PullRequest
    repository: Repository
    installation: IdOnly | None = None
    sender: Sender | None = None


# check_run


class CheckRunOwner(Model):
    app: IdOnly


class CheckRunOrigin(Model):
    """Whose check run: only the App's own are read further."""

    check_run: CheckRunOwner


class CheckRunApp(Model):
    id: Id
    slug: Slug | None = None  # what "Apply proven fixes" needs (the commit's author)


class CheckRunBase(Model):
    sha: Sha
    ref: Branch
    repo: IdOnly


class CheckRunPull(Model):
    number: PullNumber
    head: Commit
    base: CheckRunBase


class CheckRun(Model):
    id: Id
    head_sha: Sha
    external_id: ExternalId | None = None
    app: CheckRunApp
    pull_requests: tuple[CheckRunPull, ...] = Field(max_length=100)


class RequestedAction(Model):
    identifier: Identifier


class CheckRunEvent(Model):
    check_run: CheckRun
    requested_action: RequestedAction | None = None
    repository: Repository
    installation: IdOnly | None = None
    sender: Sender | None = None


# issue_comment


class CommentText(Model):
    body: CommentBody | None = None


class CommentEnvelope(Model):
    """What decides whether a comment is a command."""

    comment: CommentText


class Comment(Model):
    id: Id
    body: CommentBody | None = None
    user: Sender | None = None
    author_association: Association


class PullRequestLink(Model):
    url: ApiUrl


class Issue(Model):
    number: PullNumber
    pull_request: PullRequestLink | None = None


class IssueCommentEvent(Model):
    comment: Comment
    issue: Issue
    repository: Repository
    installation: IdOnly | None = None
    sender: Sender | None = None


# installation, installation_repositories


class Account(Model):
    login: Login | None = None  # an enterprise account has a slug instead
    type: Kind | None = None


class Installation(Model):
    id: Id
    account: Account | None = None
    repository_selection: Literal["all", "selected"] | None = None


class InstalledRepository(Model):
    id: Id
    full_name: FullName
    private: bool | None = Field(default=None, strict=True)


class InstallationEvent(Model):
    installation: Installation
    repositories: tuple[InstalledRepository, ...] | None = None


class InstallationRepositoriesEvent(Model):
    installation: Installation
    repositories_added: tuple[InstalledRepository, ...] = ()
    repositories_removed: tuple[InstalledRepository, ...] = ()


class Ping(Model):
    zen: Zen | None = None


# --- parsing ---------------------------------------------------------------------------------

M = TypeVar("M", bound=Model)


def parse(model: type[M], payload: Mapping[str, Any], hosts: GitHubHosts) -> M:
    """`payload` as `model`, or a BadPayload naming the first wrong field in one line."""
    try:
        return model.model_validate(payload, context=hosts)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        raise BadPayload(_one_line(error), field=_field(error["loc"])) from None


def _field(loc: tuple[int | str, ...]) -> str:
    """The metric's label: a path through the models, list indices as `*` (bounded)."""
    return ".".join("*" if isinstance(part, int) else str(part) for part in loc)[:120]


def _one_line(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    where = ".".join(str(part) for part in error["loc"]) or "(payload)"
    line = f"{where}: {message}"
    return "".join(c if c.isprintable() else "?" for c in line)[:300]
