"""/dashboard: off unless configured, signed in by the admin token (GitHub sign-in is in
test_dashboard_github.py), and showing the numbers of the rows in the database, on
SQLite and PostgreSQL, in well-formed SVG that loads nothing from elsewhere."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import pytest
from app_support import MakeApp
from dashboard_support import (
    POLICY,
    TOKEN,
    expected_tables,
    read_tables,
    repositories_of,
    seed,
)
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue
from sqlalchemy import create_engine, select, text

from provenfix.bot.dashboard import charts
from provenfix.bot.dashboard.auth import MAX_FAILURES, SESSION_COOKIE
from provenfix.bot.dashboard.panels import PANELS
from provenfix.bot.dashboard.settings import DashboardSettings
from provenfix.bot.db import Database, utcnow
from provenfix.bot.settings import BotSettings, SettingsError, load_settings
from provenfix.bot.tables import PostedSuggestion, Run, SuggestionOutcome
from provenfix.bot.webapp import create_app

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ADMIN = DashboardSettings(admin_token=TOKEN)


def csrf_of(client: FlaskClient, path: str = "/dashboard/login") -> str:
    html = client.get(path).get_data(as_text=True)
    marker = 'name="csrf" value="'
    start = html.index(marker) + len(marker)
    return html[start : html.index('"', start)]


def sign_in(client: FlaskClient, token: str = TOKEN) -> int:
    response = client.post("/dashboard/login", data={"csrf": csrf_of(client), "token": token})
    return response.status_code


@pytest.fixture
def admin_app(make_app: MakeApp, db: Database) -> Flask:
    seed(db, utcnow())
    return make_app(dashboard=ADMIN, acceptance=POLICY)


# --- off, and signed out ------------------------------------------------------------------


def test_the_dashboard_is_off_unless_configured(client: FlaskClient) -> None:
    for path in ("/dashboard", "/dashboard/login", "/dashboard/charts/noise"):
        assert client.get(path).status_code == 404
    assert client.post("/dashboard/login", data={"token": TOKEN}).status_code == 404


def test_signed_out_viewers_are_sent_to_sign_in(admin_app: Flask) -> None:
    client = admin_app.test_client()
    assert client.get("/dashboard/").headers["Location"].endswith("/dashboard")
    for path in ("/dashboard", "/dashboard/charts/calibration"):
        response = client.get(path)
        assert response.status_code == 303
        assert response.headers["Location"].endswith("/dashboard/login")
    page = client.get("/dashboard/login")
    assert page.status_code == 200 and 'id="token-form"' in page.get_data(as_text=True)
    assert "Sign in with GitHub" not in page.get_data(as_text=True)  # OAuth is not configured


def test_a_wrong_token_or_a_missing_csrf_token_is_refused(admin_app: Flask) -> None:
    client = admin_app.test_client()
    assert sign_in(client, "not-the-token-not-the-token") == 401
    assert client.get("/dashboard").status_code == 303
    refused = client.post("/dashboard/login", data={"token": TOKEN})
    assert refused.status_code == 400
    other = admin_app.test_client()  # a token of another session does not do either
    forged = other.post("/dashboard/login", data={"token": TOKEN, "csrf": csrf_of(client)})
    assert forged.status_code == 400
    odd = client.post("/dashboard/login", data={"token": TOKEN, "csrf": "é" * 43})
    assert odd.status_code == 400
    assert client.get("/dashboard").status_code == 303


def test_wrong_tokens_are_throttled_per_address(admin_app: Flask, redis: Redis) -> None:
    client = admin_app.test_client()
    for _ in range(MAX_FAILURES):
        assert sign_in(client, "wrong-wrong-wrong-wrong-wrong") == 401
    assert sign_in(client) == 429  # even the right token, until the window passes
    assert client.get("/dashboard").status_code == 303
    elsewhere = admin_app.test_client()
    response = elsewhere.post(
        "/dashboard/login",
        data={"csrf": csrf_of(elsewhere), "token": TOKEN},
        environ_base={"REMOTE_ADDR": "10.0.0.9"},
    )
    assert response.status_code == 303


# --- the admin token ----------------------------------------------------------------------


def test_the_admin_sees_every_installation_with_the_numbers_of_the_database(
    admin_app: Flask, queue: Queue
) -> None:
    for n in range(3):
        queue.enqueue("builtins.sorted", [n, 1])
    client = admin_app.test_client()
    assert sign_in(client) == 303
    page = client.get("/dashboard")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    tables = read_tables(html)
    expected = expected_tables(utcnow(), repositories_of([7, 8]))
    for table_id, rows in expected.items():
        assert tables[table_id] == rows, table_id
    queue_rows = dict((state, int(count)) for state, count in tables["table-queue"])
    assert queue_rows["queued"] == 3 and queue_rows["failed"] == 0
    assert "other/secret" in html and "octo/app" in html
    for name in PANELS:  # every chart: an accessible SVG with its table beside it
        assert f'id="chart-{name}"' in html
        assert f'aria-labelledby="chart-{name}-title chart-{name}-desc"' in html


def test_the_repository_filter_narrows_every_number(admin_app: Flask) -> None:
    client = admin_app.test_client()
    sign_in(client)
    page = client.get("/dashboard?repository=octo/lib&weeks=8")
    tables = read_tables(page.get_data(as_text=True))
    for table_id, rows in expected_tables(utcnow(), {102}, weeks=8).items():
        assert tables[table_id] == rows, table_id
    assert client.get("/dashboard?repository=nobody/nothing").status_code == 404


def test_each_chart_has_its_own_page(admin_app: Flask) -> None:
    client = admin_app.test_client()
    sign_in(client)
    for name in PANELS:
        page = client.get(f"/dashboard/charts/{name}?repository=octo/app")
        html = page.get_data(as_text=True)
        assert page.status_code == 200, name
        assert html.count("<svg ") >= 1 and f'id="panel-{name}"' in html
        assert html.count('class="panel"') == 1
    missing = client.get("/dashboard/charts/nonsense")
    assert missing.status_code == 404 and "No such chart" in missing.get_data(as_text=True)


def test_pages_load_nothing_from_elsewhere(admin_app: Flask) -> None:
    client = admin_app.test_client()
    sign_in(client)
    page = client.get("/dashboard")
    html = page.get_data(as_text=True)
    assert "<script" not in html
    assert 'src="http' not in html and 'href="http' not in html and "@import" not in html
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert page.headers["Cache-Control"] == "no-store"
    css = client.get("/dashboard/static/dashboard.css")
    assert css.status_code == 200 and css.mimetype == "text/css"
    assert "url(" not in css.get_data(as_text=True)


def test_hostile_names_are_escaped_and_every_chart_is_well_formed_svg(
    admin_app: Flask, db: Database
) -> None:
    hostile = '"><script>alert(1)</script>&'
    with db.session() as s:
        run_id = s.scalars(select(Run.id).limit(1)).one()
        posted = PostedSuggestion(
            run_id=run_id, suggestion_id="h", path="x.py", start_line=1, end_line=1,
            kind="replace", source="codemod", rule_ids=hostile, validation="tests",
            committable=True, reliability=0.5,
        )  # fmt: skip
        s.add(posted)
        s.flush()
        s.add(
            SuggestionOutcome(
                suggestion_row_id=posted.id, repository_id=101, pr_number=1,
                suggestion_id="h", rule_id=hostile, source_family="codemod",
                reliability=0.5, state="applied", decided_at=utcnow(),
            )
        )  # fmt: skip
    client = admin_app.test_client()
    sign_in(client)
    html = client.get("/dashboard").get_data(as_text=True)
    assert "<script" not in html
    svgs = re.findall(r"<svg .*?</svg>", html, re.DOTALL)
    assert len(svgs) == len(PANELS)
    for svg in svgs:
        root = ElementTree.fromstring(svg)  # well-formed: every name went through escape()
        assert root.find("{http://www.w3.org/2000/svg}title") is not None
    rules = [row[0] for row in read_tables(html)["table-acceptance-rule-total"]]
    assert hostile in rules  # shown as text, not markup
    drawn = [
        charts.line_chart(
            "c", hostile, hostile, [hostile], [charts.Series(hostile, (0.5,), (hostile,))],
            y_label=hostile, x_label=hostile,
        ),
        charts.bar_chart("c", hostile, hostile, [hostile], [2.0], y_label=hostile),
        charts.calibration_plot("c", hostile, hostile, [charts.Point(0.5, 0.5, 3, hostile)]),
    ]  # fmt: skip
    for svg in drawn:
        root = ElementTree.fromstring(str(svg))
        assert root.findtext("{http://www.w3.org/2000/svg}title") == hostile
        assert "<script" not in svg


def test_the_session_cookie_is_locked_down(admin_app: Flask) -> None:
    client = admin_app.test_client()
    client.post("/dashboard/login", data={"csrf": csrf_of(client), "token": TOKEN})
    cookie = client.get_cookie(SESSION_COOKIE, path="/dashboard")
    assert cookie is not None
    assert cookie.http_only and cookie.same_site == "Lax" and cookie.path == "/dashboard"
    assert TOKEN not in cookie.value
    secure = admin_app.test_client()
    html = secure.get("/dashboard/login", base_url="https://dash.example").get_data(as_text=True)
    csrf = html.split('name="csrf" value="')[1].split('"')[0]
    response = secure.post(
        "/dashboard/login", data={"csrf": csrf, "token": TOKEN}, base_url="https://dash.example"
    )
    assert "Secure" in response.headers["Set-Cookie"]


def test_signing_out_and_changing_the_token_end_the_session(
    admin_app: Flask, make_app: MakeApp
) -> None:
    client = admin_app.test_client()
    sign_in(client)
    assert client.get("/dashboard").status_code == 200
    csrf = csrf_of(client, "/dashboard")
    assert client.post("/dashboard/logout", data={}).status_code == 400
    assert client.post("/dashboard/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/dashboard").status_code == 303
    sign_in(client)
    cookie = client.get_cookie(SESSION_COOKIE, path="/dashboard")
    assert cookie is not None
    rotated = make_app(dashboard=DashboardSettings(admin_token="another-admin-token-" + "x" * 20))
    later = rotated.test_client()
    later.set_cookie(SESSION_COOKIE, cookie.value, path="/dashboard")
    assert later.get("/dashboard").status_code == 303


# --- both databases -----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'other.db'}")
        database.create_all()
        yield database
        database.dispose()
        return
    schema = f"provenfix_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = Database(POSTGRES, connect_args={"options": f"-csearch_path={schema}"})
    try:
        database.create_all()
        yield database
    finally:
        database.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_the_numbers_are_the_same_on_sqlite_and_postgresql(
    any_db: Database, settings: BotSettings, redis: Redis, queue: Queue
) -> None:
    now = utcnow()
    seed(any_db, now)
    app = create_app(
        replace(settings, dashboard=ADMIN, acceptance=POLICY), redis=redis, queue=queue, db=any_db
    )
    client = app.test_client()
    sign_in(client)
    tables = read_tables(client.get("/dashboard?weeks=6").get_data(as_text=True))
    for table_id, rows in expected_tables(now, repositories_of([7, 8]), weeks=6).items():
        assert tables[table_id] == rows, table_id


def test_the_public_address_is_checked_and_makes_the_cookie_secure(
    env: dict[str, str], make_app: MakeApp
) -> None:
    with pytest.raises(
        SettingsError, match=re.escape("PROVENFIX_DASHBOARD_URL='https://h.example/x'")
    ):
        load_settings(env | {"PROVENFIX_DASHBOARD_URL": "https://h.example/x"})
    with pytest.raises(SettingsError, match="PROVENFIX_DASHBOARD_TOKEN is 5 characters"):
        load_settings(env | {"PROVENFIX_DASHBOARD_TOKEN": "short"})
    loaded = load_settings(
        env | {"PROVENFIX_DASHBOARD_TOKEN": TOKEN, "PROVENFIX_DASHBOARD_URL": "https://h.example/"}
    )
    assert loaded.dashboard.public_url == "https://h.example" and loaded.dashboard.enabled
    client = make_app(dashboard=loaded.dashboard).test_client()
    response = client.post("/dashboard/login", data={"csrf": csrf_of(client), "token": TOKEN})
    assert response.status_code == 303 and "Secure" in response.headers["Set-Cookie"]
