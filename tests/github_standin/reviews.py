"""Pull request reviews and review comments: creating them (anchored by GitHub's rules,
see anchoring.py), replies, edits, deletion, and listing comments as GitHub shows them
after the head moved (kept on their lines, or outdated)."""

from __future__ import annotations

import base64
import copy
from typing import Any

from werkzeug.wrappers import Request

from . import gitdata
from .anchoring import check_anchor, diff_position
from .objects import ApiObjects
from .records import EXAMPLE_REPO, Answer, ApiError, Json, PullRecord, Stored, Values, now_iso


class ReviewsApi(ApiObjects):
    """pulls/*review*: reviews and review comments."""

    def _op_pulls_create_review(self, request: Request, values: Values, body: Json) -> Answer:
        pull = self._pull(values["owner"], values["repo"], values["pull_number"])
        commit = self._pull_commit(pull, body.get("commit_id"))
        event = body.get("event")
        if event in ("COMMENT", "REQUEST_CHANGES") and not body.get("body"):
            raise ApiError(
                422, "Unprocessable Entity", [f"Review body is required for event {event}"]
            )
        anchors = []
        for spec in body.get("comments", []):
            error, hunk, diff = check_anchor(self._diff(pull, commit), spec)
            if error is not None:
                raise ApiError(422, "Unprocessable Entity", [error])
            anchors.append((spec, hunk, diff))
        review = self._new_review(pull, commit, body.get("body", ""), event)
        for spec, hunk, diff in anchors:
            comment = self._new_comment(pull, commit, spec, review["id"], hunk, diff)
            self._comments.append(Stored(self._key(pull), comment))
        return 200, review, {}

    def _new_review(
        self, pull: PullRecord, commit: str, text: str, event: str | None
    ) -> dict[str, Any]:
        review_id = self._next_id()
        full = pull.repo.full_name
        html = f"{self.url}/{full}/pull/{pull.number}#pullrequestreview-{review_id}"
        pull_url = f"{self.url}/repos/{full}/pulls/{pull.number}"
        state = {
            "APPROVE": "APPROVED",
            "REQUEST_CHANGES": "CHANGES_REQUESTED",
            "COMMENT": "COMMENTED",
        }.get(event or "", "PENDING")
        review = self._rewrite(self.contract.component_example("pull-request-review"))
        review.update(
            id=review_id,
            node_id=base64.b64encode(f"017:PullRequestReview{review_id}".encode()).decode(),
            user=self._bot(),
            body=text,
            state=state,
            html_url=html,
            pull_request_url=pull_url,
            _links={"html": {"href": html}, "pull_request": {"href": pull_url}},
            commit_id=commit,
            author_association="NONE",
        )
        if state == "PENDING":
            review.pop("submitted_at", None)
        else:
            review["submitted_at"] = now_iso()
        self._reviews.append(Stored(self._key(pull), review))
        return dict(review)

    def _op_pulls_list_reviews(self, request: Request, values: Values, body: Json) -> Answer:
        pull = self._pull(values["owner"], values["repo"], values["pull_number"])
        items = [copy.deepcopy(s.data) for s in self._reviews if s.key == self._key(pull)]
        chunk, headers = self._paginate(request, items, values)
        return 200, chunk, headers

    def _op_pulls_list_review_comments(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        pull = self._pull(values["owner"], values["repo"], values["pull_number"])
        items = [self._comment_view(s) for s in self._comments if s.key == self._key(pull)]
        since = values.get("since")
        sort = "updated_at" if values.get("sort") == "updated" else "created_at"
        if since:
            items = [c for c in items if c["updated_at"] >= since]
        items.sort(key=lambda c: (c[sort], c["id"]), reverse=values.get("direction") == "desc")
        chunk, headers = self._paginate(request, items, values)
        return 200, chunk, headers

    def _op_pulls_create_review_comment(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        pull = self._pull(values["owner"], values["repo"], values["pull_number"])
        key = self._key(pull)
        if "in_reply_to" in body:
            parent = next(
                (s for s in self._comments if s.key == key and s.data["id"] == body["in_reply_to"]),
                None,
            )
            if parent is None:
                raise ApiError(404, "Not Found")
            top = parent.data.get("in_reply_to_id")
            if top is not None:
                parent = next(s for s in self._comments if s.data["id"] == top)
            review = self._new_review(pull, parent.data["commit_id"], "", "COMMENT")
            comment = self._new_comment(
                pull, parent.data["commit_id"], body, review["id"], None, None, reply_to=parent.data
            )
            self._comments.append(Stored(key, comment))
            return 201, comment, {}
        commit = self._pull_commit(pull, body["commit_id"])
        error, hunk, diff = check_anchor(self._diff(pull, commit), body)
        if error is not None:
            field_name = "pull_request_review_thread." + (
                "path" if error.startswith("Path") else "start_line" if "start" in error else "line"
            )
            raise ApiError(
                422,
                "Validation Failed",
                [
                    {
                        "resource": "PullRequestReviewComment",
                        "code": "custom",
                        "field": field_name,
                        "message": error,
                    }
                ],
            )
        review = self._new_review(pull, commit, "", "COMMENT")
        comment = self._new_comment(pull, commit, body, review["id"], hunk, diff)
        self._comments.append(Stored(key, comment))
        return 201, comment, {}

    def _find_comment(self, values: dict[str, Any]) -> Stored:
        for stored in self._comments:
            if (
                stored.key[:2] == (values["owner"], values["repo"])
                and stored.data["id"] == values["comment_id"]
            ):
                return stored
        raise ApiError(404, "Not Found")

    def _op_pulls_get_review_comment(self, request: Request, values: Values, body: Json) -> Answer:
        return 200, self._comment_view(self._find_comment(values)), {}

    def _op_pulls_update_review_comment(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        stored = self._find_comment(values)
        if stored.data["user"]["login"] != self.bot_login:
            raise ApiError(403, "Resource not accessible by integration")
        stored.data.update(body=body["body"], updated_at=now_iso())
        return 200, self._comment_view(stored), {}

    def _op_pulls_delete_review_comment(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        stored = self._find_comment(values)
        self._comments.remove(stored)
        return 204, None, {}

    def _pull_commit(self, pull: PullRecord, commit_id: str | None) -> str:
        _, head, _ = self._pull_state(pull)
        if commit_id is None:
            return head
        if commit_id not in {c.sha for c in self._pull_commits(pull)}:
            raise ApiError(
                422, "Unprocessable Entity", ["commit_id is not part of the pull request"]
            )
        return commit_id

    def _new_comment(
        self,
        pull: PullRecord,
        commit: str,
        spec: dict[str, Any],
        review_id: int,
        hunk: gitdata.Hunk | None,
        diff: gitdata.DiffFile | None,
        reply_to: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        template = self.contract.component_example(
            "pull-request-review-comment-example-for-a-multi-line-comment"
        )
        repo = pull.repo
        comment_id = self._next_id()
        data = self._rewrite(
            template,
            {
                f"{EXAMPLE_REPO}/pulls/1": f"{repo.full_name}/pulls/{pull.number}",
                EXAMPLE_REPO: repo.full_name,
            },
        )
        api = f"{self.url}/repos/{repo.full_name}/pulls/comments/{comment_id}"
        html = f"{self.url}/{repo.full_name}/pull/{pull.number}#discussion_r{comment_id}"
        data.update(
            id=comment_id,
            node_id=base64.b64encode(f"024:PullRequestReviewComment{comment_id}".encode()).decode(),
            url=api,
            html_url=html,
            pull_request_url=f"{self.url}/repos/{repo.full_name}/pulls/{pull.number}",
            _links={
                "self": {"href": api},
                "html": {"href": html},
                "pull_request": {"href": f"{self.url}/repos/{repo.full_name}/pulls/{pull.number}"},
            },
            pull_request_review_id=review_id,
            user=self._bot(),
            body=spec["body"],
            created_at=now_iso(),
            updated_at=now_iso(),
            author_association="NONE",
            commit_id=commit,
            original_commit_id=commit,
        )
        for key in (
            "in_reply_to_id",
            "start_line",
            "original_start_line",
            "start_side",
            "line",
            "original_line",
            "side",
            "position",
            "original_position",
        ):
            data.pop(key, None)
        if reply_to is not None:
            for key in (
                "path",
                "diff_hunk",
                "line",
                "original_line",
                "side",
                "start_line",
                "original_start_line",
                "start_side",
                "position",
                "original_position",
                "commit_id",
                "original_commit_id",
                "subject_type",
            ):
                if key in reply_to:
                    data[key] = reply_to[key]
            data["in_reply_to_id"] = reply_to["id"]
            return dict(data)
        data["path"] = spec["path"]
        if spec.get("subject_type") == "file" or diff is None:
            data.update(subject_type="file", diff_hunk="")
            return dict(data)
        side = spec.get("side", "RIGHT")
        line = spec.get("line")
        if line is None:  # deprecated position
            data.update(
                position=spec["position"],
                original_position=spec["position"],
                diff_hunk=diff.patch or "",
            )
            return dict(data)
        position = diff_position(diff, line, side)
        data.update(
            subject_type="line",
            side=side,
            line=line,
            original_line=line,
            position=position or 1,
            original_position=position or 1,
            diff_hunk=hunk.diff_hunk_to(line, side) if hunk is not None else "",
        )
        if "start_line" in spec:
            start_side = spec.get("start_side", side)
            data.update(
                start_line=spec["start_line"],
                original_start_line=spec["start_line"],
                start_side=side if start_side == "side" else start_side,
            )
        else:
            data.update(start_line=None, original_start_line=None, start_side=None)
        return dict(data)

    def _comment_view(self, stored: Stored) -> dict[str, Any]:
        """The comment as GitHub shows it now: moved to the current head, or outdated."""
        data = copy.deepcopy(stored.data)
        # GitHub lists each comment with the counts of its reactions
        data["reactions"] = self._reaction_rollup(data["id"], data["url"] + "/reactions")
        pull = self._pulls.get(stored.key)
        if pull is None or data.get("original_line") is None:
            return data
        _, head, _ = self._pull_state(pull)
        original = data["original_commit_id"]
        if original == head:
            return data
        path = data["path"]
        start = data.get("original_start_line") or data["original_line"]
        end = data["original_line"]
        before = (gitdata.read_blob(pull.repo.path, original, path) or b"").splitlines()
        after = (gitdata.read_blob(pull.repo.path, head, path) or b"").splitlines()
        files = {f.filename: f for f in self._diff(pull)}
        diff = files.get(path)
        side = data.get("side") or "RIGHT"
        same = before[start - 1 : end] == after[start - 1 : end] and len(after) >= end
        hunk = diff.hunk_for(end, side) if diff is not None else None
        if same and diff is not None and hunk is not None and diff.hunk_for(start, side) is hunk:
            data.update(commit_id=head, position=diff_position(diff, end, side) or 1)
        else:
            # outdated: GitHub answers `line: null`, which its own contract does not allow
            # (an integer); the stand-in leaves the keys out instead
            data.pop("line", None)
            data.pop("position", None)
            data["start_line"] = None
        return data
