"""/dashboard signed in with GitHub: the OAuth web flow through the App against the
GitHub stand-in (its /login/oauth pages, GET /user and GET /user/installations), a user
seeing only the installations GitHub lists for them, and every failure a clear page."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from app_support import MakeApp
from dashboard_support import POLICY, expected_tables, read_tables, repositories_of, seed
from flask import Flask
from flask.testing import FlaskClient
from github_standin import GitHubStandIn

from provenfix.bot.dashboard.auth import SESSION_COOKIE
from provenfix.bot.dashboard.settings import DashboardSettings
from provenfix.bot.db import Database, utcnow


@pytest.fixture
def oauth_app(make_app: MakeApp, db: Database, standin: GitHubStandIn) -> Flask:
    seed(db, utcnow())
    standin.oauth_callback_url = "http://localhost/dashboard/oauth/callback"
    dashboard = DashboardSettings(
        oauth_client_id=standin.oauth_client_id,
        oauth_client_secret=standin.oauth_client_secret,
        github_web_url=standin.url,
    )
    return make_app(dashboard=dashboard, github_api_url=standin.url, acceptance=POLICY)


def start_github_sign_in(client: FlaskClient, standin: GitHubStandIn) -> str:
    """Click "Sign in with GitHub"; the authorize URL the browser is sent to."""
    response = client.get("/dashboard/login/github")
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{standin.url}/login/oauth/authorize?")
    query = parse_qs(urlsplit(location).query)
    assert query["client_id"] == [standin.oauth_client_id]
    assert query["redirect_uri"] == ["http://localhost/dashboard/oauth/callback"]
    return location


def github_round_trip(client: FlaskClient, standin: GitHubStandIn) -> str:
    """The whole flow as a browser follows it; the callback page's status and body."""
    approved = requests.get(
        start_github_sign_in(client, standin), allow_redirects=False, timeout=10
    )
    assert approved.status_code == 302
    callback = urlsplit(approved.headers["Location"])
    assert callback.path == "/dashboard/oauth/callback"
    response = client.get(f"{callback.path}?{callback.query}")
    return f"{response.status_code} {response.get_data(as_text=True)}"


