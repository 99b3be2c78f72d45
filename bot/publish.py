"""Publishing a report on a pull request: one check run, at most one review per push.

The check run carries everything: the report, where each suggestion went, the
evidence, annotations on the findings that have no proven fix on the diff, and
the reason for anything that could not be posted. Its conclusion is `failure`
when a finding has severity error, `success` when there is no finding and the
repository's configuration was valid, and `neutral` otherwise.

The review (event COMMENT, one per head commit) carries up to `max_suggestions`
comments, best reliability first. Each is a ```suggestion block over exactly the
lines the fix replaces, and only for a suggestion the tests proved
(`Suggestion.committable`): an unproven fix is never offered as a one-click
change. A suggestion whose lines do not lie inside one hunk of the pull
request's diff cannot be anchored there; it goes to the check run instead, so
GitHub never has to answer 422. If it does anyway, the comments are posted one
by one and only the rejected ones move to the check run.

Every comment ends in a hidden fingerprint
`<!-- provenfix:finding=<finding ids> suggestion=<id> -->`. On later pushes a
finding that already has a comment gets no second one; a comment whose findings
are gone is edited to say so ("no longer reported at <sha>"), or "applied in
<sha>" when the head now holds the suggested text where the comment was. When
there is nothing to post, the bot posts no review at all.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import github
from github.PullRequest import PullRequest, ReviewComment
from github.PullRequestComment import PullRequestComment
from github.Repository import Repository

from bot.check_summary import (
    Placement,
    check_title,
    conclusion_for,
    render_check_summary,
)
from bot.github_api import (
    GitHubError,
    GitHubUnavailable,
    NotFound,
    RateLimited,
    Unprocessable,
    github_errors,
    redact,
)
from jobs.model import Finding, LineRange, Report, Severity, Suggestion

logger = logging.getLogger(__name__)

ANNOTATIONS_PER_REQUEST = 50  # GitHub's limit per check run create/update
MAX_ANNOTATIONS = 1000
COMMENT_LIMIT = 65_000
APPLIED_SEARCH_WINDOW = 50  # lines around a comment's anchor searched for applied text
_PROGRESS_LINES = 20
_LEVEL = {Severity.ERROR: "failure", Severity.WARNING: "warning", Severity.INFO: "notice"}

_FINGERPRINT = re.compile(
    r"<!-- provenfix:finding=(?P<findings>[^\s>]+) suggestion=(?P<suggestion>[^\s>]+) -->"
)
_STATE = re.compile(r"<!-- provenfix:state=(?P<state>[a-z]+) at=(?P<sha>[0-9a-f]+) -->")
_REVIEW = "<!-- provenfix:review head={sha} -->"
_HUNK_HEADER = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", re.MULTILINE)
_SUGGESTION_BLOCK = re.compile(r"^(`{3,})suggestion\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class PullRequestRef:
    owner: str
    repo: str
    number: int
    head_sha: str
    base_sha: str

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.repo}"


@dataclass(frozen=True)
class PostedComment:
    suggestion_id: str
    comment_id: int | None  # None when GitHub did not list it back
    path: str
    start_line: int
    end_line: int


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


@dataclass
class _ExistingComment:
    comment: PullRequestComment
    finding_ids: frozenset[str]
    suggestion_id: str
    state: str | None  # outdated, applied, or None while current


@dataclass
class _ReviewOutcome:
    review_id: int | None = None
    posted: list[PostedComment] = field(default_factory=list)
    posted_urls: dict[str, str] = field(default_factory=dict)
    already: dict[str, str] = field(default_factory=dict)
    not_posted: dict[str, str] = field(default_factory=dict)
    outdated: list[int] = field(default_factory=list)
    applied: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Publisher:
    """Posts one analysis of `pr` (at `pr.head_sha`) through an installation client."""

    def __init__(
        self,
        client: github.Github,
        pr: PullRequestRef,
        *,
        max_suggestions: int = 10,
        app_name: str = "ProvenFix",
        bot_login: str | None = None,
    ) -> None:
        self.pr = pr
        self.max_suggestions = max_suggestions
        self.app_name = app_name
        self.bot_login = bot_login  # when known, only this account's comments are ours
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
            outcome = self._publish_review(report)
        except (GitHubUnavailable, RateLimited):
            raise
        except GitHubError as exc:
            logger.warning("review on %s#%d not posted: %s", self.pr.full_name, self.pr.number, exc)
            outcome = _ReviewOutcome(errors=[f"The review could not be posted: {exc}"])
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
        self._complete(
            check_run_id, check_title(report, placement), summary, conclusion, annotations
        )
        return PublishResult(
            check_run_id=check_run_id,
            conclusion=conclusion,
            review_id=outcome.review_id,
            posted=tuple(outcome.posted),
            already_posted=tuple(outcome.already),
            not_posted=dict(outcome.not_posted),
            outdated=tuple(outcome.outdated),
            applied=tuple(outcome.applied),
            annotations=min(len(annotations), MAX_ANNOTATIONS),
            errors=tuple(outcome.errors),
        )

    def _complete(
        self,
        check_run_id: int,
        title: str,
        summary: str,
        conclusion: str,
        annotations: Sequence[dict[str, Any]],
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
            run.edit(conclusion=conclusion, completed_at=datetime.now(UTC), output=output)

    # ------------------------------------------------------------------ review

    def _publish_review(self, report: Report) -> _ReviewOutcome:
        outcome = _ReviewOutcome()
        proven = sorted(
            (s for s in report.suggestions if s.committable),
            key=lambda s: (-s.score.reliability, s.path, s.start_line),
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
            return outcome
        with github_errors():
            hunks = {f.filename: patch_hunks(f.patch) for f in pull.get_files()}
            existing = self._existing_comments(pull)
            reviewed = any(
                _REVIEW.format(sha=self.pr.head_sha) in (r.body or "") and self._ours(r.user)
                for r in pull.get_reviews()
            )
        commented: dict[str, _ExistingComment] = {}
        for item in existing:
            for fid in item.finding_ids:
                commented.setdefault(fid, item)
        planned: list[Suggestion] = []
        for s in proven:
            earlier = next((commented[f] for f in s.finding_ids if f in commented), None)
            if earlier is not None:
                outcome.already[s.id] = earlier.comment.html_url
                continue
            reason = anchor_problem(s, hunks)
            if reason is None and reviewed:
                reason = "a review of this commit was already posted"
            if reason is None and len(planned) >= self.max_suggestions:
                reason = f"over the limit of {self.max_suggestions} suggestions per push"
            if reason is None and len(self._comment_body(s, report)) > COMMENT_LIMIT:
                reason = "too long for a review comment"
            if reason is not None:
                outcome.not_posted[s.id] = reason
            else:
                planned.append(s)
        self._mark_gone(report, existing, outcome)
        if planned:
            self._post(pull, report, planned, outcome)
        return outcome

    def _existing_comments(self, pull: PullRequest) -> list[_ExistingComment]:
        found: list[_ExistingComment] = []
        for comment in pull.get_review_comments():
            # (not `in_reply_to_id`: GitHub omits it on a thread's first comment, and reading
            # an absent attribute costs PyGithub a request; the bot never writes replies)
            if not self._ours(comment.user):
                continue
            marker = _FINGERPRINT.search(comment.body or "")
            if marker is None:
                continue
            state = _STATE.search(comment.body)
            found.append(
                _ExistingComment(
                    comment,
                    frozenset(marker.group("findings").split(",")),
                    marker.group("suggestion"),
                    state.group("state") if state else None,
                )
            )
        return found

    def _ours(self, user: Any) -> bool:
        if user is None:
            return False
        if self.bot_login is not None:
            return bool(user.login == self.bot_login)
        return bool(user.type == "Bot")

    def _post(
        self, pull: PullRequest, report: Report, planned: list[Suggestion], outcome: _ReviewOutcome
    ) -> None:
        comments = [self._review_comment(s, report) for s in planned]
        body = self._review_body(report, len(planned))
        try:
            with github_errors():
                review = pull.create_review(
                    commit=self._repo.get_commit(self.pr.head_sha),
                    body=body,
                    event="COMMENT",
                    comments=comments,
                )
            outcome.review_id = int(review.id)
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
        outcome: _ReviewOutcome,
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

    def _review_body(self, report: Report, count: int) -> str:
        findings = len(report.findings)
        return (
            f"**{self.app_name}** found {findings} problem{'s' if findings != 1 else ''} "
            f"in this change. {count} fix{'es' if count != 1 else ''} below "
            f"{'are' if count != 1 else 'is'} proven by the repository's own tests: each is a "
            "suggested change you can commit as it is. The check run has the full report "
            "and the evidence.\n\n" + _REVIEW.format(sha=self.pr.head_sha)
        )

    def _review_comment(self, s: Suggestion, report: Report) -> ReviewComment:
        spec: ReviewComment = {
            "path": s.path,
            "body": self._comment_body(s, report),
            "line": s.end_line,
            "side": "RIGHT",
        }
        if s.start_line < s.end_line:
            spec["start_line"] = s.start_line
            spec["start_side"] = "RIGHT"
        return spec

    def _comment_body(self, s: Suggestion, report: Report) -> str:
        rules = sorted({f.rule_id for f in report.findings if f.id in s.finding_ids})
        about = f" for {', '.join(f'`{r}`' for r in rules)}" if rules else ""
        return "\n".join(
            [
                f"**{self.app_name}** · proven fix{about} · reliability "
                f"**{s.score.reliability:.2f}**",
                "",
                s.rationale.strip(),
                "",
                suggestion_block(s.replacement),
                "",
                _evidence_details(s),
                "",
                fingerprint(s),
            ]
        )

    # ------------------------------------------------------------------ earlier comments

    def _mark_gone(
        self, report: Report, existing: Iterable[_ExistingComment], outcome: _ReviewOutcome
    ) -> None:
        current = {f.id for f in report.findings}
        unanalyzed = {s.path for s in report.skipped}
        files: dict[str, list[str] | None] = {}
        for item in existing:
            comment = item.comment
            if item.state is not None or item.finding_ids & current:
                continue
            if comment.path in unanalyzed:  # not analyzed this time: gone is not known
                continue
            if comment.path not in files:
                files[comment.path] = self._head_lines(comment.path)
            applied = _was_applied(comment, files[comment.path])
            sha = self.pr.head_sha
            if applied:
                note = f"✅ **Applied in `{sha[:10]}`.**"
                state = f"<!-- provenfix:state=applied at={sha} -->"
            else:
                note = (
                    f"☑️ **No longer reported at `{sha[:10]}`**: the problem this suggestion "
                    "fixed is gone, so the suggestion is no longer offered."
                )
                state = f"<!-- provenfix:state=outdated at={sha} -->"
            body = _SUGGESTION_BLOCK.sub(
                lambda m: f"{m.group(1)}\n{m.group(2)}{m.group(1)}", comment.body
            )
            try:
                with github_errors():
                    comment.edit(f"{note}\n\n{body}\n{state}")
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


def patch_hunks(patch: str | None) -> tuple[LineRange, ...]:
    """Head-side (RIGHT) line ranges of the hunks of a GitHub file patch."""
    ranges = []
    for m in _HUNK_HEADER.finditer(patch or ""):
        start, count = int(m.group(1)), 1 if m.group(2) is None else int(m.group(2))
        if count > 0:
            ranges.append(LineRange(start, start + count - 1))
    return tuple(ranges)


def anchor_problem(s: Suggestion, hunks: dict[str, tuple[LineRange, ...]]) -> str | None:
    """Why `s` cannot be a suggested change on the diff; None when it can."""
    if s.path not in hunks:
        return "the file is not part of the pull request's diff"
    ranges = hunks[s.path]
    if not ranges:
        return "GitHub shows no diff for this file"
    if not any(r.start <= s.start_line and s.end_line <= r.end for r in ranges):
        lines = (
            f"line {s.start_line} is"
            if s.start_line == s.end_line
            else f"lines {s.start_line}-{s.end_line} are"
        )
        return f"{lines} not inside one hunk of the diff"
    return None


def fingerprint(s: Suggestion) -> str:
    return f"<!-- provenfix:finding={','.join(s.finding_ids)} suggestion={s.id} -->"


def suggestion_block(replacement: str) -> str:
    """A ```suggestion block that replaces the commented lines with `replacement`."""
    text = replacement.replace("\r\n", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = f"{text}\n" if replacement else ""  # an empty block deletes the lines
    return f"{fence}suggestion\n{body}{fence}"


def annotations_for(report: Report, shown: set[str]) -> list[dict[str, Any]]:
    """Annotations for the findings whose proven fix is not on the diff, worst first."""
    unproven = {fid: s for s in report.suggestions if not s.committable for fid in s.finding_ids}
    proven = {fid for s in report.suggestions if s.committable for fid in s.finding_ids}
    out: list[tuple[int, dict[str, Any]]] = []
    for f in report.findings:
        if f.id in shown:
            continue
        annotation: dict[str, Any] = {
            "path": f.path,
            "start_line": f.start_line,
            "end_line": max(f.start_line, f.end_line),
            "annotation_level": _LEVEL[f.severity],
            "title": f.rule_id[:255],
            "message": f.message[:60_000] or f.rule_id,
        }
        details = _annotation_details(f, proven, unproven.get(f.id))
        if details:
            annotation["raw_details"] = details[:60_000]
        out.append((-f.severity.rank, annotation))
    out.sort(key=lambda item: item[0])
    return [a for _, a in out]


def _annotation_details(f: Finding, proven: set[str], unproven: Suggestion | None) -> str:
    if f.id in proven:
        return (
            "A fix proven by the tests is in the check run summary (it could not be placed "
            "on the diff)."
        )
    if unproven is not None:
        return (
            f"A candidate fix was not proven ({unproven.validation.status.value}): "
            f"{_one_line(unproven.validation.detail)}"
        )
    if f.test:
        return f"Failing test: {f.test}"
    return ""


def _was_applied(comment: PullRequestComment, lines: list[str] | None) -> bool:
    block = _SUGGESTION_BLOCK.search(comment.body or "")
    if lines is None or block is None or not block.group(2):
        return False
    wanted = block.group(2).rstrip("\n").split("\n")
    anchor = (
        comment.start_line or comment.line or comment.original_start_line or comment.original_line
    )
    if not anchor:
        return False
    low = max(1, anchor - APPLIED_SEARCH_WINDOW)
    high = min(len(lines), anchor + APPLIED_SEARCH_WINDOW)
    return any(lines[i - 1 : i - 1 + len(wanted)] == wanted for i in range(low, high + 1))


def _evidence_details(s: Suggestion) -> str:
    v, c = s.validation, s.score.components
    rows = [
        ("Tests", f"{v.tests_run} of {v.tests_selected} selected pass ({v.duration_s:.1f} s)"),
        (
            "Defect density (region)",
            f"{c.defect_density_before:.2f} → {c.defect_density_after:.2f}",
        ),
        ("Complexity (normalized)", f"{c.complexity_before:.2f} → {c.complexity_after:.2f}"),
        (
            "Performance efficiency",
            "not measured"
            if c.performance_efficiency is None
            else f"{c.performance_efficiency:.2f}",
        ),
        (
            "Test coverage of the region",
            "not measured" if c.coverage is None else f"{c.coverage:.0%}",
        ),
        (
            "Reliability",
            f"{s.score.reliability:.2f} (α={s.score.weights.alpha:g}, "
            f"β={s.score.weights.beta:g}, γ={s.score.weights.gamma:g})",
        ),
        ("Source", f"{s.source} ({s.kind.value})"),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"<details><summary>Evidence</summary>\n\n| | |\n|---|---|\n{table}\n\n</details>"


def _one_line(text: str) -> str:
    return " ".join(text.split())
