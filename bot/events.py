"""What each webhook event does, once bot.webapp has verified it.

No handler calls GitHub: each one records something in the database or enqueues
a job (bot.queue), and answers an `Outcome` (the metrics label and the response).
Who may run commands and press the check run's buttons is a `PermissionPolicy`.

Each delivery's `DeliveryClaim` is taken before anything is done (a redelivery
does nothing: 200 `duplicate_delivery`); an analysis takes it in the same atomic
step that makes its head current (bot.queue).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.check_summary import APPLY_ACTION_ID
from bot.db import Database, record_installation, upsert_repository
from bot.job_requests import ApplyRequest, CommentReaction, JobRequest, PullRequestTarget
from bot.permissions import PermissionPolicy
from bot.queue import AnalysisQueue, DeliveryClaim
from bot.settings import BotSettings

log = logging.getLogger("provenfix.webhook")

ANALYZE_ACTIONS = frozenset({"opened", "synchronize", "reopened", "ready_for_review"})
CANCEL_ACTIONS = frozenset({"closed"})
RERUN_ACTION_IDS = frozenset({"provenfix-rerun", "rerun"})
COMMAND_RE = re.compile(r"^/provenfix[ \t]+(?P<command>[a-z-]+)(?:[ \t]+(?P<arg>\S+))?[ \t]*$")
RULE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,254}$")


class BadPayload(Exception):
    """The signed payload lacks a field its event must have."""


@dataclass(frozen=True)
class Outcome:
    outcome: str  # the metrics label
    status: int = 202
    detail: dict[str, Any] | None = None
    counted: bool = False  # the delivery counter was incremented already (bot.queue)


DUPLICATE_DELIVERY = Outcome("duplicate_delivery", 200)


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

    def dispatch(
        self, event: str, delivery: str, payload: dict[str, Any], claim: DeliveryClaim
    ) -> Outcome:
        """Handle a verified delivery; nothing is done for a redelivery (`claim` is taken)."""
        handlers: Mapping[str, Callable[[str, dict[str, Any]], Outcome]] = {
            "check_run": self.check_run,
            "issue_comment": self.issue_comment,
            "installation": self.installation,
            "installation_repositories": self.installation_repositories,
            "ping": self.ping,
        }
        try:
            if event == "pull_request":  # claims the delivery as it enqueues
                return self.pull_request(delivery, payload, claim)
            if not self.jobs.claim(claim):
                return DUPLICATE_DELIVERY
            handle = handlers.get(event)
            if handle is None:
                return Outcome("ignored", detail={"reason": f"event {event!r} is not handled"})
            return handle(delivery, payload)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadPayload(f"missing or invalid field ({exc.__class__.__name__}: {exc})") from exc

    # --- pull_request --------------------------------------------------------------

    def pull_request(self, delivery: str, payload: dict[str, Any], claim: DeliveryClaim) -> Outcome:
        action = str(payload["action"])
        pr = payload["pull_request"]
        repo = payload["repository"]
        if action in CANCEL_ACTIONS or (
            action == "converted_to_draft" and self.settings.skip_drafts
        ):
            repository_id, number = int(repo["id"]), int(pr["number"])
            if not self.jobs.claim(claim):
                return DUPLICATE_DELIVERY
            cancelled = self.jobs.cancel_pull_request(repository_id, number)
            return Outcome("cancelled", detail={"job_id": cancelled})
        base_changed = action == "edited" and "base" in (payload.get("changes") or {})
        if action not in ANALYZE_ACTIONS and not base_changed:
            reason = f"action {action!r} is not analyzed"
            return self._settle(claim, Outcome("ignored", detail={"reason": reason}))
        if pr.get("state") != "open":
            reason = "pull request is not open"
            return self._settle(claim, Outcome("ignored", detail={"reason": reason}))
        if pr.get("draft") and self.settings.skip_drafts:
            return self._settle(claim, Outcome("skipped_draft"))
        installation = _installation_id(payload)
        if installation is None:
            reason = "not delivered to an App installation"
            return self._settle(claim, Outcome("ignored", detail={"reason": reason}))
        request = JobRequest(
            installation_id=installation,
            repository_id=int(repo["id"]),
            owner=_owner(repo),
            repo=_name(repo),
            number=int(pr["number"]),
            head_sha=str(pr["head"]["sha"]),
            base_sha=str(pr["base"]["sha"]),
            base_ref=str(pr["base"]["ref"]),
            default_branch=str(repo.get("default_branch") or pr["base"]["ref"]),
            clone_url=str(repo["clone_url"]),
            trigger=f"pull_request.{action}",
            delivery_id=delivery,
            sender=str((payload.get("sender") or {}).get("login", "")),
            updated_at=str(pr.get("updated_at") or ""),
        )
        return self._submit(request, rerun=base_changed, claim=claim)

    def _settle(self, claim: DeliveryClaim, outcome: Outcome) -> Outcome:
        """An outcome that enqueues nothing, once the delivery is claimed."""
        return outcome if self.jobs.claim(claim) else DUPLICATE_DELIVERY

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

    def check_run(self, delivery: str, payload: dict[str, Any]) -> Outcome:
        action = str(payload["action"])
        run = payload["check_run"]
        if int((run.get("app") or {}).get("id", -1)) != self.settings.app_id:
            return Outcome("ignored", detail={"reason": "check run of another App"})
        if action == "requested_action":
            identifier = str((payload.get("requested_action") or {}).get("identifier", ""))
            if identifier == APPLY_ACTION_ID:
                return self._apply(delivery, payload)
            if identifier not in RERUN_ACTION_IDS:
                return Outcome("ignored", detail={"reason": f"unknown action {identifier!r}"})
        elif action != "rerequested":
            return Outcome("ignored", detail={"reason": f"action {action!r} is not handled"})
        installation = _installation_id(payload)
        if installation is None:
            return Outcome("ignored", detail={"reason": "not delivered to an App installation"})
        repo = payload["repository"]
        pulls = [p for p in run.get("pull_requests") or [] if p["base"]["repo"]["id"] == repo["id"]]
        if not pulls:
            # GitHub leaves pull_requests empty for pull requests from forks: the check
            # run's external_id (our job id) still names the pull request.
            number = _number_from_external_id(str(run.get("external_id") or ""), int(repo["id"]))
            if number is None:
                return Outcome("ignored", detail={"reason": "check run has no pull request"})
            self.jobs.submit_resolve(
                self._target(payload, installation, number, delivery, f"check_run.{action}")
            )
            return Outcome("enqueued", detail={"resolve": number})
        job_ids = []
        for pull in pulls:
            request = JobRequest(
                installation_id=installation,
                repository_id=int(repo["id"]),
                owner=_owner(repo),
                repo=_name(repo),
                number=int(pull["number"]),
                head_sha=str(pull["head"]["sha"]),
                base_sha=str(pull["base"]["sha"]),
                base_ref=str(pull["base"]["ref"]),
                default_branch=str(repo.get("default_branch") or pull["base"]["ref"]),
                clone_url=str(repo["clone_url"]),
                trigger=f"check_run.{action}",
                delivery_id=delivery,
                sender=str((payload.get("sender") or {}).get("login", "")),
            )
            job_ids.append(self.jobs.submit(request, rerun=True).job_id)
        return Outcome("enqueued", detail={"job_ids": job_ids})

    def _apply(self, delivery: str, payload: dict[str, Any]) -> Outcome:
        """The "Apply proven fixes" button: enqueue the job that commits them."""
        run, repo = payload["check_run"], payload["repository"]
        sender = payload.get("sender") or {}
        if str(sender.get("type", "")) == "Bot":
            return Outcome("ignored", detail={"reason": "requested by a bot"})
        installation = _installation_id(payload)
        if installation is None:
            return Outcome("ignored", detail={"reason": "not delivered to an App installation"})
        pulls = [p for p in run.get("pull_requests") or [] if p["base"]["repo"]["id"] == repo["id"]]
        # a fork's pull request is not listed: the external_id (the job id) names it
        number = (
            int(pulls[0]["number"])
            if pulls
            else _number_from_external_id(str(run.get("external_id") or ""), int(repo["id"]))
        )
        if number is None:
            return Outcome("ignored", detail={"reason": "check run has no pull request"})
        login = str(sender.get("login", ""))
        association = "OWNER" if login.lower() == _owner(repo).lower() else ""
        request = ApplyRequest(
            installation_id=installation,
            repository_id=int(repo["id"]),
            owner=_owner(repo),
            repo=_name(repo),
            number=number,
            head_sha=str(run["head_sha"]),
            check_run_id=int(run["id"]),
            clone_url=str(repo["clone_url"]),
            app_slug=str(run["app"]["slug"]),
            sender=login,
            sender_id=int(sender.get("id") or 0),
            write_access=self.permissions.can_write(str(repo["full_name"]), login, association),
            delivery_id=delivery,
        )
        submitted = self.jobs.submit_apply(request)
        outcome = "enqueued" if submitted.outcome == "enqueued" else "duplicate_job"
        return Outcome(
            outcome, detail={"job_id": submitted.job_id, "write_access": request.write_access}
        )

    # --- issue_comment ---------------------------------------------------------------

    def issue_comment(self, delivery: str, payload: dict[str, Any]) -> Outcome:
        if payload["action"] != "created":
            return Outcome("ignored", detail={"reason": "only new comments carry commands"})
        comment = payload["comment"]
        issue = payload["issue"]
        sender = payload.get("sender") or {}
        parsed = _command(str(comment.get("body") or ""))
        if parsed is None:
            return Outcome("ignored", detail={"reason": "not a /provenfix command"})
        if not issue.get("pull_request"):
            return Outcome("ignored", detail={"reason": "commands work on pull requests only"})
        if str(sender.get("type", "")) == "Bot":
            return Outcome("ignored", detail={"reason": "comment by a bot"})
        repo = payload["repository"]
        login = str((comment.get("user") or sender).get("login", ""))
        association = str(comment.get("author_association") or "NONE")
        if not self.permissions.can_write(str(repo["full_name"]), login, association):
            log.info("command from %s (%s) on %s refused", login, association, repo["full_name"])
            return Outcome("refused", detail={"reason": f"{login} has no write access"})
        command, arg = parsed
        if command == "analyze":
            installation = _installation_id(payload)
            if installation is None:
                return Outcome("ignored", detail={"reason": "not delivered to an App installation"})
            target = self._target(
                payload, installation, int(issue["number"]), delivery, "issue_comment.analyze"
            )
            job_id = self.jobs.submit_resolve(target)
            self._acknowledge(payload, installation, "eyes")
            return Outcome("enqueued", detail={"job_id": job_id})
        if command == "ignore":
            if arg is None or not RULE_ID_RE.match(arg):
                return Outcome("ignored", detail={"reason": "usage: /provenfix ignore <rule-id>"})
            added = self.db.ignore_rule(int(repo["id"]), str(repo["full_name"]), arg, login)
            installation = _installation_id(payload)
            if installation is not None:
                self._acknowledge(payload, installation, "+1")
            return Outcome("recorded", detail={"rule": arg, "new": added})
        return Outcome("ignored", detail={"reason": f"unknown command {command!r}"})

    def _acknowledge(self, payload: dict[str, Any], installation: int, content: str) -> None:
        repo = payload["repository"]
        self.jobs.submit_reaction(
            CommentReaction(
                installation_id=installation,
                owner=_owner(repo),
                repo=_name(repo),
                comment_id=int(payload["comment"]["id"]),
                content=content,
            )
        )

    def _target(
        self, payload: dict[str, Any], installation: int, number: int, delivery: str, trigger: str
    ) -> PullRequestTarget:
        repo = payload["repository"]
        return PullRequestTarget(
            installation_id=installation,
            repository_id=int(repo["id"]),
            owner=_owner(repo),
            repo=_name(repo),
            number=number,
            default_branch=str(repo["default_branch"]),
            clone_url=str(repo["clone_url"]),
            trigger=trigger,
            delivery_id=delivery,
            sender=str((payload.get("sender") or {}).get("login", "")),
        )

    # --- installation ----------------------------------------------------------------

    def installation(self, delivery: str, payload: dict[str, Any]) -> Outcome:
        action = str(payload["action"])
        with self.db.session() as session:
            inst = record_installation(
                session, payload["installation"], action, payload.get("repositories") or []
            )
            detail = {"installation": inst.id, "action": action}
        return Outcome("recorded", detail=detail)

    def installation_repositories(self, delivery: str, payload: dict[str, Any]) -> Outcome:
        installation = payload["installation"]
        iid = int(installation["id"])
        added = payload.get("repositories_added") or []
        removed = payload.get("repositories_removed") or []
        with self.db.session() as session:
            record_installation(session, installation, "updated")
            for repo, active in [*((r, True) for r in added), *((r, False) for r in removed)]:
                upsert_repository(
                    session,
                    int(repo["id"]),
                    str(repo["full_name"]),
                    installation_id=iid,
                    private=bool(repo.get("private", False)),
                    active=active,
                )
        return Outcome("recorded", detail={"added": len(added), "removed": len(removed)})

    def ping(self, delivery: str, payload: dict[str, Any]) -> Outcome:
        return Outcome("pong", 200, detail={"zen": payload.get("zen", "")})


def _owner(repo: Mapping[str, Any]) -> str:
    """The owner's login, from `full_name` (authoritative; the nested owner object is not
    sent in every event's abbreviated repository)."""
    owner, sep, _ = str(repo["full_name"]).partition("/")
    if not sep or not owner:
        raise ValueError(f"repository.full_name {repo['full_name']!r} is not OWNER/NAME")
    return owner


def _name(repo: Mapping[str, Any]) -> str:
    return str(repo["full_name"]).partition("/")[2] or str(repo["name"])


def _installation_id(payload: Mapping[str, Any]) -> int | None:
    installation = payload.get("installation")
    if not isinstance(installation, dict) or "id" not in installation:
        return None
    return int(installation["id"])


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
    match = re.fullmatch(rf"provenfix-{repository_id}-(\d+)-[0-9a-f]{{7,64}}", external_id)
    return int(match[1]) if match else None
