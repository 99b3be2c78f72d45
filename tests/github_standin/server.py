"""A local stand-in for api.github.com that holds the bot to GitHub's published contract.

Every request is matched against rest-subset.json: an unknown operation, a bad
path or query parameter, or a request body the operation's schema rejects is
recorded in `violations` (and answered 404 or 422, as GitHub would). Every
response is built from the contract's examples, filled from state read out of
real git repositories, and validated against the operation's response schema
before it is sent; a response that does not validate is a violation too.

Authentication is GitHub's: the /app endpoints take a JWT signed RS256 with the
app's private key (`private_key_pem`), everything else an installation token
the stand-in issued (`Authorization: token|Bearer ghs_…`), except GET /user and GET
/user/installations, which take a user access token (`ghu_…`) from the OAuth web
flow at /login/oauth/ (users.py: not in the REST contract); git clones over
`/git/<owner>/<repo>.git` take HTTP basic auth `x-access-token:<token>`, and so
do pushes, which need a token of an installation granted Contents: write
(`installation_permissions`), as GitHub's do.
"""

from __future__ import annotations

import copy
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import auth, gitdata
from .apps import AppsApi
from .checks import ChecksApi
from .contract import Operation, body_errors, validate_parameter
from .faults import FaultInjection
from .feedback import FeedbackApi
from .githttp import GitHttpEndpoint
from .issues import IssuesApi
from .pulls import PullsApi
from .records import (
    ApiError,
    CheckRunView,
    Json,
    PullRecord,
    RepoRecord,
    RequestRecord,
    Violation,
    now_iso,
)
from .repos import ReposApi
from .reviews import ReviewsApi
from .users import UsersApi
from .webhook_payloads import WebhookPayloads

__all__ = ["CheckRunView", "GitHubStandIn", "RequestRecord", "Violation"]


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass


class GitHubStandIn(
    FeedbackApi,
    AppsApi,
    ReposApi,
    PullsApi,
    ReviewsApi,
    ChecksApi,
    IssuesApi,
    UsersApi,
    WebhookPayloads,
    FaultInjection,
    GitHttpEndpoint,
):
    """api.github.com for tests: start(), point the bot at `url`, inspect, stop().

    This class is the HTTP core (dispatch to `_op_<operationId>`, contract checks,
    authentication, armed faults, responses) and the test-facing API. The state lives in
    StandInState (state.py), the operations in the API-area mixins (apps, repos, pulls,
    reviews, checks, issues), requested_action and webhook_request in WebhookPayloads,
    fail_next and rate_limit_next in FaultInjection, /git/ in GitHttpEndpoint, and the
    OAuth web flow (/login/oauth/…) with the user's endpoints in UsersApi."""

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> GitHubStandIn:
        self._server = make_server(
            "127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_QuietHandler
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05),
            name="github-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> GitHubStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ test helpers

    def add_repo(self, owner: str, name: str, path: Path, default_branch: str = "main") -> None:
        with self._lock:
            self._repos[(owner, name)] = RepoRecord(
                owner, name, Path(path), default_branch, self._next_id()
            )

    def open_pull(
        self,
        owner: str,
        name: str,
        number: int,
        base: str,
        head: str,
        *,
        title: str = "A change",
        body: str | None = "Please review.",
        fork_owner: str | None = None,
    ) -> dict[str, Any]:
        """Open pull request `number` (head branch into base branch); the `opened` payload.
        With `fork_owner` the head is shown as that account's fork (its commits still live
        in the repository's git, as GitHub keeps them under refs/pull/N/head)."""
        with self._lock:
            repo = self._repo(owner, name)
            for branch in (base, head):
                if gitdata.rev_parse(repo.path, f"refs/heads/{branch}") is None:
                    raise ValueError(f"{owner}/{name} has no branch {branch}")
            pull = PullRecord(
                repo,
                number,
                base,
                head,
                self._next_id(),
                title,
                body,
                now_iso(),
                fork_owner or owner,
                fork_owner=fork_owner,
            )
            self._pulls[(owner, name, number)] = pull
            self._sync_pull_refs(repo)
            return self._pull_payload(pull, "opened")

    def synchronize(self, owner: str, name: str, number: int, before: str) -> dict[str, Any]:
        """The `synchronize` payload after commits were added to the head branch."""
        with self._lock:
            pull = self._pull(owner, name, number)
            self._sync_pull_refs(pull.repo)
            return self._pull_payload(pull, "synchronize", before=before)

    def take_violations(self) -> list[Violation]:
        """The violations so far, forgotten (for tests that provoke one on purpose)."""
        with self._lock:
            taken, self.violations = self.violations, []
            return taken

    def app_jwt(self, *, expires_in: int = 540, issuer: int | None = None) -> str:
        return auth.app_jwt(self.private_key_pem, issuer or self.app_id, expires_in=expires_in)

    def head_sha(self, owner: str, name: str, number: int) -> str:
        with self._lock:
            pull = self._pull(owner, name, number)
            return self._sha(pull.repo, pull.head)

    @property
    def reviews(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(s.data) for s in self._reviews]

    @property
    def review_comments(self) -> list[dict[str, Any]]:
        """Review comments as posted (body as last edited), oldest first."""
        with self._lock:
            return [copy.deepcopy(s.data) for s in self._comments]

    @property
    def issue_comments(self) -> list[dict[str, Any]]:
        with self._lock:
            return [copy.deepcopy(s.data) for s in self._issue_comments]

    @property
    def check_runs(self) -> list[CheckRunView]:
        with self._lock:
            return [
                CheckRunView(
                    id=r.data["id"],
                    name=r.data["name"],
                    head_sha=r.data["head_sha"],
                    status=r.data["status"],
                    conclusion=r.data["conclusion"],
                    title=r.data["output"].get("title"),
                    summary=r.data["output"].get("summary"),
                    text=r.data["output"].get("text"),
                    annotations=copy.deepcopy(r.annotations),
                    updates=r.updates,
                    external_id=str(r.data.get("external_id") or ""),
                    actions=copy.deepcopy(r.actions),
                )
                for r in self._check_runs
            ]

    def commit_suggestion(self, comment_id: int, message: str = "Apply suggestion") -> str:
        """What "Commit suggestion" does: replace the comment's lines on the head branch."""
        with self._lock:
            stored = next(s for s in self._comments if s.data["id"] == comment_id)
            pull = self._pull(*stored.key)
            match = re.search(
                r"^(`{3,})suggestion\n(.*?)^\1\s*$", stored.data["body"], re.MULTILINE | re.DOTALL
            )
            if match is None:
                raise ValueError(f"comment {comment_id} has no suggestion")
            replacement = match.group(2)
            path = stored.data["path"]
            end = stored.data["original_line"]
            start = stored.data.get("original_start_line") or end
            repo = pull.repo.path
            text = (gitdata.read_blob(repo, f"refs/heads/{pull.head}", path) or b"").decode()
            lines = text.splitlines(keepends=True)
            new = lines[: start - 1] + replacement.splitlines(keepends=True) + lines[end:]
            return self._commit_file(pull, path, "".join(new), message)

    # ------------------------------------------------------------------ WSGI

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        if request.path.startswith("/git/"):
            response = self._git(request)
        elif request.path.startswith("/login/oauth/"):
            with self._lock:
                response = self._oauth_web(request)
        else:
            with self._lock:
                response = self._api(request)
        return response(environ, start_response)

    def _api(self, request: Request) -> Response:
        method, path = request.method, request.path
        query = {k: v for k, v in request.args.items()}
        raw = request.get_data(cache=True)
        record = RequestRecord(method, path, query, None, None)
        self.requests.append(record)
        op, params, path_known = self.contract.match(method, path)
        if op is None:
            self._violate(
                method,
                path,
                "no such operation in the contract"
                + (" (the path exists for other methods)" if path_known else ""),
            )
            return self._error_response(record, ApiError(404, "Not Found"))
        record.operation_id = op.operation_id
        problems: list[str] = []
        values: dict[str, Any] = {}
        for param in op.parameters:
            if param.location == "path":
                value, problem = validate_parameter(param, params[param.name])
                values[param.name] = value
            elif param.location == "query":
                if param.name not in query:
                    problem = (
                        f"query parameter {param.name} is required" if param.required else None
                    )
                    if param.required:
                        problems.append(str(problem))
                    continue
                value, problem = validate_parameter(param, query[param.name])
                values[param.name] = value
            else:
                continue
            if problem:
                problems.append(problem)
        known = {p.name for p in op.parameters if p.location == "query"}
        problems += [
            f"query parameter {q!r} is not in the contract" for q in query if q not in known
        ]
        body: Json = None
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                problems.append("the request body is not JSON")
            record.body = body
            if op.body_schema is None and body not in (None, {}):
                problems.append("the operation takes no request body")
        elif op.body_required:
            problems.append("the operation requires a request body")
        if body is not None and op.body_schema is not None:
            problems += [f"request body {e}" for e in body_errors(op, body)]
        if problems:
            for problem in problems:
                self._violate(method, path, problem)
            return self._error_response(
                record,
                ApiError(
                    422, "Validation Failed", [{"code": "invalid", "message": p} for p in problems]
                ),
            )
        injected = self._take_injection(f"{method} {path}")
        if injected is not None:
            record.status = injected.status
            return self._json(injected.status, injected.body, injected.headers)
        try:
            record.auth = auth.authenticate(
                request,
                op,
                app_id=self.app_id,
                public_key_pem=self.public_key_pem,
                tokens=self._tokens,
                user_tokens=self._user_tokens,
            )
            handler = getattr(self, "_op_" + re.sub(r"\W", "_", op.operation_id))
            status, answer, headers = handler(request, values, body or {})
        except ApiError as error:
            return self._error_response(record, error, op)
        except Exception as exc:  # noqa: BLE001 - a stand-in bug: fail the test that met it
            self._violate(method, path, f"stand-in crashed: {exc.__class__.__name__}: {exc}")
            return self._error_response(record, ApiError(500, "stand-in error"))
        record.status = status
        if status == 204:
            return Response(status=204, headers=self._rate_headers())
        for problem in self.contract.validate_response(op, status, answer):
            self._violate(method, path, f"stand-in response {status} {problem}")
        return self._json(status, answer, headers)

    def _error_response(
        self, record: RequestRecord, error: ApiError, op: Operation | None = None
    ) -> Response:
        record.status = error.status
        if op is not None:
            for problem in self.contract.validate_response(op, error.status, error.body):
                self._violate(record.method, record.path, f"stand-in response {problem}")
        headers = {"WWW-Authenticate": 'Bearer realm="GitHub"'} if error.status == 401 else {}
        return self._json(error.status, error.body, headers)

    def _json(self, status: int, body: Json, headers: dict[str, str] | None = None) -> Response:
        response = Response(
            json.dumps(body), status=status, content_type="application/json; charset=utf-8"
        )
        for name, value in {**self._rate_headers(), **(headers or {})}.items():
            response.headers[name] = value
        response.headers["x-github-request-id"] = f"STANDIN:{len(self.requests)}"
        response.headers["x-github-media-type"] = "github.v3; format=json"
        return response

    def _rate_headers(self) -> dict[str, str]:
        self._rate_used += 1
        return {
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(max(0, 5000 - self._rate_used)),
            "x-ratelimit-used": str(self._rate_used),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-resource": "core",
        }
