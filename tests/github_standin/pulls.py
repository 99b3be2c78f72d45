"""Pull requests, their changed files and their commits, as git has them."""

from __future__ import annotations

import base64
from typing import Any

from werkzeug.wrappers import Request

from .objects import ApiObjects
from .records import EXAMPLE_REPO, Answer, Json, Values


class PullsApi(ApiObjects):
    """pulls/get, pulls/list-files and pulls/list-commits."""

    def _op_pulls_get(self, request: Request, values: Values, body: Json) -> Answer:
        pull = self._pull(values["owner"], values["repo"], values["pull_number"])
        return 200, self._pull_object(pull), {}

    def _op_pulls_list_files(self, request: Request, values: Values, body: Json) -> Answer:
        pull = self._pull(values["owner"], values["repo"], values["pull_number"])
        _, head, _ = self._pull_state(pull)
        full = pull.repo.full_name
        items = []
        for f in self._diff(pull):
            ref = head if f.status != "removed" else self._pull_state(pull)[2]
            entry: dict[str, Any] = {
                "sha": f.sha,
                "filename": f.filename,
                "status": f.status,
                "additions": f.additions,
                "deletions": f.deletions,
                "changes": f.additions + f.deletions,
                "blob_url": f"{self.url}/{full}/blob/{ref}/{f.filename}",
                "raw_url": f"{self.url}/{full}/raw/{ref}/{f.filename}",
                "contents_url": f"{self.url}/repos/{full}/contents/{f.filename}?ref={ref}",
            }
            if f.patch is not None:
                entry["patch"] = f.patch
            if f.previous_filename is not None:
                entry["previous_filename"] = f.previous_filename
            items.append(entry)
        chunk, headers = self._paginate(request, items, values, cap=3000)
        return 200, chunk, headers

    def _op_pulls_list_commits(self, request: Request, values: Values, body: Json) -> Answer:
        pull = self._pull(values["owner"], values["repo"], values["pull_number"])
        full = pull.repo.full_name
        template = self.contract.component_example("commit-items")[0]
        items = []
        for c in self._pull_commits(pull):
            obj = self._rewrite(template, {EXAMPLE_REPO: full})
            for key in ("files", "stats"):
                obj.pop(key, None)
            api = f"{self.url}/repos/{full}/commits/{c.sha}"
            obj.update(
                sha=c.sha,
                node_id=base64.b64encode(f"06:Commit{c.sha}".encode()).decode(),
                url=api,
                html_url=f"{self.url}/{full}/commit/{c.sha}",
                comments_url=f"{api}/comments",
                author=None,
                committer=None,
                parents=[
                    {
                        "sha": p,
                        "url": f"{self.url}/repos/{full}/commits/{p}",
                        "html_url": f"{self.url}/{full}/commit/{p}",
                    }
                    for p in c.parents
                ],
            )
            obj["commit"].update(
                url=f"{self.url}/repos/{full}/git/commits/{c.sha}",
                message=c.message,
                author={"name": c.author_name, "email": c.author_email, "date": c.author_date},
                committer={
                    "name": c.committer_name,
                    "email": c.committer_email,
                    "date": c.committer_date,
                },
                tree={"sha": c.tree, "url": f"{self.url}/repos/{full}/git/trees/{c.tree}"},
                comment_count=0,
            )
            obj["commit"]["verification"] = {
                "verified": False,
                "reason": "unsigned",
                "payload": None,
                "signature": None,
                "verified_at": None,
            }
            items.append(obj)
        chunk, headers = self._paginate(request, items, values, cap=250)
        return 200, chunk, headers
