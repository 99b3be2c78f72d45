"""Repositories and their contents, read out of the stand-in's git repositories."""

from __future__ import annotations

import base64
from typing import Any

from werkzeug.wrappers import Request

from . import gitdata
from .objects import ApiObjects
from .records import Answer, ApiError, Json, RepoRecord, Values


class ReposApi(ApiObjects):
    """repos/get and repos/get-content."""

    def _op_repos_get(self, request: Request, values: Values, body: Json) -> Answer:
        return 200, self._full_repository(self._repo(values["owner"], values["repo"])), {}

    def _op_repos_get_content(self, request: Request, values: Values, body: Json) -> Answer:
        repo = self._repo(values["owner"], values["repo"])
        ref = request.args.get("ref") or repo.default_branch
        sha = self._sha(repo, ref)
        path = values["path"].strip("/")
        entry = gitdata.tree_entry(repo.path, sha, path) if path else None
        if path and entry is None:
            raise ApiError(404, "Not Found")
        if entry is None or entry.kind == "tree":
            items = [
                self._content_item(repo, ref, e) for e in gitdata.list_tree(repo.path, sha, path)
            ]
            return 200, items, {}
        if "raw" in request.headers.get("Accept", ""):
            raise ApiError(415, "the stand-in serves contents as JSON only")
        item = self._content_item(repo, ref, entry)
        if entry.kind == "blob" and entry.mode != "120000":
            blob = gitdata.read_blob(repo.path, sha, path) or b""
            encoded = base64.b64encode(blob).decode()
            item.update(
                type="file",
                encoding="base64",
                content="\n".join(encoded[i : i + 60] for i in range(0, len(encoded), 60)) + "\n",
            )
        elif entry.mode == "120000":
            target = (gitdata.read_blob(repo.path, sha, path) or b"").decode()
            item.update(type="symlink", target=target)
        else:
            item.update(type="submodule", submodule_git_url="", download_url=None)
        return 200, item, {}

    def _content_item(self, repo: RepoRecord, ref: str, entry: gitdata.TreeEntry) -> dict[str, Any]:
        api = f"{self.url}/repos/{repo.full_name}/contents/{entry.path}?ref={ref}"
        html = f"{self.url}/{repo.full_name}/blob/{ref}/{entry.path}"
        objects = "trees" if entry.kind == "tree" else "blobs"
        git = f"{self.url}/repos/{repo.full_name}/git/{objects}/{entry.sha}"
        kind = {"tree": "dir", "commit": "submodule"}.get(entry.kind, "file")
        if entry.mode == "120000":
            kind = "symlink"
        return {
            "type": kind,
            "size": entry.size,
            "name": entry.path.rsplit("/", 1)[-1],
            "path": entry.path,
            "sha": entry.sha,
            "url": api,
            "git_url": git,
            "html_url": html,
            "download_url": None
            if kind == "dir"
            else f"{self.url}/raw/{repo.full_name}/{ref}/{entry.path}",
            "_links": {"self": api, "git": git, "html": html},
        }
