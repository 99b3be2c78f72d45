"""Publishing a report on a pull request: one check run, at most one review per push.

The check run carries everything: the report, where each suggestion went, the
evidence, annotations on the findings that have no proven fix on the diff, and
the reason for anything that could not be posted. Its conclusion is `failure`
when a finding has severity error, `success` when there is no finding and the
repository's configuration was valid, and `neutral` otherwise. Its `external_id`
is the job id (bot.job_requests.analysis_job_id), so a check-run event names the job.
With at least one proven fix, and when the installation may push
(`PublishOptions.apply_action`: the token has Contents: write), it offers the
"Apply proven fixes" button (bot.apply_fixes).

The review (event COMMENT, one per head commit) carries up to `max_suggestions`
comments, best reliability first. Each is a ```suggestion block over exactly the
lines the fix replaces, and only for a suggestion the tests proved
(`Suggestion.committable`): an unproven fix is never offered as a one-click
change. A suggestion whose lines do not lie inside one hunk of the pull
request's diff cannot be anchored there; it goes to the check run instead, so
GitHub never has to answer 422. If it does anyway, the comments are posted one
by one and only the rejected ones move to the check run.

Comments are recognised as ours by their author, the App's bot account
(`bot_login`, `<slug>[bot]`, from `GET /app`), and by their hidden fingerprint
(bot.review_comments). On later pushes a finding that already has a live comment
gets no second one; a comment whose findings are gone is edited to say so ("no
longer reported at <sha>"), or "applied in <sha>" when the head now holds the
suggested text where the comment was. When there is nothing to post, the bot
posts no review at all.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import github
from github.GithubObject import NotSet
from github.Repository import Repository

from provenfix.bot.acceptance import AcceptanceBook
from provenfix.bot.check_summary import (
    ANNOTATIONS_PER_REQUEST,
    MAX_ANNOTATIONS,
    Placement,
    annotations_for,
    apply_action,
    check_title,
    conclusion_for,
    render_check_summary,
)
from provenfix.bot.github_api import (
    GitHubError,
    GitHubUnavailable,
    RateLimited,
    github_errors,
    redact,
)
from provenfix.bot.job_requests import PullRequestRef
from provenfix.bot.review import PostedComment, ReviewOutcome, ReviewWriter
from provenfix.jobs.report import Report

__all__ = ["PostedComment", "PublishOptions", "PublishResult", "Publisher", "PullRequestRef"]

logger = logging.getLogger(__name__)

_PROGRESS_LINES = 20


@dataclass(frozen=True)
class PublishOptions:
    """What a job tells its publisher factory beyond the pull request (bot.rq_jobs)."""

    max_suggestions: int = 10
    apply_action: bool = False  # offer "Apply proven fixes": the installation may push
    acceptance: AcceptanceBook | None = None  # what maintainers accepted (bot.outcomes)


@dataclass(frozen=True)
class PublishResult:
    check_run_id: int
    conclusion: str
    review_id: int | None  # None: no review this time (nothing new, or it failed)
    posted: tuple[PostedComment, ...]
    already_posted: tuple[str, ...]  # suggestion ids whose findings already had a comment
    not_posted: dict[str, str]  # proven suggestion id -> why it is only in the check run
    outdated: tuple[int, ...]  # comment ids marked "no longer reported"
    applied: tuple[int, ...]  # comment ids marked "applied"
    annotations: int
    errors: tuple[str, ...] = ()  # GitHub failures worked around (also logged)
    actions: tuple[str, ...] = ()  # identifiers of the check run's buttons
    disliked: tuple[tuple[int, str], ...] = ()  # (comment id, who reacted 👎)


class Publisher:
    """Posts one analysis of `pr` (at `pr.head_sha`) through an installation client."""

    def __init__(
        self,
        client: github.Github,
        pr: PullRequestRef,
        *,
        bot_login: str | None,
        max_suggestions: int = 10,
        external_id: str = "",
        apply_action: bool = False,
        app_name: str = "ProvenFix",
        acceptance: AcceptanceBook | None = None,
    ) -> None:
        self.pr = pr
        self.acceptance = acceptance
        self.max_suggestions = max_suggestions
        self.app_name = app_name
        # The account our comments are written by: `<slug>[bot]` for the App (GET /app).
        # None only where the caller says so explicitly (the Action's `bot-login: "*"`):
        # then any Bot account's fingerprinted comment counts as ours.
        self.bot_login = bot_login
        self.external_id = external_id  # the job id
        self.apply_action = apply_action  # offer "Apply proven fixes" (Contents: write)
        # lazy: objects built from ids and URLs cost no request until they are read
        self._gh = client.withLazy(True)
        self._repo: Repository = self._gh.get_repo(pr.full_name)
        self._progress: list[str] = []

    # ------------------------------------------------------------------ check run

    def start(self) -> int:
        """Create the check run, in progress, on the head commit; its id."""
        with github_errors():
            run = self._repo.create_check_run(
                name=self.app_name,
                head_sha=self.pr.head_sha,
                external_id=self.external_id or NotSet,
                status="in_progress",
                started_at=datetime.now(UTC),
                output={
                    "title": f"{self.app_name} is analyzing this change",
                    "summary": f"Analyzing `{self.pr.head_sha[:10]}`…",
                },
            )
            return int(run.id)

    def progress(self, check_run_id: int, text: str) -> None:
        """Show a stage update in the running check run's summary."""
        self._progress = [*self._progress, _one_line(redact(text))][-_PROGRESS_LINES:]
        summary = f"Analyzing `{self.pr.head_sha[:10]}`…\n\n" + "\n".join(
            f"- {line}" for line in self._progress
        )
        with github_errors():
            self._repo.get_check_run(check_run_id).edit(
                status="in_progress",
                output={"title": f"{self.app_name} is analyzing this change", "summary": summary},
            )

    def fail(self, check_run_id: int, reason: str, *, conclusion: str = "neutral") -> None:
        """Complete the check run for an analysis that could not finish.

        `neutral` (the default) does not block a merge on the bot's own failure;
        pass `failure` where it should."""
        if conclusion not in ("failure", "neutral", "cancelled"):
            raise ValueError(f"not a failure conclusion: {conclusion}")
        reason = redact(reason)
        with github_errors():
            self._repo.get_check_run(check_run_id).edit(
                conclusion=conclusion,
                completed_at=datetime.now(UTC),
                output={
                    "title": f"{self.app_name} could not finish",
                    "summary": f"The analysis of `{self.pr.head_sha[:10]}` stopped:\n\n"
                    f"> {_one_line(reason)[:2000]}\n",
                },
            )

    def finish(
        self, check_run_id: int, report: Report, config_errors: Sequence[str] = ()
    ) -> PublishResult:
        """Post the review (if there is anything new) and complete the check run.

        GitHubUnavailable and RateLimited propagate (the check run stays in progress)
        so that the job is retried; a retry never posts a suggestion twice. Other
        GitHub errors on the review are worked around: the suggestions move to the
        check run, which says what happened."""
        try:
            outcome = ReviewWriter(
                self._repo,
                self.pr,
                bot_login=self.bot_login,
                max_suggestions=self.max_suggestions,
                app_name=self.app_name,
                acceptance=self.acceptance,
            ).publish(report)
        except (GitHubUnavailable, RateLimited):
            raise
        except GitHubError as exc:
            logger.warning("review on %s#%d not posted: %s", self.pr.full_name, self.pr.number, exc)
            outcome = ReviewOutcome(errors=[f"The review could not be posted: {exc}"])
            for s in report.suggestions:
                if s.committable:
                    outcome.not_posted[s.id] = "the review could not be posted (see the note above)"
        placement = Placement(
            posted=outcome.posted_urls,
            already_posted=outcome.already,
            not_posted=outcome.not_posted,
        )
        conclusion = conclusion_for(report, config_errors)
        summary = render_check_summary(
            report, placement, config_errors=config_errors, notes=outcome.errors
        )
        shown = {
            fid
            for s in report.suggestions
            if s.id in outcome.posted_urls or s.id in outcome.already
            for fid in s.finding_ids
        }
        annotations = annotations_for(report, shown)
        actions = (
            [apply_action()]
            if self.apply_action and report.suggestions_validated and not outcome.head_moved
            else []
        )
        self._complete(
            check_run_id,
            check_title(report, placement),
            summary,
            conclusion,
            annotations,
            actions,
        )
        return PublishResult(
            check_run_id=check_run_id,
            conclusion=conclusion,
            review_id=outcome.review_ids[0] if outcome.review_ids else None,
            posted=tuple(outcome.posted),
            already_posted=tuple(outcome.already),
            not_posted=dict(outcome.not_posted),
            outdated=tuple(outcome.outdated),
            applied=tuple(outcome.applied),
            annotations=min(len(annotations), MAX_ANNOTATIONS),
            errors=tuple(outcome.errors),
            actions=tuple(a["identifier"] for a in actions),
            disliked=tuple(outcome.disliked.items()),
        )

    def _complete(
        self,
        check_run_id: int,
        title: str,
        summary: str,
        conclusion: str,
        annotations: Sequence[dict[str, Any]],
        actions: list[dict[str, str]],
    ) -> None:
        run = self._repo.get_check_run(check_run_id)
        batches = [
            list(annotations[i : i + ANNOTATIONS_PER_REQUEST])
            for i in range(0, min(len(annotations), MAX_ANNOTATIONS), ANNOTATIONS_PER_REQUEST)
        ] or [[]]
        with github_errors():
            # GitHub appends each update's annotations to the run's
            for batch in batches[:-1]:
                run.edit(output={"title": title, "summary": summary, "annotations": batch})
            output: dict[str, Any] = {"title": title, "summary": summary}
            if batches[-1]:
                output["annotations"] = batches[-1]
            run.edit(
                conclusion=conclusion,
                completed_at=datetime.now(UTC),
                output=output,
                actions=actions,
            )


# ---------------------------------------------------------------------------- helpers


def _one_line(text: str) -> str:
    return " ".join(text.split())
