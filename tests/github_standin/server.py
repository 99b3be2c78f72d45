"""A local stand-in for api.github.com that holds the bot to GitHub's published contract.

Every request is matched against rest-subset.json: an unknown operation, a bad
path or query parameter, or a request body the operation's schema rejects is
recorded in `violations` (and answered 404 or 422, as GitHub would). Every
response is built from the contract's examples, filled from state read out of
real git repositories, and validated against the operation's response schema
before it is sent; a response that does not validate is a violation too.

Authentication is GitHub's: the /app endpoints take a JWT signed RS256 with the
app's private key (`private_key_pem`), everything else an installation token
the stand-in issued (`Authorization: token|Bearer ghs_…`); git clones over
`/git/<owner>/<repo>.git` take HTTP basic auth `x-access-token:<token>`, and so
do pushes, which need a token of an installation granted Contents: write
(`installation_permissions`), as GitHub's do.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from . import gitdata, webhooks
from .contract import Contract, Operation, body_errors, validate_parameter
from .githttp import run_http_backend

Json = Any
Values = dict[str, Any]
Answer = tuple[int, Json, dict[str, str]]
DOCS = "https://docs.github.com/rest"
EXAMPLE_REPO = "octocat/Hello-World"
MAX_PER_PAGE = 100


@cache
def _contract() -> Contract:
    return Contract()


@cache
def _key_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def now_iso(delta: timedelta = timedelta(0)) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


class ApiError(Exception):
    """An error answer of the stand-in (GitHub's status and body)."""

    def __init__(self, status: int, message: str, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "documentation_url": DOCS}
        if errors is not None:
            self.body["errors"] = errors


@dataclass(frozen=True)
class Violation:
    """A request (or a stand-in response) that breaks the contract."""

    method: str
    path: str
    problem: str

    def __str__(self) -> str:
        return f"{self.method} {self.path}: {self.problem}"


@dataclass
class RequestRecord:
    method: str
    path: str
    query: dict[str, str]
    body: Json
    operation_id: str | None
    status: int = 0
    auth: str = "none"  # jwt, token, basic, none
    at: float = field(default_factory=time.time)  # when it arrived (epoch seconds)


@dataclass
class Injection:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    match: re.Pattern[str] | None


@dataclass
class RepoRecord:
    owner: str
    name: str
    path: Path
    default_branch: str
    id: int

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class PullRecord:
    repo: RepoRecord
    number: int
    base: str  # branch names
    head: str
    id: int
    title: str
    body: str | None
    created_at: str
    author: str
    state: str = "open"
    fork_owner: str | None = None  # the head lives in this account's fork


@dataclass
class TokenRecord:
    token: str
    installation_id: int
    expires_at: datetime
    permissions: dict[str, str] = field(default_factory=dict)


@dataclass
class Stored:
    """A stored API object of one pull request or repository."""

    key: tuple[str, str, int]  # owner, repo, pull number (0: repository-wide)
    data: dict[str, Any]


@dataclass
class CheckRunView:
    id: int
    name: str
    head_sha: str
    status: str
    conclusion: str | None
    title: str | None
    summary: str | None
    text: str | None
    annotations: list[dict[str, Any]]
    updates: int  # PATCH requests received
    external_id: str = ""
    actions: list[dict[str, Any]] = field(default_factory=list)  # the buttons, as last set


@dataclass
class _CheckRun:
    key: tuple[str, str, int]
    data: dict[str, Any]
    annotations: list[dict[str, Any]] = field(default_factory=list)
    updates: int = 0
    actions: list[dict[str, Any]] = field(default_factory=list)


class _QuietHandler(WSGIRequestHandler):
    def log(self, type: str, message: str, *args: Any) -> None:
        pass


class GitHubStandIn:
    """api.github.com for tests: start(), point the bot at `url`, inspect, stop()."""

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
        self.private_key_pem, self.public_key_pem = _key_pair()
        self.violations: list[Violation] = []
        self.requests: list[RequestRecord] = []
        self.git_requests: list[RequestRecord] = []
        self.issued_tokens: list[str] = []
        self.deliveries: list[dict[str, Any]] = []
        self.redeliveries: list[int] = []
        self._lock = threading.RLock()
        self._ids = 1000
        self._repos: dict[tuple[str, str], RepoRecord] = {}
        self._pulls: dict[tuple[str, str, int], PullRecord] = {}
        self._tokens: dict[str, TokenRecord] = {}
        self._reviews: list[Stored] = []
        self._comments: list[Stored] = []
        self._issue_comments: list[Stored] = []
        self._reactions: list[Stored] = []
        self._check_runs: list[_CheckRun] = []
        self._injections: list[Injection] = []
        self._rate_used = 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

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

    def git_url(self, owner: str, name: str) -> str:
        return f"{self.url}/git/{owner}/{name}.git"

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

    def requested_action(
        self,
        owner: str,
        name: str,
        check_run_id: int,
        identifier: str,
        *,
        sender: str,
        sender_id: int = 583231,
    ) -> dict[str, Any]:
        """The `check_run.requested_action` payload GitHub sends when `sender` presses the
        button `identifier` on one of the App's check runs (octokit's example, refilled)."""
        with self._lock:
            repo = self._repo(owner, name)
            run = next(r for r in self._check_runs if r.data["id"] == check_run_id)
            view = self._check_run_view(run)
            payload = webhooks.example("check_run", "requested_action.payload.json")
            check = payload["check_run"]
            for key in ("id", "node_id", "head_sha", "external_id", "url", "html_url"):
                check[key] = view[key]
            check.update(
                details_url=view["details_url"],
                status=view["status"],
                conclusion=view["conclusion"],
                started_at=view["started_at"],
                completed_at=view["completed_at"],
                output={k: view["output"][k] for k in check["output"]},
                name=view["name"],
                pull_requests=view["pull_requests"],
            )
            for app in (check["app"], check["check_suite"]["app"]):
                app.update(id=self.app_id, slug=self.app_slug, name="ProvenFix")
            check["check_suite"].update(
                head_sha=view["head_sha"],
                pull_requests=view["pull_requests"],
                head_branch=next((p.head for p in self._pulls.values() if p.repo is repo), None),
            )
            payload["requested_action"] = {"identifier": identifier}
            payload["repository"].update(self._webhook_repo(repo))
            payload["repository"]["owner"]["login"] = owner
            payload["sender"].update(login=sender, id=sender_id, type="User")
            payload["installation"] = {
                "id": self.installation_id,
                "node_id": base64.b64encode(
                    f"023:Installation{self.installation_id}".encode()
                ).decode(),
            }
            payload = self._rewrite(payload)
            for problem in webhooks.validate_payload("check_run", "requested_action", payload):
                self._violate(
                    "WEBHOOK", "check_run.requested_action", f"stand-in payload {problem}"
                )
            return dict(payload)

    def webhook_request(
        self, event: str, payload: dict[str, Any], secret: str | None
    ) -> tuple[bytes, dict[str, str]]:
        """Body and headers of a delivery as GitHub sends it; listed by the deliveries API."""
        body = json.dumps(payload).encode()
        headers = webhooks.delivery_headers(event, body, secret, hook_id=1, app_id=self.app_id)
        with self._lock:
            repo = payload.get("repository") or {}
            self.deliveries.append(
                {
                    "id": self._next_id(),
                    "guid": headers["X-GitHub-Delivery"],
                    "delivered_at": now_iso(),
                    "redelivery": False,
                    "duration": 0.01,
                    "status": "OK",
                    "status_code": 200,
                    "event": event,
                    "action": payload.get("action"),
                    "installation_id": self.installation_id,
                    "repository_id": repo.get("id"),
                    "throttled_at": None,
                }
            )
        return body, headers

    def fail_next(
        self,
        n: int,
        status: int = 502,
        *,
        match: str | None = None,
        body: dict[str, Any] | None = None,
    ) -> None:
        """Answer the next `n` API requests ('METHOD /path' matching `match`) with `status`."""
        answer = body or {"message": "Server Error", "documentation_url": DOCS}
        with self._lock:
            for _ in range(n):
                pattern = re.compile(match) if match else None
                self._injections.append(Injection(status, dict(answer), {}, pattern))

    def rate_limit_next(
        self,
        n: int,
        *,
        status: int = 403,
        retry_after: int | None = 1,
        reset_in: int = 1,
        secondary: bool = False,
        match: str | None = None,
    ) -> None:
        """Rate-limit the next `n` API requests: `x-ratelimit-remaining: 0`, reset, retry-after."""
        message = (
            "You have exceeded a secondary rate limit. Please wait a few minutes before you "
            "try again."
            if secondary
            else f"API rate limit exceeded for installation ID {self.installation_id}."
        )
        with self._lock:
            for _ in range(n):
                headers = {
                    "x-ratelimit-limit": "5000",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-used": "5000",
                    "x-ratelimit-resource": "core",
                    "x-ratelimit-reset": str(int(time.time()) + reset_in),
                }
                if retry_after is not None:
                    headers["retry-after"] = str(retry_after)
                self._injections.append(
                    Injection(
                        status,
                        {"message": message, "documentation_url": DOCS},
                        headers,
                        re.compile(match) if match else None,
                    )
                )

    def take_violations(self) -> list[Violation]:
        """The violations so far, forgotten (for tests that provoke one on purpose)."""
        with self._lock:
            taken, self.violations = self.violations, []
            return taken

    def app_jwt(self, *, expires_in: int = 540, issuer: int | None = None) -> str:
        now = int(time.time())
        claims = {"iat": now - 60, "exp": now + expires_in, "iss": str(issuer or self.app_id)}
        return jwt.encode(claims, self.private_key_pem, algorithm="RS256")

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
            record.auth = self._authenticate(request, op)
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

    def _violate(self, method: str, path: str, problem: str) -> None:
        self.violations.append(Violation(method, path, problem))

    def _take_injection(self, target: str) -> Injection | None:
        for index, injection in enumerate(self._injections):
            if injection.match is None or injection.match.search(target):
                return self._injections.pop(index)
        return None

    # ------------------------------------------------------------------ authentication

    def _authenticate(self, request: Request, op: Operation) -> str:
        header = request.headers.get("Authorization", "")
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        if op.template.startswith("/app"):
            if scheme.lower() != "bearer" or not credential:
                raise ApiError(401, "A JSON web token could not be decoded")
            try:
                claims = jwt.decode(
                    credential,
                    self.public_key_pem,
                    algorithms=["RS256"],
                    options={"require": ["iat", "exp", "iss"]},
                    leeway=30,
                )
            except jwt.PyJWTError as exc:
                raise ApiError(401, f"A JSON web token could not be decoded ({exc})") from None
            if str(claims["iss"]) != str(self.app_id):
                raise ApiError(401, "'Issuer' claim ('iss') must be the app's id")
            if int(claims["exp"]) - int(time.time()) > 600 + 30:
                raise ApiError(401, "'Expiration time' claim ('exp') is too far in the future")
            return "jwt"
        if op.operation_id == "rate-limit/get" and not header:
            return "none"
        record = self._tokens.get(credential) if scheme.lower() in ("token", "bearer") else None
        if record is None or record.expires_at < datetime.now(UTC):
            raise ApiError(401, "Bad credentials")
        return "token"

    # ------------------------------------------------------------------ git smart HTTP

    def _git(self, request: Request) -> Response:
        m = re.match(r"^/git/([^/]+)/([^/]+?)\.git(/.*)$", request.path)
        with self._lock:
            record = RequestRecord(
                request.method, request.path, dict(request.args), None, None, auth="basic"
            )
            self.git_requests.append(record)
            auth = request.authorization
            token = auth.password if auth is not None and auth.type == "basic" else None
            valid = (
                token is not None
                and auth is not None
                and auth.username == "x-access-token"
                and token in self._tokens
                and self._tokens[token].expires_at > datetime.now(UTC)
            )
            if not valid:
                record.status = 401
                return Response(
                    "Invalid username or token.",
                    status=401,
                    headers={"WWW-Authenticate": 'Basic realm="GitHub"'},
                )
            repo = self._repos.get((m.group(1), m.group(2))) if m else None
            if m is None or repo is None:
                record.status = 404
                return Response("Repository not found.", status=404)
            push = (
                "receive-pack" in request.path or request.args.get("service") == "git-receive-pack"
            )
            if push and self._tokens[str(token)].permissions.get("contents") != "write":
                record.status = 403  # GitHub's answer to a token without Contents: write
                return Response("Write access to repository not granted.", status=403)
            self._sync_pull_refs(repo)
        status, headers, body = run_http_backend(
            repo.path, m.group(3), request.environ, request.get_data(), push=push
        )
        record.status = status
        if push and request.method == "POST":
            with self._lock:
                self._sync_pull_refs(repo)  # the pushed branch moves its pull requests' heads
        return Response(body, status=status, headers=headers)

    # ------------------------------------------------------------------ state helpers

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

    # ------------------------------------------------------------------ object builders

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

    def _pull_payload(
        self, pull: PullRecord, action: str, before: str | None = None
    ) -> dict[str, Any]:
        name = "opened.payload.json" if action == "opened" else "synchronize.payload.json"
        payload = webhooks.retarget(
            webhooks.example("pull_request", name), pull.repo.full_name, pull.number, self.url
        )
        base_sha, head_sha, _ = self._pull_state(pull)
        files = self._diff(pull)
        pr = payload["pull_request"]
        pr.update(
            id=pull.id,
            number=pull.number,
            title=pull.title,
            body=pull.body,
            state="open",
            commits=len(self._pull_commits(pull)),
            additions=sum(f.additions for f in files),
            deletions=sum(f.deletions for f in files),
            changed_files=len(files),
        )
        for side, ref, sha in (("head", pull.head, head_sha), ("base", pull.base, base_sha)):
            pr[side].update(label=f"{pull.repo.owner}:{ref}", ref=ref, sha=sha)
            pr[side]["repo"].update(self._webhook_repo(pull.repo))
        payload["repository"].update(self._webhook_repo(pull.repo))
        payload["number"] = pull.number
        payload["installation"] = {
            "id": self.installation_id,
            "node_id": base64.b64encode(
                f"023:Installation{self.installation_id}".encode()
            ).decode(),
        }
        if action == "synchronize":
            payload["before"], payload["after"] = before or head_sha, head_sha
        for problem in webhooks.validate_payload("pull_request", action, payload):
            self._violate("WEBHOOK", f"pull_request.{action}", f"stand-in payload {problem}")
        return dict(payload)

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

    @staticmethod
    def _key(pull: PullRecord) -> tuple[str, str, int]:
        return (pull.repo.owner, pull.repo.name, pull.number)

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

    # ------------------------------------------------------------------ review anchoring

    def _check_anchor(
        self, pull: PullRecord, commit: str, comment: dict[str, Any]
    ) -> tuple[str | None, gitdata.Hunk | None, gitdata.DiffFile | None]:
        """GitHub's checks on where a review comment goes; (error, hunk, file)."""
        files = {f.filename: f for f in self._diff(pull, commit)}
        diff = files.get(comment["path"])
        if diff is None:
            return "Path could not be resolved", None, None
        if comment.get("subject_type") == "file":
            return None, None, diff
        if "line" not in comment:
            if "position" in comment:
                return self._check_position(diff, comment["position"]), None, diff
            return "pull_request_review_thread.line is required", None, diff
        side = comment.get("side", "RIGHT")
        line = comment["line"]
        hunk = diff.hunk_for(line, side)
        if hunk is None:
            return "pull_request_review_thread.line must be part of the diff", None, diff
        if "start_side" in comment and "start_line" not in comment:
            return "pull_request_review_thread.start_side requires start_line", None, diff
        if "start_line" in comment:
            start, start_side = comment["start_line"], comment.get("start_side", side)
            if start_side == "side":
                start_side = side
            if start_side == side and start >= line:
                return "pull_request_review_thread.start_line must precede the end line", None, diff
            if diff.hunk_for(start, start_side) is not hunk:
                return (
                    "pull_request_review_thread.start_line must be part of the same hunk as "
                    "the line.",
                    None,
                    diff,
                )
        return None, hunk, diff

    @staticmethod
    def _check_position(diff: gitdata.DiffFile, position: int) -> str | None:
        total = sum(len(h.lines) for h in diff.hunks) - 1
        return None if 1 <= position <= total else "Position could not be resolved"

    @staticmethod
    def _position(diff: gitdata.DiffFile, line: int, side: str) -> int | None:
        position = 0
        for n, hunk in enumerate(diff.hunks):
            left, right = hunk.left_start, hunk.right_start
            if n:
                position += 1  # a later hunk header counts
            for text in hunk.lines[1:]:
                if text.startswith("\\"):
                    continue
                position += 1
                kind = text[:1]
                if side == "RIGHT" and kind != "-" and right == line:
                    return position
                if side == "LEFT" and kind != "+" and left == line:
                    return position
                if kind != "+":
                    left += 1
                if kind != "-":
                    right += 1
        return None

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
        position = self._position(diff, line, side)
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
            data.update(commit_id=head, position=self._position(diff, end, side) or 1)
        else:
            # outdated: GitHub answers `line: null`, which its own contract does not allow
            # (an integer); the stand-in leaves the keys out instead
            data.pop("line", None)
            data.pop("position", None)
            data["start_line"] = None
        return data

    # ------------------------------------------------------------------ operations: apps

    def _op_apps_get_authenticated(self, request: Request, values: Values, body: Json) -> Answer:
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
        return 200, app, {}

    def _op_apps_create_installation_access_token(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        if values["installation_id"] != self.installation_id:
            raise ApiError(404, "Not Found")
        token = "ghs_" + secrets.token_urlsafe(27).replace("-", "A").replace("_", "b")[:36]
        expires = datetime.now(UTC) + timedelta(hours=1)
        granted = dict(self.installation_permissions)
        asked = body.get("permissions") or {}
        for name, level in asked.items():  # a token may ask for less, never for more
            if granted.get(name) not in (level, "write"):
                raise ApiError(
                    422, f"The permissions requested are not granted to this installation ({name})"
                )
        permissions = {name: asked.get(name, level) for name, level in granted.items()}
        if asked:
            permissions = {n: lvl for n, lvl in permissions.items() if n in asked}
        self._tokens[token] = TokenRecord(token, self.installation_id, expires, permissions)
        self.issued_tokens.append(token)
        answer = {
            "token": token,
            "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "permissions": permissions,
            "repository_selection": "all",
        }
        return 201, answer, {}

    def _op_apps_list_webhook_deliveries(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        items = [
            d
            for d in reversed(self.deliveries)
            if values.get("status") in (None, "success" if d["status_code"] < 400 else "failure")
        ]
        chunk, headers = self._paginate(request, items, values)
        return 200, chunk, headers

    def _op_apps_redeliver_webhook_delivery(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        if not any(d["id"] == values["delivery_id"] for d in self.deliveries):
            raise ApiError(404, "Not Found")
        self.redeliveries.append(values["delivery_id"])
        return 202, {}, {}

    def _op_rate_limit_get(self, request: Request, values: Values, body: Json) -> Answer:
        overview = self.contract.component_example("rate-limit-overview")
        reset = int(time.time()) + 3600
        for resource in [overview["rate"], *overview["resources"].values()]:
            resource.update(
                limit=5000,
                used=self._rate_used,
                reset=reset,
                remaining=max(0, 5000 - self._rate_used),
            )
        return 200, overview, {}

    # ------------------------------------------------------------------ operations: repos

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

    # ------------------------------------------------------------------ operations: pulls

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
            error, hunk, diff = self._check_anchor(pull, commit, spec)
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
        error, hunk, diff = self._check_anchor(pull, commit, body)
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

    # ------------------------------------------------------------------ operations: checks

    def _op_checks_create(self, request: Request, values: Values, body: Json) -> Answer:
        repo = self._repo(values["owner"], values["repo"])
        if gitdata.rev_parse(repo.path, body["head_sha"]) != body["head_sha"]:
            raise ApiError(
                422,
                "Validation Failed",
                [{"resource": "CheckRun", "code": "invalid", "field": "head_sha"}],
            )
        run_id = self._next_id()
        template = self.contract.component_example("check-run")
        data = self._rewrite(template, {"github/hello-world": repo.full_name})
        api = f"{self.url}/repos/{repo.full_name}/check-runs/{run_id}"
        data.update(
            id=run_id,
            node_id=base64.b64encode(f"08:CheckRun{run_id}".encode()).decode(),
            head_sha=body["head_sha"],
            name=body["name"],
            url=api,
            html_url=f"{self.url}/{repo.full_name}/runs/{run_id}",
            details_url=body.get("details_url", f"{self.url}/apps/{self.app_slug}"),
            external_id=body.get("external_id", ""),
            status="queued",
            conclusion=None,
            started_at=body.get("started_at", now_iso()),
            completed_at=None,
            output={
                "title": None,
                "summary": None,
                "text": None,
                "annotations_count": 0,
                "annotations_url": f"{api}/annotations",
            },
            check_suite={"id": 1},
            app=self._op_apps_get_authenticated(request, values, body)[1],
            pull_requests=[],
        )
        run = _CheckRun((repo.owner, repo.name, 0), data)
        self._apply_check_run(run, body)
        self._check_runs.append(run)
        return 201, self._check_run_view(run), {}

    def _op_checks_update(self, request: Request, values: Values, body: Json) -> Answer:
        run = next(
            (
                r
                for r in self._check_runs
                if r.key[:2] == (values["owner"], values["repo"])
                and r.data["id"] == values["check_run_id"]
            ),
            None,
        )
        if run is None:
            raise ApiError(404, "Not Found")
        run.updates += 1
        self._apply_check_run(run, body)
        return 200, self._check_run_view(run), {}

    def _apply_check_run(self, run: _CheckRun, body: dict[str, Any]) -> None:
        data = run.data
        if "actions" in body:  # not part of GitHub's check-run object: kept aside
            run.actions = copy.deepcopy(body["actions"])
        for key in ("name", "details_url", "external_id", "started_at"):
            if key in body:
                data[key] = body[key]
        if "status" in body:
            data["status"] = body["status"]
        if "conclusion" in body:
            data.update(conclusion=body["conclusion"], status="completed")
        if data["status"] == "completed":
            if data["conclusion"] is None:
                raise ApiError(
                    422,
                    "Validation Failed",
                    [{"resource": "CheckRun", "code": "missing_field", "field": "conclusion"}],
                )
            data["completed_at"] = body.get("completed_at") or data["completed_at"] or now_iso()
        output = body.get("output")
        if output is not None:
            for annotation in output.get("annotations", []):
                if annotation["start_line"] > annotation["end_line"] or (
                    ("start_column" in annotation or "end_column" in annotation)
                    and annotation["start_line"] != annotation["end_line"]
                ):
                    raise ApiError(
                        422,
                        "Validation Failed",
                        [{"resource": "CheckRun", "code": "invalid", "field": "annotations"}],
                    )
            run.annotations += output.get("annotations", [])
            for key in ("title", "summary", "text"):
                if key in output:
                    data["output"][key] = output[key]
            data["output"]["annotations_count"] = len(run.annotations)

    def _check_run_view(self, run: _CheckRun) -> dict[str, Any]:
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

    def _op_checks_list_for_ref(self, request: Request, values: Values, body: Json) -> Answer:
        repo = self._repo(values["owner"], values["repo"])
        sha = self._sha(repo, values["ref"])
        runs = [
            r
            for r in self._check_runs
            if r.key[:2] == (repo.owner, repo.name) and r.data["head_sha"] == sha
        ]
        if values.get("check_name"):
            runs = [r for r in runs if r.data["name"] == values["check_name"]]
        if values.get("status"):
            runs = [r for r in runs if r.data["status"] == values["status"]]
        if values.get("filter", "latest") == "latest":
            latest: dict[str, _CheckRun] = {}
            for r in runs:
                latest[r.data["name"]] = r
            runs = list(latest.values())
        runs.sort(key=lambda r: -int(r.data["id"]))
        chunk, headers = self._paginate(request, runs, values)
        return (
            200,
            {"total_count": len(runs), "check_runs": [self._check_run_view(r) for r in chunk]},
            headers,
        )

    # ------------------------------------------------------------------ operations: issues

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
