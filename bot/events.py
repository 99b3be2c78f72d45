"""What each webhook event does, once bot.webapp has verified it.

No handler calls GitHub: each records something in the database or enqueues a job
(bot.queue) and answers an `Outcome` (the metrics label and the response); who may
run commands and press the check run's buttons is a `PermissionPolicy`. Each
handler parses what it reads (bot.payloads: a wrong field is a `BadPayload`, 400),
decides everything that can refuse, claims the delivery (a redelivery: 200
`duplicate_delivery`; an analysis claims it in the step that makes its head
current, bot.queue), and only then records or enqueues.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from provenfix.bot.check_summary import APPLY_ACTION_ID
from provenfix.bot.db import Database, record_installation_event, utcnow
from provenfix.bot.job_requests import ApplyRequest, CommentReaction, JobRequest, PullRequestTarget
from provenfix.bot.outcomes import OutcomeStore
from provenfix.bot.payloads import (
    MAX_NUMBER,
    BadPayload,
    CheckRunEvent,
    CheckRunOrigin,
    CommentEnvelope,
    Envelope,
    GitHubHosts,
    InstallationEvent,
    InstallationRepositoriesEvent,
    IssueCommentEvent,
    M,
    Ping,
    PullRequestClosing,
    PullRequestEdit,
    PullRequestEvent,
    Repository,
    Sender,
    parse,
)
from provenfix.bot.permissions import PermissionPolicy
from provenfix.bot.queue import AnalysisQueue, DeliveryClaim
from provenfix.bot.review_feedback import (
    FeedbackResult,
    ReviewCommentEvent,
    ReviewFeedback,
    ReviewThreadEvent,
)
from provenfix.bot.settings import BotSettings

log = logging.getLogger("provenfix.webhook")

__all__ = ["BadPayload", "EventHandler", "Outcome"]

ANALYZE_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
CANCEL_ACTIONS = frozenset({"closed"})
CHECK_RUN_ACTIONS = frozenset({"rerequested", "requested_action"})
RERUN_ACTION_IDS = frozenset({"provenfix-rerun", "rerun"})
COMMAND_RE = re.compile(r"^/provenfix[ \t]+(?P<command>[a-z-]+)(?:[ \t]+(?P<arg>\S+))?[ \t]*$")
RULE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$")

Payload = Mapping[str, Any]
Handler = Callable[[str, Payload, DeliveryClaim], "Outcome"]


@dataclass(frozen=True)
class Outcome:
    outcome: str  # the metrics label
    status: int = 202
    detail: dict[str, Any] | None = None
    counted: bool = False  # the delivery counter was incremented already (bot.queue)


DUPLICATE_DELIVERY = Outcome("duplicate_delivery", 200)


class Redelivered(Exception):
    """The delivery's id was claimed before (GitHub redelivered it): nothing is done."""


def ignored(reason: str) -> Outcome:
    return Outcome("ignored", detail={"reason": reason})


