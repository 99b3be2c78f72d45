"""Smart HTTP for the stand-in's repositories through `git http-backend` (CGI): fetches,
and pushes (receive-pack) once the stand-in has checked the token's permission."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from werkzeug.wrappers import Request, Response

from .records import RequestRecord
from .state import StandInState

GIT_HTTP_BACKEND = (
    Path(
        subprocess.run(
            ["git", "--exec-path"], capture_output=True, text=True, check=True
        ).stdout.strip()
    )
    / "git-http-backend"
)


def run_http_backend(
    repo: Path, rest: str, environ: Mapping[str, object], body: bytes, *, push: bool = False
) -> tuple[int, list[tuple[str, str]], bytes]:
    """Serve `rest` (e.g. /info/refs) of the repository at `repo` (a work tree). With `push`
    receive-pack is enabled; a push to the checked-out branch updates the work tree (the
    tests commit there too), and GitHub's read-only refs/pull/* cannot be pushed to."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_PROJECT_ROOT": str(repo),
        "GIT_HTTP_EXPORT_ALL": "1",
        "PATH_INFO": "/.git" + rest,
        "REQUEST_METHOD": str(environ.get("REQUEST_METHOD", "GET")),
        "QUERY_STRING": str(environ.get("QUERY_STRING", "")),
        "CONTENT_TYPE": str(environ.get("CONTENT_TYPE", "")),
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_USER": "x-access-token",
        "REMOTE_ADDR": str(environ.get("REMOTE_ADDR", "127.0.0.1")),
        "SERVER_PROTOCOL": "HTTP/1.1",
        # like GitHub: a pull request's head can be fetched by its SHA
        "GIT_CONFIG_COUNT": "2",
        "GIT_CONFIG_KEY_0": "uploadpack.allowAnySHA1InWant",
        "GIT_CONFIG_VALUE_0": "true",
        "GIT_CONFIG_KEY_1": "safe.directory",
        "GIT_CONFIG_VALUE_1": "*",
    }
    config = {
        "http.receivepack": "true" if push else "false",
        "receive.denyCurrentBranch": "updateInstead",
        "receive.hideRefs": "refs/pull",
    }
    for index, (key, value) in enumerate(config.items(), start=2):
        env[f"GIT_CONFIG_KEY_{index}"], env[f"GIT_CONFIG_VALUE_{index}"] = key, value
    env["GIT_CONFIG_COUNT"] = str(2 + len(config))
    if environ.get("HTTP_GIT_PROTOCOL"):
        env["GIT_PROTOCOL"] = str(environ["HTTP_GIT_PROTOCOL"])
    if environ.get("HTTP_CONTENT_ENCODING"):
        env["HTTP_CONTENT_ENCODING"] = str(environ["HTTP_CONTENT_ENCODING"])
    done = subprocess.run(
        [str(GIT_HTTP_BACKEND)], input=body, capture_output=True, env=env, check=False
    )
    out = done.stdout
    sep = out.find(b"\r\n\r\n")
    head_end, body_start = (
        (sep, sep + 4) if sep >= 0 else (out.find(b"\n\n"), out.find(b"\n\n") + 2)
    )
    if head_end < 0:
        return 500, [("Content-Type", "text/plain")], done.stderr or b"http-backend failed"
    status = 200
    headers: list[tuple[str, str]] = []
    for line in out[:head_end].decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.lower() == "status":
            status = int(value.strip().split()[0])
        elif name:
            headers.append((name.strip(), value.strip()))
    return status, headers, out[body_start:]


class GitHttpEndpoint(StandInState):
    """/git/<owner>/<repo>.git: basic auth with an installation token, pushes only with
    Contents: write; the pull requests' refs follow their head branches."""

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
