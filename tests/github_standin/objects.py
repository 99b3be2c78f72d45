"""The API objects the stand-in answers with (users, repositories, pull requests, the
app, check runs), filled from its state into the contract's examples, and the pages of
list answers."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request

from .records import EXAMPLE_REPO, CheckRunRecord, Json, PullRecord, RepoRecord, now_iso
from .state import StandInState


class ApiObjects(StandInState):
    """Builders of the objects in the stand-in's answers (and in its webhook payloads)."""

    def _rewrite(self, obj: Json, replacements: dict[str, str] | None = None) -> Json:
        text = json.dumps(obj)
        for old, new in (replacements or {}).items():
            text = text.replace(old, new)
        text = text.replace("https://api.github.com", self.url)
        text = text.replace("https://github.com", self.url)
        return json.loads(text)

    def _user(self, login: str, *, bot: bool = False) -> dict[str, Any]:
        user = self.contract.component_example("pull-request-review")["user"]
        user = self._rewrite(user, {"/octocat": f"/{login}"})
        user.update(
            login=login,
            id=abs(hash(login)) % 10**8,
            type="Bot" if bot else "User",
            node_id=base64.b64encode(f"04:User{login}".encode()).decode(),
        )
        return dict(user)

    def _reaction_rollup(self, comment_id: int, url: str) -> dict[str, Any]:
        """A review comment's `reactions`: the count of each reaction on it."""
        names = ("+1", "-1", "laugh", "confused", "heart", "hooray", "eyes", "rocket")
        counts = {name: 0 for name in names}
        for comment, content, _, _ in self._comment_reactions:
            if comment == comment_id:
                counts[content] += 1
        return {"url": url, "total_count": sum(counts.values()), **counts}

    def _bot(self) -> dict[str, Any]:
        return self._user(self.bot_login, bot=True)

    def _repo_object(self, repo: RepoRecord, template: dict[str, Any]) -> dict[str, Any]:
        obj = self._rewrite(template, {EXAMPLE_REPO: repo.full_name})
        for key in ("source", "parent", "template_repository", "organization"):
            obj.pop(key, None)
        obj.update(
            id=repo.id,
            node_id=base64.b64encode(f"010:Repository{repo.id}".encode()).decode(),
            name=repo.name,
            full_name=repo.full_name,
            owner=self._user(repo.owner),
            private=True,
            fork=False,
            html_url=f"{self.url}/{repo.full_name}",
            url=f"{self.url}/repos/{repo.full_name}",
            clone_url=self.git_url(repo.owner, repo.name),
            default_branch=repo.default_branch,
            language="Python",
        )
        return dict(obj)

    def _full_repository(self, repo: RepoRecord) -> dict[str, Any]:
        template = self.contract.component_example("full-repository-default-response")
        return self._repo_object(repo, template)

    def _pull_object(self, pull: PullRecord) -> dict[str, Any]:
        repo = pull.repo
        base_sha, head_sha, _ = self._pull_state(pull)
        files = self._diff(pull)
        template = self.contract.component_example("pull-request")
        obj = self._rewrite(
            template,
            {
                f"{EXAMPLE_REPO}/pulls/1347": f"{repo.full_name}/pulls/{pull.number}",
                f"{EXAMPLE_REPO}/pull/1347": f"{repo.full_name}/pull/{pull.number}",
                f"{EXAMPLE_REPO}/issues/1347": f"{repo.full_name}/issues/{pull.number}",
                EXAMPLE_REPO: repo.full_name,
            },
        )
        repo_obj = self._repo_object(repo, template["head"]["repo"])
        head_repo = repo_obj
        if pull.fork_owner is not None:
            fork = RepoRecord(pull.fork_owner, repo.name, repo.path, repo.default_branch, -repo.id)
            head_repo = self._repo_object(fork, template["head"]["repo"])
            head_repo.update(id=repo.id + 10**6, fork=True)
        user = self._user(pull.author)
        sides = (("head", pull.head, head_sha, head_repo), ("base", pull.base, base_sha, repo_obj))
        for side, ref, sha, side_repo in sides:
            obj[side] = {
                "label": f"{side_repo['owner']['login']}:{ref}",
                "ref": ref,
                "sha": sha,
                "user": user,
                "repo": side_repo,
            }
        obj.update(
            id=pull.id,
            number=pull.number,
            state=pull.state,
            title=pull.title,
            body=pull.body,
            user=user,
            created_at=pull.created_at,
            updated_at=now_iso(),
            closed_at=None,
            merged_at=None,
            merge_commit_sha=None,
            assignee=None,
            assignees=[],
            requested_reviewers=[],
            requested_teams=[],
            labels=[],
            milestone=None,
            draft=False,
            merged=False,
            mergeable=True,
            rebaseable=True,
            mergeable_state="clean",
            merged_by=None,
            comments=sum(1 for s in self._issue_comments if s.key == self._key(pull)),
            review_comments=sum(1 for s in self._comments if s.key == self._key(pull)),
            commits=len(self._pull_commits(pull)),
            additions=sum(f.additions for f in files),
            deletions=sum(f.deletions for f in files),
            changed_files=len(files),
            author_association="OWNER",
            auto_merge=None,
            active_lock_reason=None,
        )
        return dict(obj)

    def _webhook_repo(self, repo: RepoRecord) -> dict[str, Any]:
        return {
            "id": repo.id,
            "name": repo.name,
            "full_name": repo.full_name,
            "private": True,
            "clone_url": self.git_url(repo.owner, repo.name),
            "html_url": f"{self.url}/{repo.full_name}",
            "url": f"{self.url}/repos/{repo.full_name}",
            "default_branch": repo.default_branch,
        }

    def _app_object(self) -> dict[str, Any]:
        """The app (GitHub's integration object)."""
        app = self._rewrite(
            self.contract.component_example("integration"),
            {"/apps/octoapp": f"/apps/{self.app_slug}"},
        )
        app.update(
            id=self.app_id,
            slug=self.app_slug,
            name="ProvenFix",
            owner=self._user("provenfix-org"),
            permissions={
                "checks": "write",
                "contents": "read",
                "pull_requests": "write",
                "issues": "write",
                "metadata": "read",
            },
            events=["pull_request", "issue_comment", "check_run", "check_suite"],
        )
        return dict(app)

    def _check_run_view(self, run: CheckRunRecord) -> dict[str, Any]:
        data = copy.deepcopy(run.data)
        owner, name, _ = run.key
        prs = []
        for pull in self._pulls.values():
            if (pull.repo.owner, pull.repo.name) != (owner, name) or pull.state != "open":
                continue
            if pull.fork_owner is not None:  # GitHub lists no pull request from a fork here
                continue
            base, head, _ = self._pull_state(pull)
            if head != data["head_sha"]:
                continue
            repo_ref = {
                "id": pull.repo.id,
                "url": f"{self.url}/repos/{pull.repo.full_name}",
                "name": pull.repo.name,
            }
            prs.append(
                {
                    "id": pull.id,
                    "number": pull.number,
                    "url": f"{self.url}/repos/{pull.repo.full_name}/pulls/{pull.number}",
                    "head": {"ref": pull.head, "sha": head, "repo": repo_ref},
                    "base": {"ref": pull.base, "sha": base, "repo": repo_ref},
                }
            )
        data["pull_requests"] = prs
        return data

    def _paginate(
        self, request: Request, items: list[Any], values: dict[str, Any], *, cap: int | None = None
    ) -> tuple[list[Any], dict[str, str]]:
        if cap is not None:
            items = items[:cap]
        per_page = max(
            1, min(int(values.get("per_page") or self.default_per_page), self.max_per_page)
        )
        page = max(1, int(values.get("page") or 1))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        links = []

        def link(n: int, rel: str) -> str:
            query = {**request.args.to_dict(), "page": str(n)}
            return f'<{self.url}{request.path}?{urlencode(query)}>; rel="{rel}"'

        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links += [link(1, "first"), link(page - 1, "prev")]
        return chunk, ({"Link": ", ".join(links)} if links else {})