class EventHandler:
    def __init__(
        self,
        settings: BotSettings,
        jobs: AnalysisQueue,
        db: Database,
        permissions: PermissionPolicy,
    ) -> None:
        self.settings = settings
        self.jobs = jobs
        self.db = db
        self.permissions = permissions
        self.hosts = GitHubHosts.from_api_url(settings.github_api_url)
        self.outcomes = OutcomeStore(db)
        self.feedback = ReviewFeedback(
            self.outcomes, jobs.redis, jobs.queue, permissions, self.hosts
        )

    def dispatch(
        self, event: str, delivery: str, payload: Payload, claim: DeliveryClaim
    ) -> Outcome:
        """Handle a verified delivery; nothing is done for a redelivery (`claim` is taken)."""
        handlers: Mapping[str, Handler] = {
            "pull_request": self.pull_request,
            "check_run": self.check_run,
            "issue_comment": self.issue_comment,
            "installation": self.installation,
            "installation_repositories": self.installation_repositories,
            "pull_request_review_thread": self.review_feedback,
            "pull_request_review_comment": self.review_feedback,
            "ping": self.ping,
        }
        handle = handlers.get(event)
        try:
            if handle is None:
                return self._settle(claim, ignored(f"event {event!r} is not handled"))
            return handle(delivery, payload, claim)
        except Redelivered:
            return DUPLICATE_DELIVERY

    def _parse(self, model: type[M], payload: Payload) -> M:
        return parse(model, payload, self.hosts)

    def _claim(self, claim: DeliveryClaim) -> None:
        if not self.jobs.claim(claim):
            raise Redelivered

    def _settle(self, claim: DeliveryClaim, outcome: Outcome) -> Outcome:
        """An outcome that enqueues nothing, once the delivery is claimed."""
        self._claim(claim)
        return outcome

    # --- pull_request --------------------------------------------------------------

    def pull_request(self, delivery: str, payload: Payload, claim: DeliveryClaim) -> Outcome:
        action = self._parse(Envelope, payload).action
        if action in CANCEL_ACTIONS or (
            action == "converted_to_draft" and self.settings.skip_drafts
        ):
            closing = self._parse(PullRequestClosing, payload)
            self._claim(claim)
            closed = closing.pull_request
            cancelled = self.jobs.cancel_pull_request(closing.repository.id, closed.number)
            settle = None
            if action == "closed":
                installation = closing.installation.id if closing.installation else None
                settle = self.feedback.pull_request_ended(
                    installation, closing.repository, closed.number, bool(closed.merged)
                )
            return Outcome("cancelled", detail={"job_id": cancelled, "settle": settle})
        base_changed = False
        if action == "edited":
            changes = self._parse(PullRequestEdit, payload).changes
            base_changed = changes is not None and changes.base is not None
        if action not in ANALYZE_ACTIONS and not base_changed:
            return self._settle(claim, ignored(f"action {action!r} is not analyzed"))
        event = self._parse(PullRequestEvent, payload)
        pr, repo = event.pull_request, event.repository
        if pr.state != "open":
            return self._settle(claim, ignored("pull request is not open"))
        if pr.draft and self.settings.skip_drafts:
            return self._settle(claim, Outcome("skipped_draft"))
        if event.installation is None:
            return self._settle(claim, ignored("not delivered to an App installation"))
        request = JobRequest(
            installation_id=event.installation.id,
            repository_id=repo.id,
            owner=repo.owner,
            repo=repo.name,
            number=pr.number,
            head_sha=pr.head.sha,
            base_sha=pr.base.sha,
            base_ref=pr.base.ref,
            default_branch=repo.default_branch,
            clone_url=repo.clone_url,
            trigger=f"pull_request.{action}",
            delivery_id=delivery,
            sender=_login(event.sender),
            updated_at=pr.updated_at or "",
            delivered_at=_now(),
        )
        return self._submit(request, rerun=base_changed, claim=claim)

    def _submit(self, request: JobRequest, *, rerun: bool, claim: DeliveryClaim) -> Outcome:
        submitted = self.jobs.submit(request, rerun=rerun, claim=claim)
        if submitted.outcome == "duplicate_delivery":
            return Outcome("duplicate_delivery", 200, counted=submitted.counted)
        detail: dict[str, Any] = {"job_id": submitted.job_id}
        if submitted.superseded:
            detail["superseded"] = submitted.superseded
        outcome = {"enqueued": "enqueued", "duplicate": "duplicate_job", "stale": "stale"}
        return Outcome(outcome[submitted.outcome], detail=detail, counted=submitted.counted)

    # --- check_run -----------------------------------------------------------------

    def check_run(self, delivery: str, payload: Payload, claim: DeliveryClaim) -> Outcome:
        action = self._parse(Envelope, payload).action
        if self._parse(CheckRunOrigin, payload).check_run.app.id != self.settings.app_id:
            return self._settle(claim, ignored("check run of another App"))
        if action not in CHECK_RUN_ACTIONS:
            return self._settle(claim, ignored(f"action {action!r} is not handled"))
        event = self._parse(CheckRunEvent, payload)
        if action == "requested_action":
            identifier = event.requested_action.identifier if event.requested_action else ""
            if identifier == APPLY_ACTION_ID:
                return self._apply(delivery, event, claim)
            if identifier not in RERUN_ACTION_IDS:
                return self._settle(claim, ignored(f"unknown action {identifier!r}"))
        installation = event.installation
        if installation is None:
            return self._settle(claim, ignored("not delivered to an App installation"))
        run, repo = event.check_run, event.repository
        pulls = [p for p in run.pull_requests if p.base.repo.id == repo.id]
        if not pulls:
            # GitHub leaves pull_requests empty for pull requests from forks: the check
            # run's external_id (our job id) still names the pull request.
            number = _number_from_external_id(run.external_id or "", repo.id)
            if number is None:
                return self._settle(claim, ignored("check run has no pull request"))
            target = self._target(
                repo, event.sender, installation.id, number, delivery, f"check_run.{action}"
            )
            self._claim(claim)
            self.jobs.submit_resolve(target)
            return Outcome("enqueued", detail={"resolve": number})
        requests = [
            JobRequest(
                installation_id=installation.id,
                repository_id=repo.id,
                owner=repo.owner,
                repo=repo.name,
                number=pull.number,
                head_sha=pull.head.sha,
                base_sha=pull.base.sha,
                base_ref=pull.base.ref,
                default_branch=repo.default_branch,
                clone_url=repo.clone_url,
                trigger=f"check_run.{action}",
                delivery_id=delivery,
                sender=_login(event.sender),
                delivered_at=_now(),
            )
            for pull in pulls
        ]
        self._claim(claim)
        job_ids = [self.jobs.submit(request, rerun=True).job_id for request in requests]
        return Outcome("enqueued", detail={"job_ids": job_ids})

    def _apply(self, delivery: str, event: CheckRunEvent, claim: DeliveryClaim) -> Outcome:
        """The "Apply proven fixes" button: enqueue the job that commits them."""
        run, repo, sender = event.check_run, event.repository, event.sender
        if sender is not None and sender.type == "Bot":
            return self._settle(claim, ignored("requested by a bot"))
        if event.installation is None:
            return self._settle(claim, ignored("not delivered to an App installation"))
        pulls = [p for p in run.pull_requests if p.base.repo.id == repo.id]
        # a fork's pull request is not listed: the external_id (the job id) names it
        number = (
            pulls[0].number if pulls else _number_from_external_id(run.external_id or "", repo.id)
        )
        if number is None:
            return self._settle(claim, ignored("check run has no pull request"))
        if run.app.slug is None:
            raise BadPayload("check_run.app.slug: Field required", field="check_run.app.slug")
        login = _login(sender)
        association = "OWNER" if login.lower() == repo.owner.lower() else ""
        request = ApplyRequest(
            installation_id=event.installation.id,
            repository_id=repo.id,
            owner=repo.owner,
            repo=repo.name,
            number=number,
            head_sha=run.head_sha,
            check_run_id=run.id,
            clone_url=repo.clone_url,
            app_slug=run.app.slug,
            sender=login,
            sender_id=sender.id if sender is not None else 0,
            write_access=self.permissions.can_write(repo.full_name, login, association),
            delivery_id=delivery,
        )
        self._claim(claim)
        submitted = self.jobs.submit_apply(request)
        outcome = "enqueued" if submitted.outcome == "enqueued" else "duplicate_job"
        return Outcome(
            outcome, detail={"job_id": submitted.job_id, "write_access": request.write_access}
        )

    # --- issue_comment ---------------------------------------------------------------

    def issue_comment(self, delivery: str, payload: Payload, claim: DeliveryClaim) -> Outcome:
        if self._parse(Envelope, payload).action != "created":
            return self._settle(claim, ignored("only new comments carry commands"))
        parsed = _command(self._parse(CommentEnvelope, payload).comment.body or "")
        if parsed is None:
            return self._settle(claim, ignored("not a /provenfix command"))
        event = self._parse(IssueCommentEvent, payload)
        comment, repo, sender = event.comment, event.repository, event.sender
        if event.issue.pull_request is None:
            return self._settle(claim, ignored("commands work on pull requests only"))
        if sender is not None and sender.type == "Bot":
            return self._settle(claim, ignored("comment by a bot"))
        login = comment.user.login if comment.user is not None else _login(sender)
        association = comment.author_association
        if not self.permissions.can_write(repo.full_name, login, association):
            log.info("command from %s (%s) on %s refused", login, association, repo.full_name)
            refused = Outcome("refused", detail={"reason": f"{login} has no write access"})
            return self._settle(claim, refused)
        command, arg = parsed
        installation = event.installation.id if event.installation is not None else None
        if command == "analyze":
            if installation is None:
                return self._settle(claim, ignored("not delivered to an App installation"))
            target = self._target(
                repo, sender, installation, event.issue.number, delivery, "issue_comment.analyze"
            )
            reaction = CommentReaction(installation, repo.owner, repo.name, comment.id, "eyes")
            self._claim(claim)
            job_id = self.jobs.submit_resolve(target)
            self.jobs.submit_reaction(reaction)
            return Outcome("enqueued", detail={"job_id": job_id})
        if command == "ignore":
            if arg is None or not RULE_ID_RE.match(arg):
                return self._settle(claim, ignored("usage: /provenfix ignore <rule-id>"))
            self._claim(claim)
            added = self.db.ignore_rule(repo.id, repo.full_name, arg, login)
            if installation is not None:
                thanks = CommentReaction(installation, repo.owner, repo.name, comment.id, "+1")
                self.jobs.submit_reaction(thanks)
            return Outcome("recorded", detail={"rule": arg, "new": added})
        return self._settle(claim, ignored(f"unknown command {command!r}"))

    def _target(
        self,
        repo: Repository,
        sender: Sender | None,
        installation: int,
        number: int,
        delivery: str,
        trigger: str,
    ) -> PullRequestTarget:
        return PullRequestTarget(
            installation_id=installation,
            repository_id=repo.id,
            owner=repo.owner,
            repo=repo.name,
            number=number,
            default_branch=repo.default_branch,
            clone_url=repo.clone_url,
            trigger=trigger,
            delivery_id=delivery,
            sender=_login(sender),
            delivered_at=_now(),
        )

    # --- installation ----------------------------------------------------------------

    def installation(self, delivery: str, payload: Payload, claim: DeliveryClaim) -> Outcome:
        action = self._parse(Envelope, payload).action
        event = self._parse(InstallationEvent, payload)
        self._claim(claim)
        active = action != "deleted"
        changes = [(r, active) for r in event.repositories or ()]
        record_installation_event(self.db, event.installation, action, changes)
        if action == "deleted":  # uninstalled: nothing about its repositories is kept
            self.outcomes.purge_installation(event.installation.id)
        return Outcome("recorded", detail={"installation": event.installation.id, "action": action})

    def installation_repositories(
        self, delivery: str, payload: Payload, claim: DeliveryClaim
    ) -> Outcome:
        event = self._parse(InstallationRepositoriesEvent, payload)
        self._claim(claim)
        added, removed = event.repositories_added, event.repositories_removed
        changes = [*((r, True) for r in added), *((r, False) for r in removed)]
        record_installation_event(self.db, event.installation, "updated", changes)
        self.outcomes.purge_repositories([r.id for r in removed])
        return Outcome("recorded", detail={"added": len(added), "removed": len(removed)})

    # --- what maintainers do with the review comments (bot.review_feedback) ------------

    def review_feedback(self, delivery: str, payload: Payload, claim: DeliveryClaim) -> Outcome:
        thread = "thread" in payload
        self._parse(
            ReviewThreadEvent if thread else ReviewCommentEvent, payload
        )  # every refusal before the claim
        self._claim(claim)
        result: FeedbackResult = (
            self.feedback.review_thread(payload)
            if thread
            else self.feedback.review_comment(payload)
        )
        return Outcome(result.outcome, detail=result.detail)

    def ping(self, delivery: str, payload: Payload, claim: DeliveryClaim) -> Outcome:
        zen = self._parse(Ping, payload).zen
        return self._settle(claim, Outcome("pong", 200, detail={"zen": zen or ""}))


def _now() -> str:
    return utcnow().isoformat()


def _login(sender: Sender | None) -> str:
    return sender.login if sender is not None else ""


def _command(body: str) -> tuple[str, str | None] | None:
    """The `/provenfix <command> [arg]` on the comment's first non-empty line."""
    for line in body.splitlines():
        line = line.strip()
        if not line:
            continue
        match = COMMAND_RE.match(line)
        if match is None:
            return None
        return match["command"], match["arg"]
    return None


def _number_from_external_id(external_id: str, repository_id: int) -> int | None:
    match = re.fullmatch(
        rf"provenfix-{repository_id}-([1-9][0-9]{{0,9}})-[0-9a-f]{{7,64}}", external_id
    )
    if match is None or int(match[1]) > MAX_NUMBER:
        return None
    return int(match[1])
