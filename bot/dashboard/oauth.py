"""GitHub sign-in through the App (the user-to-server web flow).

The dashboard sends the browser to `{web}/login/oauth/authorize` with the App's
client id and a random `state`; GitHub sends it back to /dashboard/oauth/callback
with a `code`, which `GitHubOAuth.sign_in` exchanges (with the client secret) for
a user access token, then asks `GET /user` who that is and `GET /user/installations`
which of the App's installations they can reach. The token is then dropped: it is
neither stored nor logged, and no error message carries it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

import requests

from provenfix.bot.dashboard.settings import DashboardSettings

TIMEOUT_S = 10
MAX_PAGES = 20  # 2,000 installations; more than any one user reaches
API_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": "ProvenFix-dashboard",
}


class OAuthError(Exception):
    """The sign-in failed; the message says why, for the person signing in."""


@dataclass(frozen=True)
class GitHubUser:
    login: str
    installation_ids: frozenset[int]


class GitHubOAuth:
    def __init__(self, dashboard: DashboardSettings, api_url: str) -> None:
        self._dashboard = dashboard
        self._api = api_url.rstrip("/")

    def authorize_url(self, state: str, redirect_uri: str) -> str:
        query = urlencode(
            {
                "client_id": self._dashboard.oauth_client_id,
                "state": state,
                "redirect_uri": redirect_uri,
            }
        )
        return f"{self._dashboard.github_web_url}/login/oauth/authorize?{query}"

    def sign_in(self, code: str, redirect_uri: str) -> GitHubUser:
        with requests.Session() as http:
            token = self._exchange(http, code, redirect_uri)
            http.headers.update({**API_HEADERS, "Authorization": f"Bearer {token}"})
            user = self._get(http, f"{self._api}/user")
            login = user.get("login") if isinstance(user, dict) else None
            if not isinstance(login, str) or not login:
                raise OAuthError("GitHub's answer to GET /user has no login")
            return GitHubUser(login, self._installations(http))

    def _exchange(self, http: requests.Session, code: str, redirect_uri: str) -> str:
        form = {
            "client_id": self._dashboard.oauth_client_id,
            "client_secret": self._dashboard.oauth_client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
        }
        url = f"{self._dashboard.github_web_url}/login/oauth/access_token"
        answer = self._json(
            lambda: http.post(
                url, data=form, headers={"Accept": "application/json"}, timeout=TIMEOUT_S
            ),
            "exchanging the sign-in code",
        )
        if not isinstance(answer, dict):
            raise OAuthError("GitHub's answer to the code exchange is not a JSON object")
        if "error" in answer:
            reason = answer.get("error_description") or answer["error"]
            raise OAuthError(f"GitHub refused the sign-in code: {reason}")
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise OAuthError("GitHub's answer to the code exchange has no access token")
        return token

    def _installations(self, http: requests.Session) -> frozenset[int]:
        ids: set[int] = set()
        url: str | None = f"{self._api}/user/installations?per_page=100"
        for _ in range(MAX_PAGES):
            if url is None:
                break
            response = self._request(http, url)
            page = self._decode(response, "GET /user/installations")
            items = page.get("installations") if isinstance(page, dict) else None
            if not isinstance(items, list):
                raise OAuthError("GitHub's answer to GET /user/installations lists none")
            ids.update(
                i["id"] for i in items if isinstance(i, dict) and isinstance(i.get("id"), int)
            )
            url = response.links.get("next", {}).get("url")
            # the token goes only where the API lives
            if url is not None and urlsplit(url).netloc != urlsplit(self._api).netloc:
                raise OAuthError("GitHub's next page of installations is on another host")
        return frozenset(ids)

    def _get(self, http: requests.Session, url: str) -> Any:
        return self._decode(self._request(http, url), f"GET {urlsplit(url).path}")

    def _request(self, http: requests.Session, url: str) -> requests.Response:
        try:
            return http.get(url, timeout=TIMEOUT_S)
        except requests.RequestException as exc:
            raise OAuthError(
                f"GitHub did not answer GET {urlsplit(url).path} ({exc.__class__.__name__})"
            ) from None

    def _json(self, send: Callable[[], requests.Response], what: str) -> Any:
        try:
            response = send()
        except requests.RequestException as exc:
            raise OAuthError(
                f"GitHub did not answer while {what} ({exc.__class__.__name__})"
            ) from None
        return self._decode(response, what)

    @staticmethod
    def _decode(response: requests.Response, what: str) -> Any:
        if response.status_code != 200:
            raise OAuthError(f"GitHub answered {response.status_code} to {what}")
        try:
            return response.json()
        except ValueError:
            raise OAuthError(f"GitHub's answer to {what} is not JSON") from None
