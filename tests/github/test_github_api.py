"""bot.github_api against the stand-in: App auth, retries, rate limits, named errors, logs."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from github_standin import GitHubStandIn
from github_support import NAME, NUMBER, OWNER

from provenfix.bot.git_remote import auth_environment
from provenfix.bot.github_api import (
    GitHubApp,
    GitHubUnavailable,
    NotFound,
    RateLimited,
    RetryPolicy,
    Unauthorized,
    github_errors,
    redact,
)


def fast_app(standin: GitHubStandIn, **retry: Any) -> GitHubApp:
    policy = {
        "total": 3,
        "backoff_factor": 0.05,
        "secondary_rate_wait": 0.1,
        "max_rate_limit_wait": 5,
        **retry,
    }
    return GitHubApp(
        standin.app_id,
        standin.private_key_pem,
        base_url=standin.url,
        retry=RetryPolicy(**policy),
        seconds_between_requests=0,
        seconds_between_writes=0,
    )


def test_constructors_make_no_request() -> None:
    app = GitHubApp(1, _key(), base_url="http://127.0.0.1:9")  # nothing listens there
    client = app.installation_client(5)
    assert client is not None and "9" in repr(app)
    with pytest.raises(ValueError, match="not a PEM private key"):
        GitHubApp(1, "-----BEGIN nonsense-----")


def test_installation_tokens_are_minted_with_a_verified_jwt(
    github_standin: GitHubStandIn, github_app: GitHubApp
) -> None:
    token = github_app.installation_token(github_standin.installation_id)
    assert token.token == github_standin.issued_tokens[-1] and token.token.startswith("ghs_")
    assert token.expires_at > datetime.now(UTC)
    assert token.token not in repr(token) and token.token not in str(token)
    minted = github_standin.requests[-1]
    assert (minted.method, minted.auth, minted.status) == ("POST", "jwt", 201)
    assert github_app.app_slug() == github_standin.app_slug


def test_a_wrong_private_key_is_refused(github_standin: GitHubStandIn) -> None:
    app = GitHubApp(
        github_standin.app_id,
        _key(),
        base_url=github_standin.url,
        seconds_between_requests=0,
        seconds_between_writes=0,
    )
    with pytest.raises(Unauthorized):
        app.installation_token(github_standin.installation_id)
    with pytest.raises(Unauthorized), github_errors():
        app.installation_client(github_standin.installation_id).get_repo("acme/shop").id  # noqa: B018
    with pytest.raises(NotFound):
        fast_app(github_standin).installation_token(github_standin.installation_id + 1)


def test_the_installation_client_authenticates_with_its_token(
    shop_pr: Any, github_client: Any
) -> None:
    assert github_client.get_repo(f"{OWNER}/{NAME}").get_pull(NUMBER).title == "Discounts"
    auths = [(r.path, r.auth) for r in shop_pr.standin.requests]
    assert auths[0] == (
        f"/app/installations/{shop_pr.standin.installation_id}/access_tokens",
        "jwt",
    )
    assert {a for _, a in auths[1:]} == {"token"}


def test_rate_limited_then_success(shop_pr: Any, github_client: Any) -> None:
    standin = shop_pr.standin
    repo = github_client.get_repo(f"{OWNER}/{NAME}")
    standin.rate_limit_next(1, retry_after=1)
    started = time.monotonic()
    assert repo.get_pull(NUMBER).number == NUMBER
    assert time.monotonic() - started >= 0.9  # it waited as Retry-After asked
    standin.rate_limit_next(1, status=429, retry_after=None, secondary=True)
    assert repo.get_pull(NUMBER).number == NUMBER
    standin.rate_limit_next(1, retry_after=None, reset_in=0)  # primary, resets now
    assert repo.get_pull(NUMBER).number == NUMBER
    statuses = [r.status for r in standin.requests if r.path.endswith(f"/pulls/{NUMBER}")]
    assert statuses == [403, 200, 429, 200, 403, 200]


def test_a_long_rate_limit_raises_rate_limited(shop_pr: Any, github_client: Any) -> None:
    standin = shop_pr.standin
    repo = github_client.get_repo(f"{OWNER}/{NAME}")
    repo.get_pull(NUMBER)
    standin.rate_limit_next(1, retry_after=3600)
    started = time.monotonic()
    with pytest.raises(RateLimited) as caught, github_errors():
        repo.get_pull(NUMBER).title  # noqa: B018
    assert time.monotonic() - started < 3  # it did not sleep an hour
    assert caught.value.reset_at is not None and caught.value.reset_at > datetime.now(UTC)
    standin.rate_limit_next(4, retry_after=None, reset_in=600)  # primary: resets in 10 min
    with pytest.raises(RateLimited), github_errors():
        repo.get_pull(NUMBER).title  # noqa: B018


def test_server_errors_are_retried(shop_pr: Any, github_client: Any) -> None:
    standin = shop_pr.standin
    repo = github_client.get_repo(f"{OWNER}/{NAME}")
    standin.fail_next(2, 502)
    assert repo.get_pull(NUMBER).number == NUMBER
    standin.fail_next(1, 503, match=r"^PATCH /repos/.*/check-runs/")
    run = repo.create_check_run("ProvenFix", shop_pr.ref.head_sha, status="in_progress")
    run.edit(conclusion="success", output={"title": "t", "summary": "s"})
    assert [v.conclusion for v in standin.check_runs] == ["success"]
    patch_statuses = [r.status for r in standin.requests if r.method == "PATCH"]
    assert patch_statuses == [503, 200]
    # a POST is not sent twice after a 5xx: GitHub may have created the object already
    standin.fail_next(1, 502, match=r"^POST /repos/.*/check-runs$")
    with pytest.raises(GitHubUnavailable, match="502"), github_errors():
        repo.create_check_run("ProvenFix", shop_pr.ref.head_sha)
    posts = [r.status for r in standin.requests if r.path.endswith("/check-runs")]
    assert posts == [201, 502]

    standin.fail_next(4, 500)  # the first try and 3 retries
    with pytest.raises(GitHubUnavailable, match="500"), github_errors():
        repo.get_pull(NUMBER).title  # noqa: B018


def test_tokens_never_reach_the_logs(
    shop_pr: Any, github_app: GitHubApp, caplog: pytest.LogCaptureFixture
) -> None:
    standin = shop_pr.standin
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="github")  # PyGithub pins its logger to INFO
    client = github_app.installation_client(standin.installation_id)
    token = github_app.installation_token(standin.installation_id).token
    standin.fail_next(1, 502)
    client.get_repo(f"{OWNER}/{NAME}").get_pull(NUMBER).title  # noqa: B018
    log = logging.getLogger("provenfix.bot.test")
    log.info("cloning https://x-access-token:%s@github.com/acme/shop.git", token)
    log.info("headers %s", auth_environment(token))
    try:
        raise RuntimeError(f"git failed: Authorization: token {token}")
    except RuntimeError:
        log.exception("clone failed")
    tokens = standin.issued_tokens
    assert len(tokens) == 2
    assert "github.Requester" in {r.name for r in caplog.records}  # PyGithub logged its traffic
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    for secret in [*tokens, _basic(token)]:
        assert secret not in text
    assert "ghs_***" in text and "x-access-token:***@" in text
    assert "eyJ" not in text  # no JWT either


def test_redact() -> None:
    assert redact('{"token": "abc.def", "x": 1}') == '{"token": "***", "x": 1}'
    assert redact("Authorization: Bearer eyJhbGciOi.eyJpc3MiOjF9.c2ln") == (
        "Authorization: Bearer ***jwt***"
    )
    assert redact("token ghs_0123456789abcdefABCDEF") == "token ghs_***"
    assert redact("https://x-access-token:s3cr3t@github.com/a/b") == (
        "https://x-access-token:***@github.com/a/b"
    )
    assert redact("the token expired") == "the token expired"


def _basic(token: str) -> str:
    return auth_environment(token)["GIT_CONFIG_VALUE_0"].split()[-1]


def _key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
