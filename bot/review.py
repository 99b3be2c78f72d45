"""The review half of publishing (bot.publish): one review per head commit with the
proven fixes as ```suggestion comments, and the retiring of earlier comments whose
findings are gone. The comment texts are in bot.review_comments."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from github.PullRequest import PullRequest, ReviewComment
from github.PullRequestComment import PullRequestComment
from github.Repository import Repository

from provenfix.bot.acceptance import AcceptanceBook, SuggestionAcceptance
from provenfix.bot.github_api import (
    GitHubError,
    GitHubUnavailable,
    NotFound,
    RateLimited,
    Unprocessable,
    github_errors,
)
from provenfix.bot.job_requests import PullRequestRef
from provenfix.bot.review_comments import (
    anchor_problem,
    comment_body,
    parse_marker,
    retired_body,
    review_body,
    review_marker,
    was_applied,
)
from provenfix.jobs.diff import parse_patch
from provenfix.jobs.report import Report, Suggestion

logger = logging.getLogger(__name__)

COMMENT_LIMIT = 65_000
WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


@dataclass(frozen=True)
class PostedComment:
    suggestion_id: str
    comment_id: int | None  # None when GitHub did not list it back
    path: str
    start_line: int
    end_line: int


@dataclass(frozen=True)
class ExistingComment:
    comment: PullRequestComment
    finding_ids: frozenset[str]
    suggestion_id: str
    state: str | None  # outdated, applied, or None while current


@dataclass
class ReviewOutcome:
    """What publishing the review did, filled in as it goes (mutable on purpose: one
    writer owns it while it posts); bot.publish turns it into the frozen PublishResult."""

    review_ids: list[int] = field(default_factory=list)
    posted: list[PostedComment] = field(default_factory=list)
    posted_urls: dict[str, str] = field(default_factory=dict)
    already: dict[str, str] = field(default_factory=dict)
    not_posted: dict[str, str] = field(default_factory=dict)
    outdated: list[int] = field(default_factory=list)
    applied: list[int] = field(default_factory=list)
    disliked: dict[int, str] = field(default_factory=dict)  # comment id -> who reacted 👎
    errors: list[str] = field(default_factory=list)
    head_moved: bool = False  # the pull request's head is no longer the analyzed one


class ReviewWriter:
    """Posts one review of `pr` (at `pr.head_sha`) through the repository object."""

    def __init__(
        self,
        repo: Repository,
        pr: PullRequestRef,
        *,
        bot_login: str | None,
        max_suggestions: int,
        app_name: str,
        acceptance: AcceptanceBook | None = None,
    ) -> None:
        """With `acceptance` (the App's record of what this repository's maintainers
        accepted), each comment says how often suggestions of its kind were accepted, the
        most likely to be accepted are posted first, and a demoted kind is not posted."""
        self._repo = repo
        self.pr = pr
        self.bot_login = bot_login
        self.max_suggestions = max_suggestions
        self.app_name = app_name
        self.acceptance = acceptance
        self._expected: dict[str, SuggestionAcceptance] = {}

    def publish(self, report: Report) -> ReviewOutcome:
        outcome = ReviewOutcome()
        rules = {f.id: f.rule_id for f in report.findings}
        if self.acceptance is not None:
            self._expected = {
                s.id: self.acceptance.for_suggestion(
                    [rules[i] for i in s.finding_ids if i in rules], s.source
                )
                for s in report.suggestions
            }
        proven = sorted(
            (s for s in report.suggestions if s.committable),
            key=lambda s: (-self._rank(s), s.path, s.start_line),
        )
        with github_errors():
            pull = self._repo.get_pull(self.pr.number)
            head, state = pull.head.sha, pull.state
        if state != "open" or head != self.pr.head_sha:
            why = (
                f"the pull request is {state}"
                if state != "open"
                else f"the pull request moved on to `{head[:10]}` before it could be posted"
            )
            outcome.not_posted.update({s.id: why for s in proven})
            outcome.head_moved = True
            return outcome
        with github_errors():
            hunks = {
                f.filename: parse_patch((f.patch or "").encode("utf-8"))[1]
                for f in pull.get_files()
            }
            existing = self._existing_comments(pull)
            marker = review_marker(self.pr.head_sha)
            reviewed = any(
                marker in (r.body or "") and self._ours(r.user) for r in pull.get_reviews()
            )
        # A live comment (not retired as applied or outdated) stands for its findings, or,
        # for a fix without a finding, for its suggestion; a finding that comes back after
        # its comment was retired gets a fresh one.
        commented: dict[str, ExistingComment] = {}
        for item in existing:
            if item.state is None:
                for key in _keys(item.finding_ids, item.suggestion_id):
                    commented.setdefault(key, item)
        planned: list[Suggestion] = []
        for s in proven:
            keys = _keys(frozenset(s.finding_ids), s.id)
            earlier = next((commented[k] for k in keys if k in commented), None)
            if earlier is not None:
                outcome.already[s.id] = earlier.comment.html_url
                continue
            reason = anchor_problem(s, hunks)
            demoted = self._expected[s.id].demoted_by if s.id in self._expected else None
            if reason is None and demoted is not None and self.acceptance is not None:
                reason = demoted.demotion_reason(self.acceptance.policy)
            if reason is None and reviewed:
                reason = "a review of this commit was already posted"
            if reason is None and len(planned) >= self.max_suggestions:
                reason = f"over the limit of {self.max_suggestions} suggestions per push"
            if reason is None and len(self._body(s, report)) > COMMENT_LIMIT:
                reason = "too long for a review comment"
            if reason is not None:
                outcome.not_posted[s.id] = reason
            else:
                planned.append(s)
        self._mark_gone(report, existing, outcome)
        self._read_reactions(existing, outcome)
        if planned:
            self._post(pull, report, planned, outcome)
        return outcome

    def _existing_comments(self, pull: PullRequest) -> list[ExistingComment]:
        found: list[ExistingComment] = []
        for comment in pull.get_review_comments():
            # (not `in_reply_to_id`: GitHub omits it on a thread's first comment, and reading
            # an absent attribute costs PyGithub a request; the bot never writes replies)
            if not self._ours(comment.user):
                continue
            marker = parse_marker(comment.body)
            if marker is not None:
                found.append(
                    ExistingComment(comment, marker.finding_ids, marker.suggestion_id, marker.state)
                )
        return found

    def _ours(self, user: Any) -> bool:
        if user is None:
            return False
        if self.bot_login is None:  # explicitly any bot (the Action's `bot-login: "*"`)
            return bool(user.type == "Bot")
        return bool(user.login == self.bot_login)

    def _post(
        self, pull: PullRequest, report: Report, planned: list[Suggestion], outcome: ReviewOutcome
    ) -> None:
        comments = [self._review_comment(s, report) for s in planned]
        body = review_body(report, len(planned), app_name=self.app_name, head_sha=self.pr.head_sha)
        try:
            with github_errors():
                review = pull.create_review(
                    commit=self._repo.get_commit(self.pr.head_sha),
                    body=body,
                    event="COMMENT",
                    comments=comments,
                )
            outcome.review_ids.append(int(review.id))
        except Unprocessable as exc:
            # one comment GitHub would not place must not lose the others
            logger.warning("review rejected (%s); posting its comments one by one", exc)
            outcome.errors.append(f"GitHub rejected the review ({exc}); comments posted singly.")
            self._post_singly(pull, planned, comments, outcome)
            return
        with github_errors():
            listed = {
                item.suggestion_id: item.comment
                for item in self._existing_comments(pull)
                if item.comment.pull_request_review_id == review.id
            }
        for s in planned:
            comment = listed.get(s.id)
            outcome.posted.append(
                PostedComment(
                    s.id, comment.id if comment else None, s.path, s.start_line, s.end_line
                )
            )
            outcome.posted_urls[s.id] = comment.html_url if comment else review.html_url

    def _post_singly(
        self,
        pull: PullRequest,
        planned: list[Suggestion],
        comments: list[ReviewComment],
        outcome: ReviewOutcome,
    ) -> None:
        for s, spec in zip(planned, comments, strict=True):
            try:
                with github_errors():
                    if "start_line" in spec:
                        created = pull.create_review_comment(
                            spec["body"],
                            self.pr.head_sha,
                            spec["path"],
                            line=spec["line"],
                            side="RIGHT",
                            start_line=spec["start_line"],
                            start_side="RIGHT",
                        )
                    else:
                        created = pull.create_review_comment(
                            spec["body"],
                            self.pr.head_sha,
                            spec["path"],
                            line=spec["line"],
                            side="RIGHT",
                        )
            except (GitHubUnavailable, RateLimited):
                raise
            except GitHubError as exc:
                outcome.not_posted[s.id] = f"GitHub would not place it on the diff ({exc})"
                continue
            outcome.posted.append(PostedComment(s.id, created.id, s.path, s.start_line, s.end_line))
            outcome.posted_urls[s.id] = created.html_url

    def _review_comment(self, s: Suggestion, report: Report) -> ReviewComment:
        spec: ReviewComment = {
            "path": s.path,
            "body": self._body(s, report),
            "line": s.end_line,
            "side": "RIGHT",
        }
        if s.start_line < s.end_line:
            spec["start_line"] = s.start_line
            spec["start_side"] = "RIGHT"
        return spec

    def _body(self, s: Suggestion, report: Report) -> str:
        expected = self._expected.get(s.id)
        line = expected.headline.line() if expected is not None else None
        return comment_body(s, report, app_name=self.app_name, acceptance=line)

    def _rank(self, s: Suggestion) -> float:
        """Reliability, weighed by the acceptance expected where it is known."""
        expected = self._expected.get(s.id)
        return s.score.reliability * (expected.probability if expected is not None else 1.0)

    def _read_reactions(self, existing: Iterable[ExistingComment], outcome: ReviewOutcome) -> None:
        """👎 on a live comment (GitHub sends no webhook for reactions: read at each push)."""
        for item in existing:
            if item.state is not None or int(item.comment.id) in outcome.disliked:
                continue
            with github_errors():
                who = thumbs_down_by(self._repo, item.comment)
            if who is not None:
                outcome.disliked[int(item.comment.id)] = who

    # ------------------------------------------------------------------ earlier comments

    def _mark_gone(
        self, report: Report, existing: Iterable[ExistingComment], outcome: ReviewOutcome
    ) -> None:
        current = {f.id for f in report.findings}
        offered = {s.id for s in report.suggestions}
        unanalyzed = {s.path for s in report.skipped}
        files: dict[str, list[str] | None] = {}
        for item in existing:
            comment = item.comment
            if item.state is not None or item.finding_ids & current:
                continue
            if not item.finding_ids and item.suggestion_id in offered:
                continue  # a fix without a finding, still offered
            if comment.path in unanalyzed:  # not analyzed this time: gone is not known
                continue
            if comment.path not in files:
                files[comment.path] = self._head_lines(comment.path)
            applied = was_applied(comment.body, comment_anchor(comment), files[comment.path])
            try:
                with github_errors():
                    comment.edit(retired_body(comment.body, self.pr.head_sha, applied=applied))
            except (GitHubUnavailable, RateLimited):
                raise
            except GitHubError as exc:
                outcome.errors.append(f"Could not update an earlier comment: {exc}")
                continue
            (outcome.applied if applied else outcome.outdated).append(int(comment.id))

    def _head_lines(self, path: str) -> list[str] | None:
        try:
            with github_errors():
                content = self._repo.get_contents(path, ref=self.pr.head_sha)
                if isinstance(content, list) or content.encoding != "base64":
                    return None
                return content.decoded_content.decode("utf-8", "replace").splitlines()
        except NotFound:
            return None


# ---------------------------------------------------------------------------- helpers


def comment_anchor(comment: PullRequestComment) -> int | None:
    return (
        comment.start_line or comment.line or comment.original_start_line or comment.original_line
    )


def thumbs_down_by(repo: Repository, comment: PullRequestComment) -> str | None:
    """The login of someone with write access who reacted 👎 to `comment`, if anyone did
    (bots and readers without write access are not counted). The comment's reaction
    counts come with it; the reactions themselves are read only when there is a 👎."""
    rollup = comment.raw_data.get("reactions") or {}
    if not int(rollup.get("-1") or 0):
        return None
    for reaction in comment.get_reactions():
        user = reaction.user
        if reaction.content != "-1" or user is None or user.type == "Bot":
            continue
        if repo.get_collaborator_permission(user.login) in WRITE_PERMISSIONS:
            return str(user.login)
    return None


def _keys(finding_ids: frozenset[str], suggestion_id: str) -> tuple[str, ...]:
    """What a comment stands for: its findings, or its suggestion when it has none."""
    return tuple(sorted(finding_ids)) if finding_ids else (f"suggestion:{suggestion_id}",)
