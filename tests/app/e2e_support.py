"""Shared pieces of the end-to-end tests (the App against the GitHub stand-in): the
`stats` repository whose pull request brings one problem the bundled rules fix,
and helpers to run the jobs on a real rq worker."""

from __future__ import annotations

from dataclasses import replace

from rq import Queue, Worker

from bot.github_api import GitHubApp
from bot.job_context import JobContext, context_from_env

BASE = """def mean(values):
    total = 0
    for v in values:
        total = total + v
    return total / len(values)


def is_missing(value):
    return value is None
"""
TESTS = """from stats import is_missing, mean


def test_mean():
    assert mean([1, 2, 3]) == 2


def test_missing():
    assert is_missing(None) and not is_missing(0)
"""
RULE = "comparison-to-none-eq"
CONFIG = ".github/provenfix.yml"
HEAD = BASE.replace("    return value is None\n", "    result = value == None\n    return result\n")


def fast_context(env: dict[str, str], github_app: GitHubApp) -> JobContext:
    """The worker's context with tests/conftest.py's GitHubApp: no pauses between requests
    (GitHub asks for them; the stand-in does not) and short retry waits."""
    return replace(context_from_env(env), github=github_app)


def work(queue: Queue) -> None:
    """A real rq worker in burst mode: every job runs in a forked work horse."""
    Worker([queue], connection=queue.connection).work(burst=True)
