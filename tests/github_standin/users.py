"""Signing in with GitHub through the App: the OAuth web flow and the user's endpoints.

The web flow is not REST (and not in the contract): `GET /login/oauth/authorize`
stands for the page where a user approves the App, and redirects to the
`redirect_uri` with a `code` and the caller's `state`; `POST
/login/oauth/access_token` exchanges the code (once, within ten minutes, with the
App's client id and secret) for a user access token `ghu_…`, answering as GitHub
does: JSON when asked for it, a form otherwise, and HTTP 200 with an `error` for a
bad code or bad credentials. Who approves is up to the test: `oauth_sign_in_as`
(the next visits to the authorize page), `oauth_deny_next`, or `oauth_code` for a
code without the page.

`GET /user` and `GET /user/installations` are REST (the contract's): they take the
user token only, and answer from the contract's examples.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from werkzeug.wrappers import Request, Response

from .objects import ApiObjects
from .records import Answer, Json, OAuthGrant, RequestRecord, UserTokenRecord, Values

CODE_TTL = timedelta(minutes=10)
TOKEN_TTL = timedelta(hours=8)
TROUBLESHOOTING = (
    "https://docs.github.com/apps/managing-oauth-apps/"
    "troubleshooting-oauth-app-access-token-request-errors"
)


class UsersApi(ApiObjects):
    """users/get-authenticated, apps/list-installations-for-authenticated-user, and the
    OAuth web flow."""

    # ------------------------------------------------------------------ test helpers

    def oauth_sign_in_as(self, login: str, installation_ids: Iterable[int]) -> None:
        """From now on the authorize page approves the App as `login`, who can reach
        `installation_ids`."""
        with self._lock:
            self._oauth_user = (login, tuple(sorted(set(installation_ids))))
            self._oauth_deny = False

    def oauth_deny_next(self) -> None:
        """The next visit to the authorize page declines (error=access_denied)."""
        with self._lock:
            self._oauth_deny = True

    def oauth_code(
        self, login: str, installation_ids: Iterable[int], redirect_uri: str = ""
    ) -> str:
        """A fresh code for `login`, as the authorize page would have sent back."""
        with self._lock:
            return self._grant(login, tuple(sorted(set(installation_ids))), redirect_uri)

    @property
    def user_tokens(self) -> list[str]:
        """Every user access token issued so far."""
        with self._lock:
            return list(self._user_tokens)

    # ------------------------------------------------------------------ REST

    def _op_users_get_authenticated(self, request: Request, values: Values, body: Json) -> Answer:
        user = self._signed_in(request)
        example = self.contract.by_id("users/get-authenticated").response_examples(200)
        profile = self._rewrite(
            example["response-with-public-profile-information"],
            {"/octocat": f"/{user.login}"},
        )
        profile.update(
            login=user.login,
            id=_user_id(user.login),
            node_id=base64.b64encode(f"04:User{user.login}".encode()).decode(),
            name=user.login,
            email=None,
        )
        return 200, profile, {}

    def _op_apps_list_installations_for_authenticated_user(
        self, request: Request, values: Values, body: Json
    ) -> Answer:
        user = self._signed_in(request)
        items = [self._installation_object(i) for i in user.installation_ids]
        chunk, headers = self._paginate(request, items, values)
        return 200, {"total_count": len(items), "installations": chunk}, headers

    def _signed_in(self, request: Request) -> UserTokenRecord:
        credential = request.headers.get("Authorization", "").partition(" ")[2].strip()
        return self._user_tokens[credential]  # auth.authenticate let only a user token by

    def _installation_object(self, installation_id: int) -> dict[str, Any]:
        op = self.contract.by_id("apps/list-installations-for-authenticated-user")
        template = op.response_examples(200)["default"]["installations"][0]
        account = (
            "provenfix-org"
            if installation_id == self.installation_id
            else (f"account-{installation_id}")
        )
        obj = self._rewrite(template)
        obj.update(
            id=installation_id,
            account=self._user(account),
            access_tokens_url=f"{self.url}/app/installations/{installation_id}/access_tokens",
            html_url=f"{self.url}/organizations/{account}/settings/installations/{installation_id}",
            app_id=self.app_id,
            app_slug=self.app_slug,
            target_id=_user_id(account),
            permissions=dict(self.installation_permissions),
            events=["pull_request", "issue_comment", "check_run"],
        )
        return dict(obj)

    # ------------------------------------------------------------------ the web flow

    def _oauth_web(self, request: Request) -> Response:
        record = RequestRecord(request.method, request.path, dict(request.args), None, None)
        self.requests.append(record)
        injected = self._take_injection(f"{request.method} {request.path}")
        if injected is not None:
            record.status = injected.status
            return self._json(injected.status, injected.body, injected.headers)
        if request.path == "/login/oauth/authorize" and request.method == "GET":
            record.operation_id = "oauth/authorize"
            response = self._authorize(request)
        elif request.path == "/login/oauth/access_token" and request.method == "POST":
            record.operation_id = "oauth/access-token"
            response = self._access_token(request)
        else:
            response = Response("Not Found", status=404, content_type="text/plain")
        record.status = response.status_code
        return response

    def _authorize(self, request: Request) -> Response:
        if request.args.get("client_id") != self.oauth_client_id:
            return _page(404, "No application with that client_id.")
        redirect_uri = request.args.get("redirect_uri") or self.oauth_callback_url or ""
        if not redirect_uri:
            return _page(400, "No redirect_uri, and the App has no callback URL.")
        if self.oauth_callback_url and not redirect_uri.startswith(self.oauth_callback_url):
            return _page(400, "The redirect_uri is not associated with this application.")
        state = request.args.get("state")
        if self._oauth_deny:
            self._oauth_deny = False
            query = {
                "error": "access_denied",
                "error_description": "The user has denied your application access.",
                "error_uri": f"{TROUBLESHOOTING}#access-denied",
            }
        elif self._oauth_user is None:
            return _page(401, "Nobody is signed in to the stand-in (oauth_sign_in_as).")
        else:
            login, installation_ids = self._oauth_user
            query = {"code": self._grant(login, installation_ids, redirect_uri)}
        if state is not None:
            query["state"] = state
        separator = "&" if urlsplit(redirect_uri).query else "?"
        return Response(
            status=302, headers={"Location": redirect_uri + separator + urlencode(query)}
        )

    def _access_token(self, request: Request) -> Response:
        if request.mimetype == "application/json":
            try:
                sent = json.loads(request.get_data() or b"{}")
            except ValueError:
                sent = None
            fields = sent if isinstance(sent, dict) else {}
        else:
            fields = request.form.to_dict()
        wants_json = "application/json" in request.headers.get("Accept", "")
        if (
            fields.get("client_id") != self.oauth_client_id
            or fields.get("client_secret") != self.oauth_client_secret
        ):
            return _oauth_answer(
                _error(
                    "incorrect_client_credentials",
                    "The client_id and/or client_secret passed are incorrect.",
                ),
                wants_json,
            )
        grant = self._oauth_grants.pop(str(fields.get("code", "")), None)
        if grant is None or grant.expires_at < datetime.now(UTC):
            return _oauth_answer(
                _error("bad_verification_code", "The code passed is incorrect or expired."),
                wants_json,
            )
        redirect_uri = fields.get("redirect_uri")
        if redirect_uri and grant.redirect_uri and redirect_uri != grant.redirect_uri:
            return _oauth_answer(
                _error(
                    "redirect_uri_mismatch",
                    "The redirect_uri MUST match the registered callback URL for this application.",
                ),
                wants_json,
            )
        token = "ghu_" + secrets.token_hex(18)
        self._user_tokens[token] = UserTokenRecord(
            token, grant.login, grant.installation_ids, datetime.now(UTC) + TOKEN_TTL
        )
        answer = {
            "access_token": token,
            "expires_in": int(TOKEN_TTL.total_seconds()),
            "refresh_token": "ghr_" + secrets.token_hex(38),
            "refresh_token_expires_in": 15_897_600,
            "scope": "",
            "token_type": "bearer",
        }
        return _oauth_answer(answer, wants_json)

    def _grant(self, login: str, installation_ids: tuple[int, ...], redirect_uri: str) -> str:
        code = secrets.token_hex(10)
        self._oauth_grants[code] = OAuthGrant(
            code, login, installation_ids, redirect_uri, datetime.now(UTC) + CODE_TTL
        )
        return code


def _user_id(login: str) -> int:
    return int.from_bytes(login.encode()[:6].ljust(6, b"\0"), "big") % 10**8 + 1


def _error(code: str, description: str) -> dict[str, str]:
    anchor = code.replace("_", "-")
    return {
        "error": code,
        "error_description": description,
        "error_uri": f"{TROUBLESHOOTING}#{anchor}",
    }


def _oauth_answer(answer: dict[str, Any], wants_json: bool) -> Response:
    """GitHub answers 200 either way; `Accept: application/json` gets JSON, else a form."""
    if wants_json:
        return Response(
            json.dumps(answer), status=200, content_type="application/json; charset=utf-8"
        )
    return Response(
        urlencode(answer),
        status=200,
        content_type="application/x-www-form-urlencoded; charset=utf-8",
    )


def _page(status: int, message: str) -> Response:
    return Response(
        f"<!doctype html><title>GitHub</title><p>{message}</p>",
        status=status,
        content_type="text/html; charset=utf-8",
    )
