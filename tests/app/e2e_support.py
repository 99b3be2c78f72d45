"""Shared pieces of the end-to-end tests (the App against the GitHub stand-in): the
repository configuration's path and helpers to run the jobs on a real rq worker (the
`stats` repository itself is tests/stats_repo.py)."""

from __future__ import annotations

from dataclasses import replace

from rq import Queue, Worker

from bot.github_api import GitHubApp
from bot.job_context import JobContext, context_from_settings
from bot.settings import load_settings

CONFIG = ".github/provenfix.yml"


def fast_context(env: dict[str, str], github_app: GitHubApp) -> JobContext:
    """The worker's context with tests/conftest.py's GitHubApp: no pauses between requests
    (GitHub asks for them; the stand-in does not) and short retry waits."""
    return replace(context_from_settings(load_settings(env)), github=github_app)


def work(queue: Queue) -> None:
    """A real rq worker in burst mode: every job runs in a forked work horse."""
    Worker([queue], connection=queue.connection).work(burst=True)
