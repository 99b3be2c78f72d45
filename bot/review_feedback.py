"""What maintainers do with the bot's review comments, as webhooks tell it.

- `pull_request_review_thread` resolved: the suggestions in that thread are dismissed
  (unless their text already reached the branch: bot.outcomes); unresolved: open again.
- `pull_request_review_comment` created as a reply to one of our comments whose first
  line is `/provenfix wrong` (or `/provenfix dismiss`), by someone with write access:
  dismissed; the bot answers in the thread (bot.settle.reply_in_thread).
- `pull_request` closed: the worker settles the pull request's suggestions that are
  still open (bot.settle.settle_pull_request: 👎 reactions, the final head's content,
  then "left open").

Like bot.events' handlers, these parse what they read, claim the delivery, and then
only write the database or enqueue; none calls GitHub. A comment id that is not one
of our posted suggestions in that repository changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis import Redis

from provenfix.bot import metrics
from provenfix.bot.outcomes import DISMISSED, OPEN, Decision, OutcomeStore
from provenfix.bot.payloads import (
    Association,
    CommentBody,
    Envelope,
    GitHubHosts,
    Id,
    IdOnly,
    Model,
    PullNumber,
    Repository,
    Sender,
    parse,
)
from provenfix.bot.permissions import PermissionPolicy
from provenfix.bot.queue import enqueue_small

log = logging.getLogger("provenfix.webhook")

SETTLE_FUNC = "provenfix.bot.settle.settle_pull_request"
REPLY_FUNC = "provenfix.bot.settle.reply_in_thread"
DISMISS_COMMANDS = frozenset({"/provenfix wrong", "/provenfix dismiss"})

__all__ = ["FeedbackResult", "ReviewFeedback", "SettleRequest", "ThreadReply"]


# --- payload models ---------------------------------------------------------------------------


class ThreadComment(Model):
    id: Id


class Thread(Model):
    comments: tuple[ThreadComment, ...] = ()


class PullNumbered(Model):
    number: PullNumber


class ReviewThreadEvent(Model):
    thread: Thread
    pull_request: PullNumbered
    repository: Repository
    installation: IdOnly | None = None
    sender: Sender | None = None


class ReviewComment(Model):
    id: Id
    in_reply_to_id: Id | None = None
    body: CommentBody | None = None
    user: Sender | None = None
    author_association: Association


class ReviewCommentEvent(Model):
    comment: ReviewComment
    pull_request: PullNumbered
    repository: Repository
    installation: IdOnly | None = None
    sender: Sender | None = None


# --- the requests the worker gets ------------------------------------------------------------


@dataclass(frozen=True)
class SettleRequest:
    """A pull request ended: settle its open suggestions (no secrets)."""

    installation_id: int
    repository_id: int
    owner: str
    repo: str
    number: int
    merged: bool


@dataclass(frozen=True)
class ThreadReply:
    """Answer in the thread of review comment `comment_id` (no secrets)."""

    installation_id: int
    owner: str
    repo: str
    number: int
    comment_id: int
    body: str


@dataclass(frozen=True)
class FeedbackResult:
    outcome: str  # the webhook's metrics label
    detail: dict[str, Any]


class ReviewFeedback:
    def __init__(
        self,
        outcomes: OutcomeStore,
        redis: Redis,
        queue: Any,  # rq.Queue
        permissions: PermissionPolicy,
        hosts: GitHubHosts,
    ) -> None:
        self.outcomes = outcomes
        self.redis = redis
        self.queue = queue
        self.permissions = permissions
        self.hosts = hosts

    def review_thread(self, payload: Mapping[str, Any]) -> FeedbackResult:
        action = parse(Envelope, payload, self.hosts).action
        if action not in ("resolved", "unresolved"):
            return FeedbackResult("ignored", {"reason": f"action {action!r} is not handled"})
        event = parse(ReviewThreadEvent, payload, self.hosts)
        who = event.sender.login if event.sender is not None else ""
        state, via = (DISMISSED, "thread_resolved") if action == "resolved" else (OPEN, "")
        decisions = [Decision(c.id, state, via, who) for c in event.thread.comments]
        entered = self.outcomes.decide(event.repository.id, decisions)
        metrics.record_outcomes(self.redis, entered)
        return FeedbackResult("recorded", {"thread": action, "changed": sum(entered.values())})

    def review_comment(self, payload: Mapping[str, Any]) -> FeedbackResult:
        if parse(Envelope, payload, self.hosts).action != "created":
            return FeedbackResult("ignored", {"reason": "only new replies carry commands"})
        event = parse(ReviewCommentEvent, payload, self.hosts)
        comment, repo = event.comment, event.repository
        first = next((line.strip() for line in (comment.body or "").splitlines() if line), "")
        if comment.in_reply_to_id is None or " ".join(first.split()) not in DISMISS_COMMANDS:
            return FeedbackResult("ignored", {"reason": "not a /provenfix wrong reply"})
        user = comment.user or event.sender
        if user is None or user.type == "Bot":
            return FeedbackResult("ignored", {"reason": "reply by a bot"})
        if not self.permissions.can_write(repo.full_name, user.login, comment.author_association):
            return FeedbackResult("refused", {"reason": f"{user.login} has no write access"})
        decision = Decision(comment.in_reply_to_id, DISMISSED, "reply", user.login)
        entered = self.outcomes.decide(repo.id, [decision])
        metrics.record_outcomes(self.redis, entered)
        if entered and event.installation is not None:
            reply = ThreadReply(
                event.installation.id,
                repo.owner,
                repo.name,
                event.pull_request.number,
                comment.in_reply_to_id,
                f"Thanks, @{user.login}: recorded as not accepted. Suggestions of this kind "
                "that keep being turned down in this repository stop being posted as "
                "committable suggestions (they stay in the check run).",
            )
            enqueue_small(self.queue, REPLY_FUNC, reply, 60, f"reply on {repo.full_name}")
        return FeedbackResult("recorded", {"dismissed": sum(entered.values())})

    def pull_request_ended(
        self, installation_id: int | None, repo: Repository, number: int, merged: bool
    ) -> str | None:
        """Enqueue the settling of a closed pull request's open suggestions; its job id."""
        if installation_id is None or not self.outcomes.open_comments(repo.id, number):
            return None
        request = SettleRequest(installation_id, repo.id, repo.owner, repo.name, number, merged)
        where = f"{repo.full_name}#{number}"
        return str(enqueue_small(self.queue, SETTLE_FUNC, request, 300, f"settle {where}").id)
