"""What maintainers do with review comments, in the stand-in: reactions on them
(reactions/list-for-pull-request-review-comment; each comment's `reactions` counts
them), replies (pulls/create-reply-for-review-comment), a collaborator's permission
(repos/get-collaborator-permission-level), and the webhooks those actions send:
pull_request_review_thread resolved/unresolved, pull_request_review_comment created,
pull_request closed (optionally merged)."""

from __future__ import annotations

import base64
import copy
from typing import Any

from werkzeug.wrappers import Request

from . import webhooks
from .records import Answer, ApiError, Json, PullRecord, Stored, Values, now_iso
from .reviews import ReviewsApi
from .webhook_payloads import WebhookPayloads


class FeedbackApi(ReviewsApi, WebhookPayloads):
    """Maintainers' gestures on review comments, and the collaborator permission API."""

    # --- test helpers --------------------------------------------------------------------

    def repository_id(self, owner: str, name: str) -> int:
        with self._lock:
            return self._repo(owner, name).id

    def set_permission(self, owner: str, name: str, login: str, permission: str) -> None:
        """`login`'s permission on the repository: admin, write, read or none."""
        with self._lock:
            self._permissions[(owner, name, login)] = permission

    def react(self, comment_id: int, content: str, login: str, *, bot: bool = False) -> None:
        """`login` reacts to a review comment (GitHub sends no webhook for it)."""
        with self._lock:
            self._comment(comment_id)
            self._comment_reactions.append((comment_id, content, login, bot))

    def thread_event(self, comment_id: int, action: str, sender: str) -> dict[str, Any]:
        """`sender` resolves (or unresolves) the review thread of `comment_id`; the
        `pull_request_review_thread` payload GitHub sends."""
        with self._lock:
            top = self._comment(comment_id)
            pull = self._pull(*top.key)
            thread = [
                top,
                *(s for s in self._comments if s.data.get("in_reply_to_id") == comment_id),
            ]
            payload = self._payload("pull_request_review_thread", f"{action}.payload.json", pull)
            views = [self._comment_view(s) for s in thread]
            for view in views:  # the webhook's thread comments always carry these
                view.setdefault("line", view.get("original_line"))
                view.setdefault("position", view.get("original_position"))
            payload["thread"]["comments"] = views
            payload["sender"] = self._user(sender)
            return self._checked("pull_request_review_thread", action, payload)

    def reply_event(
        self, comment_id: int, body: str, login: str, association: str = "MEMBER"
    ) -> dict[str, Any]:
        """`login` replies `body` in the thread of `comment_id`; the
        `pull_request_review_comment` created payload."""
        with self._lock:
            top = self._comment(comment_id)
            pull = self._pull(*top.key)
            reply = self._reply(pull, top, body, self._user(login), association)
            payload = self._payload("pull_request_review_comment", "created.payload.json", pull)
            view = self._comment_view(reply)
            view.setdefault("line", view.get("original_line"))
            view.setdefault("position", view.get("original_position"))
            payload["comment"] = view
            payload["sender"] = self._user(login)
            return self._checked("pull_request_review_comment", "created", payload)

    def close_pull(self, owner: str, name: str, number: int, *, merged: bool) -> dict[str, Any]:
        """Close (or merge) the pull request; the `pull_request` closed payload."""
        with self._lock:
            pull = self._pull(owner, name, number)
            pull.state = "closed"
            payload = self._pull_payload(pull, "opened")
            payload["action"] = "closed"
            pr = payload["pull_request"]
            pr.update(state="closed", closed_at=now_iso(), merged=merged)
            if merged:
                pr.update(merged_at=now_iso(), merged_by=self._user(owner))
            return self._checked("pull_request", "closed", payload)

    # --- operations --------------------------------------------------------------------------

    def _op_reactions_list_for_pull_request_review_comment(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        stored = self._comment(values["comment_id"])
        if stored.key[:2] != (values["owner"], values["repo"]):
            raise ApiError(404, "Not Found")
        wanted = values.get("content")
        items = []
        for index, (comment, content, login, bot) in enumerate(self._comment_reactions):
            if comment != values["comment_id"] or (wanted and content != wanted):
                continue
            reaction = self._rewrite(self.contract.component_example("reaction"))
            reaction.update(
                id=10_000 + index,
                node_id=base64.b64encode(f"08:Reaction{index}".encode()).decode(),
                content=content,
                user=self._user(login, bot=bot),
                created_at=now_iso(),
            )
            items.append(reaction)
        chunk, headers = self._paginate(request, items, values)
        return 200, chunk, headers

    def _op_pulls_create_reply_for_review_comment(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        pull = self._pull(values["owner"], values["repo"], values["pull_number"])
        top = self._comment(values["comment_id"])
        if top.key != self._key(pull):
            raise ApiError(404, "Not Found")
        reply = self._reply(pull, top, body["body"], self._bot(), "NONE")
        return 201, self._comment_view(reply), {}

    def _op_repos_get_collaborator_permission_level(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        repo = self._repo(values["owner"], values["repo"])
        permission = self._permissions.get((repo.owner, repo.name, values["username"]))
        if permission is None and values["username"] != repo.owner:
            raise ApiError(404, f"{values['username']} is not a user")
        permission = permission or "admin"
        answer = self._rewrite(
            self.contract.component_example(
                "repository-collaborator-permission-response-if-user-has-admin-permissions"
            )
        )
        answer.update(permission=permission, role_name=permission)
        answer["user"].update(login=values["username"], role_name=permission)
        return 200, answer, {}

    # --- helpers -----------------------------------------------------------------------------

    def _comment(self, comment_id: int) -> Stored:
        for stored in self._comments:
            if stored.data["id"] == comment_id:
                return stored
        raise ApiError(404, "Not Found")

    def _reply(
        self, pull: PullRecord, top: Stored, text: str, user: dict[str, Any], association: str
    ) -> Stored:
        review = self._new_review(pull, top.data["commit_id"], "", "COMMENT")
        data = self._new_comment(
            pull, top.data["commit_id"], {"body": text}, review["id"], None, None, top.data
        )
        data.update(user=user, author_association=association, updated_at=now_iso())
        stored = Stored(self._key(pull), data)
        self._comments.append(stored)
        return stored

    def _payload(self, event: str, example: str, pull: PullRecord) -> dict[str, Any]:
        payload = webhooks.retarget(
            webhooks.example(event, example), pull.repo.full_name, pull.number, self.url
        )
        # these events carry a shorter pull request object: the example's keys, refilled
        current = self._pull_payload(pull, "opened")["pull_request"]
        shown = payload["pull_request"]
        shown.update({k: copy.deepcopy(v) for k, v in current.items() if k in shown})
        shown["state"] = pull.state
        payload["repository"].update(self._webhook_repo(pull.repo))
        payload["installation"] = {
            "id": self.installation_id,
            "node_id": base64.b64encode(
                f"023:Installation{self.installation_id}".encode()
            ).decode(),
        }
        return dict(payload)

    def _checked(self, event: str, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        for problem in webhooks.validate_payload(event, action, payload):
            self._violate("WEBHOOK", f"{event}.{action}", f"stand-in payload {problem}")
        return payload
