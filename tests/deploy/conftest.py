"""Fixtures of the deployment tests: the real Docker engine, Redis and PostgreSQL.

Nothing is mocked and nothing skips: without an engine, Redis or PostgreSQL the
tests fail with the fix in the message. Redis: like tests/app, a session takes
one of the databases 8..15 of the local server with the same lock key, so it
never shares one with a concurrent session. PostgreSQL: a throw-away database
on the local server (trust authentication, as scripts/setup leaves it), dropped
at the end; PROVENFIX_TEST_POSTGRES_URL points elsewhere.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import docker
import psycopg
import pytest
from deploy_support import ImageBuildError, build_image
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError

from provenfix.jobs.sandbox.base_image import build_base_image
from provenfix.jobs.sandbox.settings import DEFAULT_BASE_IMAGE

_LOCK = "provenfix-test-session-lock"  # the same as tests/app: sessions never share a database
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session")
def provenfix_image(docker_client: docker.DockerClient) -> str:
    """The project's image, built from the Dockerfile (cached by the engine between runs).

    The base is $PROVENFIX_TEST_IMAGE_BASE, else the local sandbox base image that
    scripts/setup builds (built here if missing), because no registry may be reachable.
    """
    base = os.environ.get("PROVENFIX_TEST_IMAGE_BASE", "")
    if not base:
        build_base_image(docker_client, DEFAULT_BASE_IMAGE)
        base = DEFAULT_BASE_IMAGE
    try:
        return build_image(base, tag="provenfix:test")
    except ImageBuildError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    configured = os.environ.get("PROVENFIX_TEST_REDIS_URL")
    if configured:
        yield configured
        return
    token = uuid.uuid4().hex
    try:
        for db in range(8, 16):
            with Redis(host="127.0.0.1", port=6379, db=db) as conn:
                if conn.set(_LOCK, token, nx=True, ex=3600):
                    break
        else:
            pytest.fail("no free Redis database among 8..15 for this test session")
    except RedisConnectionError as exc:
        pytest.fail(f"Redis is not running on 127.0.0.1:6379 ({exc}); run scripts/setup")
    url = f"redis://127.0.0.1:6379/{db}"
    try:
        yield url
    finally:
        with Redis.from_url(url) as conn:
            conn.flushdb()


@pytest.fixture
def redis(redis_url: str) -> Iterator[Redis]:
    """The session's database, emptied before and after each test (the lock key kept)."""
    conn = Redis.from_url(redis_url)

    def flush() -> None:
        lock = conn.get(_LOCK)
        conn.flushdb()
        if lock is not None:
            conn.set(_LOCK, lock, ex=3600)

    flush()
    yield conn
    flush()
    conn.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database (dropped afterwards), as a PROVENFIX_DATABASE_URL."""
    admin = os.environ.get("PROVENFIX_TEST_POSTGRES_URL", DEFAULT_POSTGRES)
    name = f"provenfix_deploy_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {admin} ({exc}); run scripts/setup")
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=10) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
