"""GitHub App authentication and the API client the bot talks to GitHub with.

`GitHubApp` signs its JWT with the app's private key and mints installation
tokens through PyGithub; `installation_client` hands out a `github.Github` that
retries what is worth retrying (5xx, 429, secondary rate limits, a primary rate
limit that resets soon) with exponential backoff, and spaces its requests out
the way GitHub asks integrators to. A POST is not repeated after a 5xx (GitHub
may have done it; the job's retry, which deduplicates, is the safe way).
Nothing here touches the network before the first API call.

Errors reach callers as the named exceptions below (`github_errors()` turns
PyGithub's and requests' exceptions into them). Tokens never reach a log:
`install_log_redaction()` (called by `GitHubApp`) rewrites every log record
that carries an installation token, a JWT, an Authorization header or a URL
with `x-access-token:<token>@` in it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import github
import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from github import Auth, GithubException, GithubIntegration, GithubRetry
from github.GithubException import RateLimitExceededException
from urllib3 import Retry
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.response import HTTPResponse

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.github.com"
USER_AGENT = "ProvenFix"


# ---------------------------------------------------------------------------- errors


class GitHubError(Exception):
    """GitHub refused or failed a request (after the client's retries)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GitHubUnavailable(GitHubError):
    """GitHub did not answer, or answered 5xx, through every retry."""


class RateLimited(GitHubError):
    """A rate limit that does not reset soon enough to wait for in-process."""

    def __init__(
        self, message: str, *, reset_at: datetime | None, status: int | None = None
    ) -> None:
        super().__init__(message, status=status)
        self.reset_at = reset_at


class NotFound(GitHubError):
    """404: the object is gone, or the installation cannot see it."""


class Unauthorized(GitHubError):
    """401: the JWT or installation token was refused."""


class Unprocessable(GitHubError):
    """422: GitHub rejected the request's content (for example a comment's line)."""

    def __init__(self, message: str, *, errors: tuple[str, ...], status: int = 422) -> None:
        super().__init__(message, status=status)
        self.errors = errors


def translate(exc: BaseException) -> GitHubError:
    """The named exception for an error raised by PyGithub or requests."""
    if isinstance(exc, GitHubError):
        return exc
    if isinstance(exc, GithubException):
        return _from_github_exception(exc)
    if isinstance(exc, requests.exceptions.RetryError | MaxRetryError):
        return GitHubUnavailable(redact(f"GitHub kept failing: {exc}"))
    if isinstance(exc, requests.exceptions.RequestException | ConnectionError | TimeoutError):
        return GitHubUnavailable(redact(f"GitHub unreachable: {exc.__class__.__name__}: {exc}"))
    return GitHubError(redact(f"{exc.__class__.__name__}: {exc}"))


@contextmanager
def github_errors() -> Iterator[None]:
    """Re-raise PyGithub's and requests' exceptions as the named ones above."""
    try:
        yield
    except GitHubError:
        raise
    except (GithubException, requests.exceptions.RequestException, MaxRetryError) as exc:
        raise translate(exc) from exc
    except (ConnectionError, TimeoutError) as exc:
        raise translate(exc) from exc


def _from_github_exception(exc: GithubException) -> GitHubError:
    status = exc.status
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    data = exc.data if isinstance(exc.data, dict) else {}
    message = redact(str(data.get("message") or exc.message or f"HTTP {status}"))
    rate_limited = isinstance(exc, RateLimitExceededException) or status == 429
    if status == 403 and ("retry-after" in headers or headers.get("x-ratelimit-remaining") == "0"):
        rate_limited = True
    if rate_limited:
        return RateLimited(
            f"GitHub rate limit: {message}", reset_at=_reset_at(headers), status=status
        )
    if status == 401:
        return Unauthorized(f"GitHub refused the credentials: {message}", status=status)
    if status == 404:
        return NotFound(f"not found on GitHub: {message}", status=status)
    if status == 422:
        errors = tuple(
            redact(e if isinstance(e, str) else str(e.get("message") or e.get("code") or e))
            for e in data.get("errors", [])
        )
        detail = f"{message}: {'; '.join(errors)}" if errors else message
        return Unprocessable(f"GitHub rejected the request: {detail}", errors=errors)
    if status is not None and status >= 500:
        return GitHubUnavailable(f"GitHub answered {status}: {message}", status=status)
    return GitHubError(f"GitHub answered {status}: {message}", status=status)


def _reset_at(headers: dict[str, Any]) -> datetime | None:
    retry_after = str(headers.get("retry-after", ""))
    if retry_after.isdigit():
        return datetime.now(UTC) + timedelta(seconds=int(retry_after))
    reset = str(headers.get("x-ratelimit-reset", ""))
    if reset.isdigit():
        return datetime.fromtimestamp(int(reset), UTC)
    return None


# ---------------------------------------------------------------------------- redaction

_SECRETS = [
    (re.compile(r"\b(gh[pousr]_|github_pat_)[A-Za-z0-9_]{8,}"), r"\1***"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+"), "***jwt***"),
    (re.compile(r"(?i)\b(bearer|token|basic)(\s+)[A-Za-z0-9_.~+/=-]{20,}"), r"\1\2***"),
    (re.compile(r"(?i)(x-access-token:)[^@\s/]+@"), r"\1***@"),
    (re.compile(r"""(?i)(["']token["']\s*:\s*["'])[^"']+"""), r"\1***"),
]


def redact(text: str) -> str:
    """`text` with installation tokens, JWTs and credentials replaced by ***."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A handler or logger filter that redacts the formatted message (and traceback)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


def _redact_record(record: logging.LogRecord) -> None:
    if getattr(record, "_provenfix_redacted", False):
        return
    try:
        message = record.getMessage()
    except (TypeError, ValueError):  # a broken format string: leave it to logging
        return
    record.msg, record.args = redact(message), None
    if record.exc_info and not record.exc_text:
        record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
    elif record.exc_text:
        record.exc_text = redact(record.exc_text)
    record._provenfix_redacted = True


_installed = False


def install_log_redaction() -> None:
    """Redact every log record of this process as it is created (idempotent).

    A log record factory sees the records of every logger (PyGithub logs request
    and response bodies at DEBUG, the token response among them), whichever
    handler later formats them. Handlers set up elsewhere can also take a
    `RedactingFilter`.
    """
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        _redact_record(record)
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


# ---------------------------------------------------------------------------- retries


class _Retry(GithubRetry):
    """GithubRetry that never sleeps long and never repeats a POST GitHub may have done.

    A Retry-After longer than `max_rate_limit_wait` raises at once (RateLimited for
    the caller) instead of sleeping. A POST that got a 5xx is not sent again (GitHub
    may have created the review or comment before failing; the job's own retry,
    which deduplicates, is the safe way), except minting a token.
    """

    def increment(  # type: ignore[override]
        self,
        method: str | None = None,
        url: str | None = None,
        response: HTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Retry:
        if response is not None and response.status in (403, 429):
            retry_after = str(response.headers.get("Retry-After", ""))
            limit = self.max_rate_limit_wait
            if retry_after.isdigit() and limit is not None and int(retry_after) > limit:
                raise RateLimitExceededException(
                    response.status,
                    {"message": f"GitHub asks to retry after {retry_after} s"},
                    dict(response.headers),
                )
        if (
            response is not None
            and response.status >= 500
            and method == "POST"
            and not (url or "").split("?")[0].endswith("/access_tokens")
        ):
            # with raise_on_status=False urllib3 hands this response to PyGithub
            reason = ResponseError(f"POST answered {response.status}")
            raise MaxRetryError(_pool, url or "", reason)  # type: ignore[arg-type]
        return super().increment(method, url, response, error, _pool, _stacktrace)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard the client tries before an error reaches the caller."""

    total: int = 5
    backoff_factor: float = 1.0  # 0, 2, 4, 8… seconds between attempts
    backoff_max: float = 60.0
    secondary_rate_wait: float = 60.0  # a secondary rate limit without Retry-After
    max_rate_limit_wait: float = 120.0  # a longer wait raises RateLimited instead

    def build(self) -> GithubRetry:
        return _Retry(
            total=self.total,
            backoff_factor=self.backoff_factor,
            backoff_max=self.backoff_max,
            secondary_rate_wait=self.secondary_rate_wait,
            max_rate_limit_wait=self.max_rate_limit_wait,
            status_forcelist=[429, *range(500, 600)],
            # PATCH too: the bot's updates (check runs, comment edits) are idempotent
            allowed_methods=frozenset({"GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"}),
            # the last answer reaches PyGithub, which raises with its status and headers
            raise_on_status=False,
        )


# ---------------------------------------------------------------------------- the app


@dataclass(frozen=True)
class InstallationToken:
    """An installation access token; its repr and str never show the token."""

    token: str = field(repr=False)
    expires_at: datetime
    # what the installation granted, e.g. {"contents": "write", "checks": "write"}
    permissions: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"installation token (expires {self.expires_at:%Y-%m-%d %H:%M} UTC)"


class GitHubApp:
    """The GitHub App: a JWT signer and a factory of installation clients."""

    def __init__(
        self,
        app_id: int,
        private_key_pem: str,
        *,
        base_url: str = DEFAULT_BASE_URL,
        retry: RetryPolicy | None = None,
        seconds_between_requests: float = 0.25,
        seconds_between_writes: float = 1.0,
        timeout_s: int = 15,
        per_page: int = 100,
    ) -> None:
        install_log_redaction()
        try:
            key = load_pem_private_key(private_key_pem.encode(), password=None)
        except (ValueError, TypeError):
            raise ValueError("the GitHub App private key is not a PEM private key") from None
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("the GitHub App private key must be an RSA key")
        self.app_id = app_id
        self.base_url = base_url.rstrip("/")
        self._retry = retry or RetryPolicy()
        self._integration = GithubIntegration(
            auth=Auth.AppAuth(app_id, private_key_pem),
            base_url=self.base_url,
            timeout=timeout_s,
            user_agent=USER_AGENT,
            per_page=per_page,
            retry=self._retry.build(),
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
        )

    def __repr__(self) -> str:
        return f"GitHubApp(app_id={self.app_id}, base_url={self.base_url!r})"

    def installation_client(self, installation_id: int) -> github.Github:
        """A client acting as the installation; it mints (and renews) its token on first use."""
        return self._integration.get_github_for_installation(installation_id)

    def installation_token(self, installation_id: int) -> InstallationToken:
        """A fresh installation token (valid an hour), e.g. for cloning."""
        with github_errors():
            grant = self._integration.get_access_token(installation_id)
            granted = grant.permissions or {}
        return InstallationToken(
            str(grant.token),
            grant.expires_at,
            {str(k): str(v) for k, v in dict(granted).items()},
        )

    def app_slug(self, *, timeout_s: float | None = None) -> str:
        """The app's slug (GET /app); its comments are written by `<slug>[bot]`.

        With `timeout_s`: one attempt, no retries, answered within that time or a
        GitHubError (a worker's start-up must not wait out the retry policy)."""
        if timeout_s is None:
            with github_errors():
                return str(self._integration.get_app().slug)
        headers = {
            "Authorization": f"Bearer {self._integration.auth.create_jwt()}",
            "Accept": "application/vnd.github+json",
            "User-Agent": USER_AGENT,
        }
        try:
            response = requests.get(f"{self.base_url}/app", headers=headers, timeout=timeout_s)
            data = response.json() if response.status_code == 200 else {}
        except (requests.RequestException, ValueError) as exc:
            raise translate(exc) from exc
        if not isinstance(data, dict) or not isinstance(data.get("slug"), str):
            raise GitHubError(
                f"GET /app answered {response.status_code}", status=response.status_code
            )
        return str(data["slug"])

    def app_request(
        self, method: str, path: str, *, parameters: Mapping[str, Any] | None = None
    ) -> tuple[dict[str, Any], Any]:
        """(headers, JSON) of a request authenticated as the App itself (its JWT), e.g.
        `GET /app/hook/deliveries`; retried like every other request."""
        with github_errors():
            headers, data = self._integration.requester.requestJsonAndCheck(
                method, path, parameters=dict(parameters) if parameters else None
            )
        return dict(headers), data


def bot_login(app_slug: str) -> str:
    return f"{app_slug}[bot]"
