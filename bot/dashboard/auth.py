"""Who is looking at the dashboard: the signed session cookie, CSRF tokens, and the
throttle on wrong admin tokens.

The session is Flask's: a cookie signed (HMAC, itsdangerous) with
PROVENFIX_DASHBOARD_SESSION_SECRET, or a key derived from the webhook secret; it
holds who signed in and, for a GitHub user, the installation ids they can reach,
never a token. It is HttpOnly, SameSite=Lax, scoped to /dashboard, Secure when the
request (or PROVENFIX_DASHBOARD_URL) is https, and expires after SESSION_HOURS.
An admin session also holds a fingerprint of the admin token: changing the token
signs every admin out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import Flask, request, session
from flask.sessions import SecureCookieSessionInterface
from redis import Redis

from provenfix.bot.dashboard.settings import DashboardSettings

SESSION_HOURS = 8
SESSION_COOKIE = "provenfix_dashboard"
MAX_FAILURES = 10  # wrong admin tokens per client address …
FAILURE_WINDOW_S = 15 * 60  # … in this many seconds, then sign-in is refused until it passes
FAILURES_KEY = "provenfix:dashboard:login-failures:"
_SESSION_LABEL = b"provenfix dashboard session v1"


@dataclass(frozen=True)
class Viewer:
    kind: str  # "admin" | "github"
    login: str
    installation_ids: frozenset[int] | None  # None: every installation

    @property
    def is_admin(self) -> bool:
        return self.kind == "admin"


class _Sessions(SecureCookieSessionInterface):
    """Flask's signed cookie, made Secure whenever the page was served over https."""

    def __init__(self, public_https: bool) -> None:
        self._public_https = public_https

    def get_cookie_secure(self, app: Flask) -> bool:
        return self._public_https or request.is_secure or super().get_cookie_secure(app)


def session_key(dashboard: DashboardSettings, webhook_secret: str) -> bytes:
    if dashboard.session_secret:
        return dashboard.session_secret.encode("utf-8")
    return hmac.new(webhook_secret.encode("utf-8"), _SESSION_LABEL, hashlib.sha256).digest()


def configure_sessions(app: Flask, dashboard: DashboardSettings, webhook_secret: str) -> None:
    app.secret_key = session_key(dashboard, webhook_secret)
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_PATH="/dashboard",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=SESSION_HOURS),
    )
    app.session_interface = _Sessions(dashboard.public_url.startswith("https://"))


def csrf_token() -> str:
    """This session's token for the forms (made on first use)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_ok(sent: str | None) -> bool:
    token = session.get("csrf")
    return isinstance(token, str) and bool(sent) and same_secret(token, sent or "")


def same_secret(expected: str, sent: str) -> bool:
    """In constant time; as bytes, because compare_digest refuses non-ASCII text."""
    return hmac.compare_digest(expected.encode("utf-8"), sent.encode("utf-8"))


def _fingerprint(admin_token: str) -> str:
    return hashlib.sha256(b"provenfix dashboard admin\x00" + admin_token.encode()).hexdigest()[:32]


def token_matches(dashboard: DashboardSettings, sent: str) -> bool:
    return bool(dashboard.admin_token) and same_secret(dashboard.admin_token, sent.strip())


def sign_in(viewer: Viewer, dashboard: DashboardSettings) -> None:
    """A fresh session for `viewer` (a new CSRF token too: nothing carries over)."""
    session.clear()
    session.permanent = True
    session["kind"] = viewer.kind
    session["login"] = viewer.login
    if viewer.installation_ids is not None:
        session["installations"] = sorted(viewer.installation_ids)
    if viewer.is_admin:
        session["admin"] = _fingerprint(dashboard.admin_token)
    csrf_token()


def sign_out() -> None:
    session.clear()


def current_viewer(dashboard: DashboardSettings) -> Viewer | None:
    """The signed-in viewer, if the session still stands for one under these settings."""
    kind = session.get("kind")
    login = session.get("login")
    if not isinstance(login, str):
        return None
    if kind == "admin":
        stamp = session.get("admin")
        if not dashboard.admin_token or not isinstance(stamp, str):
            return None
        if not hmac.compare_digest(stamp, _fingerprint(dashboard.admin_token)):
            return None
        return Viewer("admin", login, None)
    if kind == "github" and dashboard.oauth_client_id:
        ids = session.get("installations")
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            return None
        return Viewer("github", login, frozenset(ids))
    return None


class LoginThrottle:
    """Counts wrong admin tokens per client address in Redis (shared by every web process)."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    def blocked(self, address: str) -> bool:
        count = self._redis.get(FAILURES_KEY + address)
        return count is not None and int(count) >= MAX_FAILURES

    def failed(self, address: str) -> None:
        key = FAILURES_KEY + address
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, FAILURE_WINDOW_S, nx=True)
        pipe.execute()

    def succeeded(self, address: str) -> None:
        self._redis.delete(FAILURES_KEY + address)
