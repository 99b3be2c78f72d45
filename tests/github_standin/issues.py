"""Issue comments on pull requests, and reactions to them."""

from __future__ import annotations

import base64
import copy

from werkzeug.wrappers import Request

from .objects import ApiObjects
from .records import EXAMPLE_REPO, Answer, ApiError, Json, Stored, Values, now_iso


class IssuesApi(ApiObjects):
    """issues/create-comment, issues/list-comments and reactions/create-for-issue-comment."""

    def _op_issues_create_comment(self, request: Request, values: Values, body: Json) -> Answer:
        pull = self._pull(values["owner"], values["repo"], values["issue_number"])
        comment_id = self._next_id()
        full = pull.repo.full_name
        data = self._rewrite(
            self.contract.component_example("issue-comment"),
            {f"{EXAMPLE_REPO}/issues/1347": f"{full}/issues/{pull.number}", EXAMPLE_REPO: full},
        )
        data.update(
            id=comment_id,
            node_id=base64.b64encode(f"012:IssueComment{comment_id}".encode()).decode(),
            url=f"{self.url}/repos/{full}/issues/comments/{comment_id}",
            html_url=f"{self.url}/{full}/pull/{pull.number}#issuecomment-{comment_id}",
            issue_url=f"{self.url}/repos/{full}/issues/{pull.number}",
            body=body["body"],
            user=self._bot(),
            created_at=now_iso(),
            updated_at=now_iso(),
            author_association="NONE",
            pin=None,
            minimized=None,
        )
        self._issue_comments.append(Stored(self._key(pull), data))
        return 201, data, {}

    def _op_issues_list_comments(self, request: Request, values: Values, body: Json) -> Answer:
        pull = self._pull(values["owner"], values["repo"], values["issue_number"])
        items = [copy.deepcopy(s.data) for s in self._issue_comments if s.key == self._key(pull)]
        if values.get("since"):
            items = [c for c in items if c["updated_at"] >= values["since"]]
        chunk, headers = self._paginate(request, items, values)
        return 200, chunk, headers

    def _op_reactions_create_for_issue_comment(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        if not any(
            s.key[:2] == (values["owner"], values["repo"]) and s.data["id"] == values["comment_id"]
            for s in self._issue_comments
        ):
            raise ApiError(404, "Not Found")
        for stored in self._reactions:
            if (
                stored.data["_comment"] == values["comment_id"]
                and stored.data["content"] == body["content"]
            ):
                return 200, {k: v for k, v in stored.data.items() if k != "_comment"}, {}
        reaction = self._rewrite(self.contract.component_example("reaction"))
        reaction_id = self._next_id()
        reaction.update(
            id=reaction_id,
            content=body["content"],
            user=self._bot(),
            created_at=now_iso(),
            node_id=base64.b64encode(f"08:Reaction{reaction_id}".encode()).decode(),
        )
        self._reactions.append(
            Stored(
                (values["owner"], values["repo"], 0), {**reaction, "_comment": values["comment_id"]}
            )
        )
        return 201, reaction, {}
