"""Fixtures of the GitHub App tests: real Redis, real rq workers, real SQLite, and for
the end-to-end tests the GitHub stand-in with the `stats` repository on it.

Redis: each test session takes one of the databases 8..15 of the local server
with a lock key (two sessions running at once never share one), flushes it
before and after every test, and releases it at the end. Set
PROVENFIX_TEST_REDIS_URL to use another server (its database number is kept).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from app_support import APP_ID, SECRET, TEST_QUEUE, Deliver, MakeApp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from e2e_support import CONFIG
from flask import Flask
from flask.testing import FlaskClient
from github_standin import GitHubStandIn
from redis import Redis
from repo_support import GitRepo, MakeRepo
from rq import Queue
from stats_repo import BASE, HEAD, RULE, TESTS

from provenfix.bot.db import Database
from provenfix.bot.settings import BotSettings, load_settings
from provenfix.bot.webapp import create_app

_LOCK = "provenfix-test-session-lock"


@pytest.fixture(scope="session")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    configured = os.environ.get("PROVENFIX_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    token = uuid.uuid4().hex
    for db in range(8, 16):
        conn = Redis(host="127.0.0.1", port=6379, db=db)
        try:
            if conn.set(_LOCK, token, nx=True, ex=3600):
                break
        finally:
            conn.close()
    else:
        pytest.fail("no free Redis database among 8..15 for this test session")
    url = f"redis://127.0.0.1:6379/{db}"
    try:
        yield url
    finally:
        conn = Redis.from_url(url)
        conn.flushdb()
        conn.close()


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    conn = Redis.from_url(redis_url)
    lock = conn.get(_LOCK)
    conn.flushdb()
    if lock is not None:
        conn.set(_LOCK, lock, ex=3600)
    yield conn
    conn.flushdb()
    if lock is not None:
        conn.set(_LOCK, lock, ex=3600)
    conn.close()


@pytest.fixture
def env(private_key_pem: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PROVENFIX_APP_ID": str(APP_ID),
        "PROVENFIX_PRIVATE_KEY": private_key_pem,
        "PROVENFIX_WEBHOOK_SECRET": SECRET,
        "PROVENFIX_REDIS_URL": redis_url,
        "PROVENFIX_DATABASE_URL": f"sqlite:///{tmp_path / 'provenfix.db'}",
        "PROVENFIX_QUEUE": TEST_QUEUE,
        "PROVENFIX_SANDBOX": "none",
        "PROVENFIX_JOB_TIMEOUT_S": "600",
    }


@pytest.fixture
def settings(env: dict[str, str]) -> BotSettings:
    return load_settings(env)


@pytest.fixture
def db(settings: BotSettings) -> Iterator[Database]:
    database = Database(settings.database_url)
    database.create_all()
    yield database
    database.dispose()


@pytest.fixture
def queue(redis: Redis, settings: BotSettings) -> Queue:
    return Queue(settings.queue_name, connection=redis)


@pytest.fixture
def make_app(settings: BotSettings, redis: Redis, queue: Queue, db: Database) -> MakeApp:
    def make(**changes: Any) -> Flask:
        app = create_app(replace(settings, **changes), redis=redis, queue=queue, db=db)
        app.testing = True
        return app

    return make


@pytest.fixture
def client(make_app: MakeApp) -> FlaskClient:
    return make_app().test_client()


@pytest.fixture
def deliver(client: FlaskClient) -> Deliver:
    return Deliver(client)


# --- end to end: the stand-in and the `stats` pull request ----------------------------------


@pytest.fixture
def standin(github_standin: GitHubStandIn) -> GitHubStandIn:
    """tests/conftest.py's stand-in: it fails the test if a request broke the contract."""
    assert github_standin.app_id == APP_ID
    return github_standin


@pytest.fixture
def repo(make_repo: MakeRepo, standin: GitHubStandIn) -> GitRepo:
    repo = make_repo(
        {"stats.py": BASE, "tests/test_stats.py": TESTS, CONFIG: "suggestions:\n  max: 5\n"},
        # the pull request cannot switch off the rule that judges it: the App reads the
        # configuration of the default branch
        {"stats.py": HEAD, CONFIG: f"rules:\n  disable: [{RULE}]\n"},
    )
    standin.add_repo("octo", "stats", repo.path, default_branch="main")
    return repo


@pytest.fixture
def app_env(env: dict[str, str], standin: GitHubStandIn) -> dict[str, str]:
    return env | {
        "PROVENFIX_APP_ID": str(standin.app_id),
        "PROVENFIX_PRIVATE_KEY": standin.private_key_pem,
        "PROVENFIX_GITHUB_API_URL": standin.url,
        "PROVENFIX_SANDBOX": "none",
    }


@pytest.fixture
def web(app_env: dict[str, str], redis: Redis, queue: Queue, db: Database) -> FlaskClient:
    app = create_app(load_settings(app_env), redis=redis, queue=queue, db=db)
    return app.test_client()
