"""How a job's failures are told apart: retried (`TransientError`) or final (`JobFailed`).

Transient GitHub and network failures raise `TransientError`, which rq retries
(bot.queue); anything else becomes a `JobFailed` with a readable, redacted
reason, lands in rq's FailedJobRegistry and is shown on the check run.
"""

from __future__ import annotations

import requests
from github import GithubException
from urllib3.exceptions import MaxRetryError

from provenfix.bot.github_api import GitHubError, GitHubUnavailable, RateLimited, redact, translate
from provenfix.jobs.errors import ProvenFixError

__all__ = ["NETWORK_HINTS", "JobFailed", "classify_failure"]

# What git prints (lower-cased) when the network, not the request, failed: worth a retry.
NETWORK_HINTS = (
    "could not resolve host",
    "failed to connect",
    "connection timed out",
    "connection reset",
    "operation timed out",
    "early eof",
    "rpc failed",
    "the requested url returned error: 5",
    "the requested url returned error: 429",
    "remote end hung up",
)


class TransientError(ProvenFixError):
    """A failure worth retrying: GitHub 5xx/429, a network error, a rate limit."""


class Superseded(ProvenFixError):  # a signal rather than a failure
    """A newer push or the pull request's closing replaced the running job."""


class JobFailed(ProvenFixError):
    """The job failed for a reason a retry would not change; the message says why."""


def classify_failure(exc: BaseException, doing: str) -> Exception:
    """A TransientError (retried) or a JobFailed (not retried) with a readable message.

    `doing` says what the job was doing ("reading .github/provenfix.yml on main");
    TransientError, JobFailed and Superseded come back unchanged."""
    if isinstance(exc, TransientError | JobFailed | Superseded):
        return exc
    if isinstance(exc, _redis_outages()):  # an outage: worth a retry
        return TransientError(redact(f"{doing}: Redis unavailable: {exc}"))
    github_or_network = (
        GitHubError,
        GithubException,
        requests.RequestException,
        MaxRetryError,
        ConnectionError,
        TimeoutError,
    )
    if isinstance(exc, github_or_network):
        error = translate(exc)
        text = redact(f"{doing}: {error}")
        if isinstance(error, GitHubUnavailable | RateLimited):
            return TransientError(text)
        return JobFailed(text)
    if isinstance(exc, ProvenFixError):
        return JobFailed(redact(f"{doing}: {exc}"))
    return JobFailed(redact(f"{doing}: {exc.__class__.__name__}: {exc}"))


def _redis_outages() -> tuple[type[BaseException], ...]:
    """Redis' connection and timeout errors; none where the Redis client is not installed
    (the Action's and the CLI's installs use these errors through bot.git_remote)."""
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:
        return ()
    return (RedisConnectionError, RedisTimeoutError)
