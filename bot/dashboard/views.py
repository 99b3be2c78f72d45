"""The dashboard's pages: sign-in (admin token, GitHub), the overview, one page per chart.

Every page answers HTML, including the errors (a clear page, never a stack trace),
with a Content-Security-Policy that allows nothing but this service's own
stylesheet: the pages run no script at all, and the charts are inline SVG.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from provenfix.bot.dashboard import auth
from provenfix.bot.dashboard.oauth import GitHubOAuth, OAuthError
from provenfix.bot.dashboard.panels import LABELS, PANELS
from provenfix.bot.dashboard.stats import DashboardStats, Scope, Window
from provenfix.bot.db import Database, utcnow
from provenfix.bot.settings import BotSettings

log = logging.getLogger("provenfix.dashboard")

DEFAULT_WEEKS = 12
MAX_WEEKS = 104
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def dashboard_blueprint(
    settings: BotSettings, *, redis: Redis, queue: Queue, db: Database
) -> Blueprint:
    dashboard = settings.dashboard
    stats = DashboardStats(db, queue, settings.acceptance)
    throttle = auth.LoginThrottle(redis)
    oauth = GitHubOAuth(dashboard, settings.github_api_url) if dashboard.oauth_client_id else None
    bp = Blueprint(
        "dashboard",
        __name__,
        url_prefix="/dashboard",
        template_folder="templates",
        static_folder="static",
    )

    def page(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
        context.setdefault("viewer", auth.current_viewer(dashboard))
        return render_template(template, csrf=auth.csrf_token(), **context), status

    def charts_page(viewer: auth.Viewer, names: tuple[str, ...]) -> tuple[str, int]:
        repositories = stats.repositories(viewer.installation_ids)
        repository = request.args.get("repository") or None
        if repository is not None and repository not in repositories:
            abort(404, description="No such repository among those you can see.")
        weeks = request.args.get("weeks", type=int) or DEFAULT_WEEKS
        window = Window(utcnow(), min(max(weeks, 1), MAX_WEEKS))
        scope = Scope(viewer.installation_ids, repository)
        query = {k: request.args[k] for k in ("repository", "weeks") if request.args.get(k)}
        return page(
            "dashboard/overview.html",
            viewer=viewer,
            panels=[PANELS[name](stats, scope, window) for name in names],
            scope=scope,
            window=window,
            repositories=repositories,
            single=len(names) == 1,
            query=query,
            chart_names=list(LABELS.items()),
        )

    def failure(status: int, title: str, message: str) -> tuple[str, int]:
        return page("dashboard/error.html", status, title=title, message=message)

    def callback_url() -> str:
        path = url_for("dashboard.oauth_callback")
        if dashboard.public_url:
            return dashboard.public_url + path
        return url_for("dashboard.oauth_callback", _external=True)

    def signed_in(view: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            viewer = auth.current_viewer(dashboard)
            if viewer is None:
                return redirect(url_for("dashboard.login"), 303)
            return view(viewer, *args, **kwargs)

        wrapper.__name__ = view.__name__
        return wrapper

    @bp.after_request
    def headers(response: Response) -> Response:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        # the OAuth callback's URL carries the code: never send it on as a Referer
        response.headers["Referrer-Policy"] = "no-referrer"
        if request.endpoint != "dashboard.static":
            response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/login")
    def login() -> Any:
        if auth.current_viewer(dashboard) is not None:
            return redirect(url_for("dashboard.overview"), 303)
        return page("dashboard/login.html", dashboard=dashboard, error="")

    @bp.post("/login")
    def login_with_token() -> Any:
        def refuse(status: int, error: str) -> tuple[str, int]:
            return page("dashboard/login.html", status, dashboard=dashboard, error=error)

        if not dashboard.admin_token:
            abort(404)
        if not auth.csrf_ok(request.form.get("csrf")):
            return refuse(400, "The form expired; sign in again.")
        address = request.remote_addr or "unknown"
        if throttle.blocked(address):
            minutes = auth.FAILURE_WINDOW_S // 60
            return refuse(429, f"Too many wrong tokens: try again in {minutes} minutes.")
        if not auth.token_matches(dashboard, request.form.get("token", "")):
            throttle.failed(address)
            log.warning("dashboard: wrong admin token from %s", address)
            return refuse(401, "That token is not the dashboard's admin token.")
        throttle.succeeded(address)
        auth.sign_in(auth.Viewer("admin", "admin", None), dashboard)
        log.info("dashboard: admin signed in from %s", address)
        return redirect(url_for("dashboard.overview"), 303)

    @bp.post("/logout")
    def logout() -> Any:
        if not auth.csrf_ok(request.form.get("csrf")):
            return failure(400, "Not signed out", "The form expired; reload the page and retry.")
        auth.sign_out()
        return redirect(url_for("dashboard.login"), 303)

    @bp.get("/login/github")
    def login_github() -> Any:
        if oauth is None:
            abort(404)
        state = secrets.token_urlsafe(32)
        session["oauth_state"] = state
        return redirect(oauth.authorize_url(state, callback_url()), 303)

    @bp.get("/oauth/callback")
    def oauth_callback() -> Any:
        if oauth is None:
            abort(404)
        expected = session.pop("oauth_state", None)
        state = request.args.get("state", "")
        if not isinstance(expected, str) or not auth.same_secret(expected, state):
            return failure(
                400,
                "Sign-in not completed",
                "This sign-in link does not belong to this browser's session (or was used "
                "already). Start again from the sign-in page.",
            )
        if request.args.get("error"):
            reason = request.args.get("error_description") or request.args["error"]
            return failure(403, "Sign-in declined", f"GitHub did not sign you in: {reason}.")
        code = request.args.get("code", "")
        if not code:
            return failure(400, "Sign-in not completed", "GitHub sent no sign-in code back.")
        try:
            user = oauth.sign_in(code, callback_url())
        except OAuthError as exc:
            log.warning("dashboard: GitHub sign-in failed: %s", exc)
            return failure(502, "GitHub sign-in failed", f"{exc}. Try again in a moment.")
        auth.sign_in(auth.Viewer("github", user.login, user.installation_ids), dashboard)
        log.info(
            "dashboard: %s signed in with GitHub (%d installations)",
            user.login,
            len(user.installation_ids),
        )
        return redirect(url_for("dashboard.overview"), 303)

    @bp.get("/")
    def slash() -> Any:
        return redirect(url_for("dashboard.overview"), 308)

    @bp.get("")
    @signed_in
    def overview(viewer: auth.Viewer) -> Any:
        return charts_page(viewer, tuple(PANELS))

    @bp.get("/charts/<name>")
    @signed_in
    def chart(viewer: auth.Viewer, name: str) -> Any:
        if name not in PANELS:
            abort(404, description="No such chart.")
        return charts_page(viewer, (name,))

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> tuple[str, int]:
        code = exc.code or 500
        message = exc.description if code == 404 else f"{exc.name}."
        return failure(code, exc.name, message or exc.name)

    @bp.errorhandler(SQLAlchemyError)
    def database_down(exc: SQLAlchemyError) -> tuple[str, int]:
        log.exception("dashboard: database unavailable")
        return failure(503, "Database unavailable", "The database did not answer; retry later.")

    @bp.errorhandler(RedisError)
    def redis_down(exc: RedisError) -> tuple[str, int]:
        log.exception("dashboard: Redis unavailable")
        return failure(503, "Redis unavailable", "Redis did not answer; retry later.")

    return bp


def register_dashboard(
    app: Flask, settings: BotSettings, *, redis: Redis, queue: Queue, db: Database
) -> None:
    """Serve /dashboard from `app` (its sign-in cookie, its pages, its stylesheet)."""
    auth.configure_sessions(app, settings.dashboard, settings.webhook_secret)
    app.register_blueprint(dashboard_blueprint(settings, redis=redis, queue=queue, db=db))
