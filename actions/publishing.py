"""Publishing from a workflow: the App's check run and review, through the step's token.

`GitHubChannel` wraps `bot.publish.Publisher`, so a pull request gets the same
check run (summary, evidence, annotations, conclusion) and the same review
(```suggestion comments for proven fixes only, deduplicated across pushes) from
the Action as from the App. Unlike the App's worker, a workflow step cannot be
retried by a queue, so nothing here raises a GitHub error: a failure is kept as
`problem` (one readable line, no token) and the caller falls back to the job
summary and workflow-command annotations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC

import github
from github import Auth

from provenfix.actions.event import PullRequestEvent
from provenfix.bot.github_api import USER_AGENT, GitHubError, RateLimited, RetryPolicy, Unauthorized
from provenfix.bot.publish import Publisher, PublishResult
from provenfix.jobs.progress import ProgressEvent, Stage
from provenfix.jobs.report import Report

FORBIDDEN_HINT = (
    "give the job `permissions: checks: write` and `pull-requests: write`; on a pull request "
    "from a fork the workflow's token is read-only whatever the workflow asks for"
)


def github_client(token: str, api_url: str) -> github.Github:
    """A client with the App's retry policy (5xx, 429, short rate limits) and request spacing."""
    return github.Github(
        auth=Auth.Token(token),
        base_url=api_url.rstrip("/"),
        user_agent=USER_AGENT,
        timeout=15,
        per_page=100,
        retry=RetryPolicy().build(),
        seconds_between_requests=0.25,
        seconds_between_writes=1.0,
    )


def describe(exc: GitHubError) -> str:
    """One line that says what GitHub refused and what to do about it."""
    if isinstance(exc, RateLimited):
        when = f"; it resets at {exc.reset_at.astimezone(UTC):%H:%M:%S} UTC" if exc.reset_at else ""
        return f"{exc}{when}"
    if isinstance(exc, Unauthorized):
        return f"{exc}: check the `token` input (default `${{{{ github.token }}}}`)"
    if exc.status == 403:
        return f"{exc}: {FORBIDDEN_HINT}"
    return str(exc)


class GitHubChannel:
    """One pull request's check run and review, or the reason they could not be posted."""

    def __init__(
        self,
        client: github.Github,
        event: PullRequestEvent,
        *,
        max_suggestions: int,
        bot_login: str | None,
        clean: Callable[[str], str],
    ) -> None:
        self.publisher = Publisher(
            client,
            event,  # a PullRequestRef
            max_suggestions=max_suggestions,
            bot_login=bot_login,
        )
        self._clean = clean
        self.check_run_id: int | None = None
        self.problem: str | None = None
        self.progress_problem: str | None = None
        self._stage: Stage | None = None

    def start(self) -> bool:
        """Create the check run, in progress; False (and `problem`) when GitHub refused."""
        try:
            self.check_run_id = self.publisher.start()
        except GitHubError as exc:
            self.problem = self._clean(f"the check run could not be created: {describe(exc)}")
            return False
        return True

    def progress(self, event: ProgressEvent) -> None:
        """Show a stage in the check run: the first message of each stage, best effort."""
        stage = event.stage
        if self.check_run_id is None or self.progress_problem is not None or stage == self._stage:
            return
        self._stage = stage
        try:
            self.publisher.progress(self.check_run_id, str(event))
        except GitHubError as exc:  # cosmetic: never fail an analysis over it
            self.progress_problem = self._clean(describe(exc))

    def finish(self, report: Report, config_errors: Sequence[str]) -> PublishResult | None:
        """Post the review and complete the check run; None (and `problem`) on failure."""
        if self.check_run_id is None:
            return None
        try:
            return self.publisher.finish(self.check_run_id, report, config_errors=config_errors)
        except GitHubError as exc:
            self.problem = self._clean(f"the results could not be posted: {describe(exc)}")
        self.fail(self.problem)
        return None

    def fail(self, reason: str) -> None:
        """Complete the check run as `neutral` with `reason`; best effort."""
        if self.check_run_id is None:
            return
        try:
            self.publisher.fail(self.check_run_id, self._clean(reason))
        except GitHubError as exc:
            self.problem = self.problem or self._clean(describe(exc))
