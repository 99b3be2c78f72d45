"""Worker jobs that close the loop on posted suggestions (bot.review_feedback enqueues them).

`settle_pull_request(request)`: the pull request was merged or closed. Each of its
suggestions still open is, in this order: dismissed when someone other than a bot
reacted 👎 to its comment (GitHub sends no webhook for reactions, so they are read
here and at each analysis: bot.review), applied when the final head holds its
suggested text near its lines (a commit right before the merge is never analyzed),
and otherwise left open.

`reply_in_thread(reply)`: the bot's answer to a `/provenfix wrong` reply.
"""

from __future__ import annotations

import logging
from typing import Any

from github.Repository import Repository
from rq import get_current_job

from provenfix.bot import metrics
from provenfix.bot.github_api import NotFound, github_errors
from provenfix.bot.job_context import CONTEXT
from provenfix.bot.job_errors import classify_failure
from provenfix.bot.outcomes import APPLIED, DISMISSED, Decision, OutcomeStore
from provenfix.bot.review import comment_anchor, thumbs_down_by
from provenfix.bot.review_comments import was_applied
from provenfix.bot.review_feedback import SettleRequest, ThreadReply

log = logging.getLogger("provenfix.job")

__all__ = ["reply_in_thread", "settle_pull_request"]


def settle_pull_request(request: SettleRequest) -> dict[str, Any]:
    context = CONTEXT.get()
    context.database.engine.dispose(close=False)  # a forked horse opens its own connections
    store = OutcomeStore(context.database)
    waiting = set(store.open_comments(request.repository_id, request.number))
    if not waiting:
        return {"outcome": "nothing open"}
    full_name = f"{request.owner}/{request.repo}"
    try:
        client = context.github.installation_client(request.installation_id)
        repo = client.withLazy(True).get_repo(full_name)
        decisions = _decisions(repo, request.number, waiting)
    except Exception as exc:
        raise classify_failure(exc, f"settling {full_name}#{request.number}") from exc
    entered = store.decide(request.repository_id, decisions)
    ended = store.end_pull_request(request.repository_id, request.number, merged=request.merged)
    entered.update(ended)
    job = get_current_job()
    if job is not None:
        metrics.record_outcomes(job.connection, entered)
    return {"outcome": "settled", **dict(entered)}


def reply_in_thread(reply: ThreadReply) -> dict[str, Any]:
    context = CONTEXT.get()
    path = (
        f"/repos/{reply.owner}/{reply.repo}/pulls/{reply.number}"
        f"/comments/{reply.comment_id}/replies"
    )
    try:
        client = context.github.installation_client(reply.installation_id)
        with github_errors():
            client.requester.requestJsonAndCheck("POST", path, input={"body": reply.body})
    except NotFound:
        return {"outcome": "comment gone"}
    except Exception as exc:
        raise classify_failure(exc, f"replying to comment {reply.comment_id}") from exc
    return {"outcome": "replied"}


def _decisions(repo: Repository, number: int, waiting: set[int]) -> list[Decision]:
    with github_errors():
        pull = repo.get_pull(number)
        head = pull.head.sha
        comments = [c for c in pull.get_review_comments() if c.id in waiting]
    decisions: list[Decision] = []
    files: dict[str, list[str] | None] = {}
    for comment in comments:
        with github_errors():
            who = thumbs_down_by(repo, comment)
        if who is not None:
            decisions.append(Decision(comment.id, DISMISSED, "reaction", who))
            continue
        if comment.path not in files:
            files[comment.path] = _lines(repo, comment.path, head)
        if was_applied(comment.body, comment_anchor(comment), files[comment.path]):
            decisions.append(Decision(comment.id, APPLIED, "content"))
    return decisions


def _lines(repo: Repository, path: str, ref: str) -> list[str] | None:
    try:
        with github_errors():
            content = repo.get_contents(path, ref=ref)
            if isinstance(content, list) or content.encoding != "base64":
                return None
            return content.decoded_content.decode("utf-8", "replace").splitlines()
    except NotFound:
        return None
