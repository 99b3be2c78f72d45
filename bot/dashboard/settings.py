"""The dashboard's settings: who may sign in, and how.

Two ways, either or both: a static admin token (PROVENFIX_DASHBOARD_TOKEN, for
self-hosters: sees every installation), and GitHub sign-in through the App's
OAuth credentials (PROVENFIX_GITHUB_CLIENT_ID and PROVENFIX_GITHUB_CLIENT_SECRET:
a user sees the installations `GET /user/installations` lists for them). With
neither set, /dashboard answers 404: it is off, not open.

PROVENFIX_DASHBOARD_URL is the address users reach the service at behind a TLS
proxy (e.g. https://provenfix.example.com): the OAuth callback is built from it,
and an https one makes the sign-in cookie Secure. Empty: taken from each request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from provenfix.jobs.settings_reader import SettingsReader

MIN_TOKEN_LENGTH = 24


@dataclass(frozen=True)
class DashboardSettings:
    admin_token: str = field(default="", repr=False)
    oauth_client_id: str = ""
    oauth_client_secret: str = field(default="", repr=False)
    # the web host of GitHub's OAuth pages (https://github.com, or a GHES host)
    github_web_url: str = ""
    # signs the sign-in cookie; empty: derived from the webhook secret
    session_secret: str = field(default="", repr=False)
    # where users reach the service (scheme and host, no path); empty: from the request
    public_url: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.admin_token or self.oauth_client_id)


def read_dashboard_settings(reader: SettingsReader, api_url: str) -> DashboardSettings:
    token = (reader.raw("PROVENFIX_DASHBOARD_TOKEN") or "").strip()
    if token and len(token) < MIN_TOKEN_LENGTH:
        reader.problem(
            f"PROVENFIX_DASHBOARD_TOKEN is {len(token)} characters; use at least "
            f"{MIN_TOKEN_LENGTH} random ones (`openssl rand -hex 32`)"
        )
    client_id = (reader.raw("PROVENFIX_GITHUB_CLIENT_ID") or "").strip()
    client_secret = (reader.raw("PROVENFIX_GITHUB_CLIENT_SECRET") or "").strip()
    if bool(client_id) != bool(client_secret):
        reader.problem(
            "set both PROVENFIX_GITHUB_CLIENT_ID and PROVENFIX_GITHUB_CLIENT_SECRET (the Client "
            "ID and a client secret from the GitHub App's page) for GitHub sign-in, or neither"
        )
    web_url = reader.text("PROVENFIX_GITHUB_WEB_URL", web_url_for(api_url)).rstrip("/")
    if not web_url.startswith(("https://", "http://")):
        reader.problem(
            f"PROVENFIX_GITHUB_WEB_URL={web_url!r} is not an http(s) URL; use "
            "https://github.com or your GitHub Enterprise Server's address"
        )
    secret = (reader.raw("PROVENFIX_DASHBOARD_SESSION_SECRET") or "").strip()
    public_url = reader.text("PROVENFIX_DASHBOARD_URL", "").rstrip("/")
    if public_url and not _is_origin(public_url):
        reader.problem(
            f"PROVENFIX_DASHBOARD_URL={public_url!r} is not an http(s) address without a "
            "path; use the address users open, e.g. https://provenfix.example.com"
        )
        public_url = ""
    return DashboardSettings(token, client_id, client_secret, web_url, secret, public_url)


def _is_origin(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and parts.path in ("", "/")


def web_url_for(api_url: str) -> str:
    """https://api.github.com → https://github.com; https://HOST/api/v3 → https://HOST."""
    url = api_url.rstrip("/")
    if url == "https://api.github.com":
        return "https://github.com"
    return url.removesuffix("/api/v3")
