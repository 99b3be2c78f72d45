"""What the stand-in knows, shared by all its API areas: the app and its installation,
the repositories and pull requests (their state read out of real git), the issued tokens,
and everything stored or recorded so far, all behind one lock."""

from __future__ import annotations

import json
import threading
from functools import cache
from typing import Any

from werkzeug.serving import BaseWSGIServer

from . import gitdata, webhooks
from .auth import key_pair
from .contract import Contract
from .records import (
    MAX_PER_PAGE,
    ApiError,
    CheckRunRecord,
    Injection,
    OAuthGrant,
    PullRecord,
    RepoRecord,
    RequestRecord,
    Stored,
    TokenRecord,
    UserTokenRecord,
    Violation,
    now_iso,
)


@cache
def _contract() -> Contract:
    return Contract()


class StandInState:
    """The stand-in's state, and the git-backed lookups every API area uses."""

    def __init__(
        self,
        *,
        app_id: int = 4242,
        app_slug: str = "provenfix",
        installation_id: int = 77,
        default_per_page: int = 30,
        max_per_page: int = MAX_PER_PAGE,
    ) -> None:
        self.contract = _contract()
        self.app_id = app_id
        self.app_slug = app_slug
        self.installation_id = installation_id
        self.bot_login = f"{app_slug}[bot]"
        # what the installation granted: its tokens carry it; a push needs contents=write
        self.installation_permissions: dict[str, str] = {
            "checks": "write",
            "contents": "read",
            "pull_requests": "write",
            "issues": "write",
            "metadata": "read",
        }
        self.default_per_page = default_per_page
        self.max_per_page = max_per_page  # GitHub caps per_page at 100; tests may lower it
        self.private_key_pem, self.public_key_pem = key_pair()
        self.violations: list[Violation] = []
        self.requests: list[RequestRecord] = []
        self.git_requests: list[RequestRecord] = []
        self.issued_tokens: list[str] = []
        self.deliveries: list[dict[str, Any]] = []  # attempts, as GET /app/hook/deliveries lists
        self.redeliveries: list[int] = []
        # where deliveries and redeliveries are sent (deliver(), POST .../attempts)
        self.webhook_target: webhooks.WebhookTarget | None = None
        self._delivery_requests: dict[str, tuple[bytes, dict[str, str]]] = {}  # by guid
        self._redelivering: list[threading.Thread] = []
        self._lock = threading.RLock()
        self._ids = 1000
        self._repos: dict[tuple[str, str], RepoRecord] = {}
        self._pulls: dict[tuple[str, str, int], PullRecord] = {}
        self._tokens: dict[str, TokenRecord] = {}
        # the App's OAuth credentials (users.py: the web flow, /user, /user/installations)
        self.oauth_client_id = "Iv1.5a4d0f0c1e2b3a49"
        self.oauth_client_secret = "standin-client-secret-" + "0" * 18
        self.oauth_callback_url: str | None = None  # None: any redirect_uri is accepted
        self._oauth_user: tuple[str, tuple[int, ...]] | None = None
        self._oauth_deny = False
        self._oauth_grants: dict[str, OAuthGrant] = {}
        self._user_tokens: dict[str, UserTokenRecord] = {}
        self._reviews: list[Stored] = []
        self._comments: list[Stored] = []
        self._issue_comments: list[Stored] = []
        self._reactions: list[Stored] = []
        # reactions on review comments: (comment id, content, login, is a bot)
        self._comment_reactions: list[tuple[int, str, str, bool]] = []
        self._permissions: dict[tuple[str, str, str], str] = {}  # owner, repo, login
        self._check_runs: list[CheckRunRecord] = []
        self._injections: list[Injection] = []
        self._rate_used = 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def git_url(self, owner: str, name: str) -> str:
        return f"{self.url}/git/{owner}/{name}.git"

    def settle(self, timeout_s: float = 30.0) -> None:
        """Wait for the redeliveries under way (GitHub answers 202 and delivers later)."""
        for thread in list(self._redelivering):
            thread.join(timeout_s)

    def _keep_delivery(self, body: bytes, headers: dict[str, str]) -> None:
        self._delivery_requests[headers["X-GitHub-Delivery"]] = (body, headers)

    def _record_attempt(
        self, headers: dict[str, str], status_code: int, status: str, *, redelivery: bool
    ) -> dict[str, Any]:
        """One attempt in the deliveries API (the lock held)."""
        body = self._delivery_requests.get(headers["X-GitHub-Delivery"], (b"{}", {}))[0]
        payload = json.loads(body) if body else {}
        repo = payload.get("repository") or {}
        attempt = {
            "id": self._next_id(),
            "guid": headers["X-GitHub-Delivery"],
            "delivered_at": now_iso(),
            "redelivery": redelivery,
            "duration": 0.01,
            "status": status,
            "status_code": status_code,
            "event": headers["X-GitHub-Event"],
            "action": payload.get("action"),
            "installation_id": self.installation_id,
            "repository_id": repo.get("id"),
            "throttled_at": None,
        }
        self.deliveries.append(attempt)
        return attempt

    def _violate(self, method: str, path: str, problem: str) -> None:
        self.violations.append(Violation(method, path, problem))

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _repo(self, owner: str, name: str) -> RepoRecord:
        repo = self._repos.get((owner, name))
        if repo is None:
            raise ApiError(404, "Not Found")
        return repo

    def _pull(self, owner: str, name: str, number: int) -> PullRecord:
        pull = self._pulls.get((owner, name, number))
        if pull is None:
            raise ApiError(404, "Not Found")
        return pull

    def _sha(self, repo: RepoRecord, ref: str) -> str:
        for candidate in (f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
            sha = gitdata.rev_parse(repo.path, candidate)
            if sha is not None:
                return sha
        raise ApiError(404, f"No commit found for the ref {ref}")

    def _sync_pull_refs(self, repo: RepoRecord) -> None:
        for pull in self._pulls.values():
            if pull.repo is repo:
                gitdata.git(
                    repo.path,
                    "update-ref",
                    f"refs/pull/{pull.number}/head",
                    self._sha(repo, pull.head),
                )

    def _pull_state(self, pull: PullRecord) -> tuple[str, str, str]:
        """(base tip, head, merge base)."""
        base = self._sha(pull.repo, pull.base)
        head = self._sha(pull.repo, pull.head)
        return base, head, gitdata.merge_base(pull.repo.path, base, head)

    def _diff(self, pull: PullRecord, commit: str | None = None) -> list[gitdata.DiffFile]:
        _, head, merge_base = self._pull_state(pull)
        return gitdata.diff_files(pull.repo.path, merge_base, commit or head)

    def _pull_commits(self, pull: PullRecord) -> list[gitdata.CommitInfo]:
        _, head, merge_base = self._pull_state(pull)
        return gitdata.commits(pull.repo.path, merge_base, head)

    def _commit_file(self, pull: PullRecord, path: str, text: str, message: str) -> str:
        repo = pull.repo.path
        checked_out = gitdata.git_text(repo, "symbolic-ref", "-q", "HEAD")
        if checked_out == f"refs/heads/{pull.head}":
            (repo / path).write_text(text, encoding="utf-8")
            gitdata.git(repo, "add", "--", path)
            gitdata.git(repo, "commit", "-q", "-m", message)
        else:
            index = repo / ".git" / "standin-index"
            env = {"GIT_INDEX_FILE": str(index)}
            parent = self._sha(pull.repo, pull.head)
            gitdata.git(repo, "read-tree", parent, env=env)
            blob = gitdata.git(repo, "hash-object", "-w", "--stdin", input=text.encode())
            gitdata.git(
                repo,
                "update-index",
                "--cacheinfo",
                f"100644,{blob.decode().strip()},{path}",
                env=env,
            )
            tree = gitdata.git(repo, "write-tree", env=env).decode().strip()
            commit = gitdata.git(repo, "commit-tree", tree, "-p", parent, "-m", message)
            gitdata.git(repo, "update-ref", f"refs/heads/{pull.head}", commit.decode().strip())
            index.unlink(missing_ok=True)
        self._sync_pull_refs(pull.repo)
        return self._sha(pull.repo, pull.head)

    @staticmethod
    def _key(pull: PullRecord) -> tuple[str, str, int]:
        return (pull.repo.owner, pull.repo.name, pull.number)