def test_a_github_user_sees_only_the_installations_they_can_reach(
    oauth_app: Flask, standin: GitHubStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    standin.max_per_page = 2  # four installations: two pages of GET /user/installations
    standin.oauth_sign_in_as("mona", [7, 31, 32, 33])
    client = oauth_app.test_client()
    assert 'id="sign-in-github"' in client.get("/dashboard/login").get_data(as_text=True)
    assert github_round_trip(client, standin).startswith("303")
    page = client.get("/dashboard")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and '<strong id="viewer">mona</strong>' in html
    tables = read_tables(html)
    for table_id, rows in expected_tables(utcnow(), repositories_of([7])).items():
        assert tables[table_id] == rows, table_id
    assert "other/secret" not in html
    assert client.get("/dashboard?repository=other/secret").status_code == 404
    assert client.get("/dashboard?repository=octo/lib").status_code == 200
    calls = [(r.operation_id, r.auth, r.query.get("page")) for r in standin.requests]
    assert ("users/get-authenticated", "user", None) in calls
    pages = [c for c in calls if c[0] == "apps/list-installations-for-authenticated-user"]
    assert [p[2] for p in pages] == [None, "2"] and {p[1] for p in pages} == {"user"}
    cookie = client.get_cookie(SESSION_COOKIE, path="/dashboard")
    assert cookie is not None
    session = oauth_app.session_interface.get_signing_serializer(oauth_app).loads(cookie.value)  # type: ignore[attr-defined]
    assert session["login"] == "mona" and session["installations"] == [7, 31, 32, 33]
    assert "ghu_" not in repr(session) and "oauth_state" not in session
    assert standin.user_tokens and not any(t in caplog.text for t in standin.user_tokens)
    assert "mona signed in with GitHub (4 installations)" in caplog.text
    assert oauth_app.test_client().post("/dashboard/login", data={"token": "x"}).status_code == 404


def test_a_user_of_another_installation_sees_none_of_it(
    oauth_app: Flask, standin: GitHubStandIn
) -> None:
    standin.oauth_sign_in_as("outsider", [8])
    client = oauth_app.test_client()
    github_round_trip(client, standin)
    tables = read_tables(client.get("/dashboard").get_data(as_text=True))
    assert tables["table-noise-summary"][0] == ["Pull requests", "1"]
    for table_id, rows in expected_tables(utcnow(), {201}).items():
        assert tables[table_id] == rows, table_id


def test_sign_in_failures_are_clear_pages(oauth_app: Flask, standin: GitHubStandIn) -> None:
    client = oauth_app.test_client()
    standin.oauth_deny_next()
    answer = github_round_trip(client, standin)
    assert answer.startswith("403") and "The user has denied your application access" in answer

    state = parse_qs(urlsplit(start_github_sign_in(client, standin)).query)["state"][0]
    forged = client.get(f"/dashboard/oauth/callback?code=abc&state={'x' * len(state)}")
    assert forged.status_code == 400 and "does not belong" in forged.get_data(as_text=True)
    start_github_sign_in(client, standin)
    assert client.get("/dashboard/oauth/callback?code=abc&state=%C3%A9").status_code == 400

    state = parse_qs(urlsplit(start_github_sign_in(client, standin)).query)["state"][0]
    bad = client.get(f"/dashboard/oauth/callback?code=made-up&state={state}")
    assert bad.status_code == 502
    assert "The code passed is incorrect or expired" in bad.get_data(as_text=True)

    standin.oauth_sign_in_as("mona", [7])
    standin.fail_next(1, 503, match=r"^GET /user/installations")
    down = github_round_trip(client, standin)
    assert down.startswith("502") and "GitHub answered 503" in down
    assert client.get("/dashboard").status_code == 303  # nothing signed in

    standin.fail_next(1, 502, match=r"^POST /login/oauth/access_token")
    down = github_round_trip(client, standin)
    assert down.startswith("502") and "GitHub answered 502" in down
    assert github_round_trip(client, standin).startswith("303")  # and then it works


def test_the_user_endpoints_take_only_user_tokens(standin: GitHubStandIn) -> None:
    code = standin.oauth_code("mona", [7])
    exchanged = requests.post(
        f"{standin.url}/login/oauth/access_token",
        json={
            "client_id": standin.oauth_client_id,
            "client_secret": standin.oauth_client_secret,
            "code": code,
        },
        headers={"Accept": "application/json"},
        timeout=10,
    ).json()
    assert exchanged["token_type"] == "bearer" and exchanged["access_token"].startswith("ghu_")
    again = requests.post(
        f"{standin.url}/login/oauth/access_token",
        data={
            "client_id": standin.oauth_client_id,
            "client_secret": standin.oauth_client_secret,
            "code": code,
        },
        timeout=10,
    )
    assert parse_qs(again.text)["error"] == ["bad_verification_code"]  # a code is used once
    user = {"Authorization": f"Bearer {exchanged['access_token']}"}
    me = requests.get(f"{standin.url}/user", headers=user, timeout=10)
    assert me.status_code == 200 and me.json()["login"] == "mona"
    listed = requests.get(f"{standin.url}/user/installations", headers=user, timeout=10).json()
    assert listed["total_count"] == 1 and listed["installations"][0]["id"] == 7
    assert requests.get(f"{standin.url}/user", timeout=10).status_code == 401
    minted = requests.post(
        f"{standin.url}/app/installations/{standin.installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {standin.app_jwt()}"},
        timeout=10,
    ).json()["token"]
    as_installation = {"Authorization": f"token {minted}"}
    refused = requests.get(f"{standin.url}/user/installations", headers=as_installation, timeout=10)
    assert refused.status_code == 403  # GitHub: "Resource not accessible by integration"
