"""The stand-in itself: it enforces GitHub's contract, auth and diff rules for real."""

from __future__ import annotations

import base64
import subprocess
from pathlib import Path
from typing import Any

import github
import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from github_standin import GitHubStandIn
from github_support import NAME, NUMBER, OWNER

from provenfix.bot.github_api import NotFound, Unauthorized, Unprocessable, github_errors


def api(standin: GitHubStandIn, method: str, path: str, token: str | None, **kw: Any) -> Any:
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.request(method, standin.url + path, headers=headers, timeout=10, **kw)


def token_for(standin: GitHubStandIn) -> str:
    answer = requests.post(
        f"{standin.url}/app/installations/{standin.installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {standin.app_jwt()}"},
        json={},
        timeout=10,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["token"])


def test_an_operation_outside_the_contract_is_a_violation(shop_pr: Any) -> None:
    standin = shop_pr.standin
    token = token_for(standin)
    answer = api(standin, "GET", f"/repos/{OWNER}/{NAME}/commits/{shop_pr.ref.head_sha}", token)
    assert answer.status_code == 404
    answer = api(standin, "PUT", f"/repos/{OWNER}/{NAME}/pulls/{NUMBER}", token, json={})
    assert answer.status_code == 404
    problems = [str(v) for v in standin.take_violations()]
    assert len(problems) == 2
    assert "no such operation" in problems[0]
    assert "exists for other methods" in problems[1]


def test_invalid_bodies_and_parameters_are_violations(shop_pr: Any) -> None:
    standin = shop_pr.standin
    token = token_for(standin)
    head = shop_pr.ref.head_sha
    runs = f"/repos/{OWNER}/{NAME}/check-runs"
    # GitHub's rule that Octokit's copy of the contract lost: completed needs a conclusion
    answer = api(
        standin, "POST", runs, token, json={"name": "x", "head_sha": head, "status": "completed"}
    )
    assert answer.status_code == 422
    # a misspelt field is not silently ignored
    comments = f"/repos/{OWNER}/{NAME}/pulls/{NUMBER}/comments"
    answer = api(
        standin,
        "POST",
        comments,
        token,
        json={"body": "b", "commit_id": head, "path": "shop/cart.py", "line": 6, "sidе": "RIGHT"},
    )
    assert answer.status_code == 422
    # 51 annotations in one request: GitHub's limit is 50
    annotation = {
        "path": "shop/cart.py",
        "start_line": 6,
        "end_line": 6,
        "annotation_level": "notice",
        "message": "m",
    }
    answer = api(
        standin,
        "POST",
        runs,
        token,
        json={
            "name": "x",
            "head_sha": head,
            "output": {"title": "t", "summary": "s", "annotations": [annotation] * 51},
        },
    )
    assert answer.status_code == 422
    # parameters: a non-integer path parameter, an unknown query parameter
    api(standin, "GET", f"/repos/{OWNER}/{NAME}/pulls/seven", token)
    api(standin, "GET", f"/repos/{OWNER}/{NAME}/pulls/{NUMBER}/files?pagesize=5", token)
    problems = "\n".join(str(v) for v in standin.take_violations())
    assert "is not valid under any of the given schemas" in problems
    assert "'sidе' was unexpected" in problems
    assert "output/annotations: fails maxItems 50" in problems
    assert "pull_number='seven' is not an integer" in problems
    assert "query parameter 'pagesize' is not in the contract" in problems
    assert not standin.check_runs and not standin.review_comments


def test_app_endpoints_verify_the_jwt_signature(github_standin: GitHubStandIn) -> None:
    path = f"/app/installations/{github_standin.installation_id}/access_tokens"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {"iat": 0, "exp": 2**31, "iss": str(github_standin.app_id)},
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        algorithm="RS256",
    )
    for credential in (
        forged,
        github_standin.app_jwt(issuer=1),
        github_standin.app_jwt(expires_in=-120),
        github_standin.app_jwt(expires_in=3600),  # GitHub allows 10 minutes at most
    ):
        answer = requests.post(
            github_standin.url + path,
            json={},
            timeout=10,
            headers={"Authorization": f"Bearer {credential}"},
        )
        assert answer.status_code == 401, answer.text
    assert requests.get(github_standin.url + "/app", timeout=10).status_code == 401
    answer = requests.get(
        github_standin.url + "/app",
        timeout=10,
        headers={"Authorization": f"Bearer {github_standin.app_jwt()}"},
    )
    assert answer.status_code == 200 and answer.json()["id"] == github_standin.app_id
    assert not github_standin.issued_tokens


def test_repository_endpoints_need_an_issued_token(shop_pr: Any) -> None:
    standin = shop_pr.standin
    path = f"/repos/{OWNER}/{NAME}"
    assert api(standin, "GET", path, None).status_code == 401
    assert api(standin, "GET", path, "ghs_madeup000000000000000000000000000").status_code == 401
    assert api(standin, "GET", path, standin.app_jwt()).status_code == 401
    token = token_for(standin)
    answer = api(standin, "GET", path, token)
    assert answer.status_code == 200
    assert answer.json()["clone_url"] == standin.git_url(OWNER, NAME)
    bearer = requests.get(
        standin.url + path, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert bearer.status_code == 200


def test_pull_request_data_comes_from_the_real_diff(shop_pr: Any, github_client: Any) -> None:
    repo = github_client.get_repo(f"{OWNER}/{NAME}")
    pull = repo.get_pull(NUMBER)
    assert pull.head.sha == shop_pr.repo.git("rev-parse", "pr")
    assert pull.base.sha == shop_pr.repo.git("rev-parse", "main")
    files = {f.filename: f for f in pull.get_files()}
    assert set(files) == {"shop/cart.py", "tests/test_cart.py"}
    cart = files["shop/cart.py"]
    git_patch = shop_pr.repo.git("diff", "main...pr", "--", "shop/cart.py")
    assert cart.patch == git_patch[git_patch.index("@@") :]
    assert cart.status == "modified" and cart.additions == 13 and cart.deletions == 0
    content = repo.get_contents("shop/cart.py", ref=pull.head.sha)
    assert content.decoded_content.decode() == shop_pr.repo.git("show", "pr:shop/cart.py") + "\n"
    assert [c.sha for c in pull.get_commits()] == [pull.head.sha]


def test_review_comments_must_lie_in_one_hunk(shop_pr: Any, github_client: Any) -> None:
    pull = github_client.get_repo(f"{OWNER}/{NAME}").get_pull(NUMBER)
    head = shop_pr.ref.head_sha

    def comment(**where: Any) -> None:
        with github_errors():
            pull.create_review_comment("x", head, "shop/cart.py", **where)

    comment(line=6, side="RIGHT")  # an added line
    comment(line=8, side="RIGHT", start_line=5, start_side="RIGHT")  # one hunk
    for where, why in (
        ({"line": 25, "side": "RIGHT"}, "must be part of the diff"),  # unchanged, no hunk
        ({"line": 45, "side": "RIGHT", "start_line": 6, "start_side": "RIGHT"}, "same hunk"),
        ({"line": 6, "side": "RIGHT", "start_line": 6, "start_side": "RIGHT"}, "precede"),
    ):
        with pytest.raises(Unprocessable, match=why):
            comment(**where)
    with pytest.raises(Unprocessable, match="Path could not be resolved"), github_errors():
        pull.create_review_comment("x", head, "shop/__init__.py", line=1, side="RIGHT")
    with pytest.raises(Unprocessable, match="part of the diff"), github_errors():
        pull.create_review(
            body="b",
            event="COMMENT",
            comments=[{"path": "shop/cart.py", "line": 25, "side": "RIGHT", "body": "x"}],
        )
    assert [c["line"] for c in shop_pr.standin.review_comments] == [6, 8]


def test_lists_are_paginated_with_link_headers(shop_pr: Any, github_client: Any) -> None:
    standin = shop_pr.standin
    standin.max_per_page = 2  # as if GitHub capped per_page at 2 instead of 100
    pull = github_client.get_repo(f"{OWNER}/{NAME}").get_pull(NUMBER)
    for line in (5, 6, 7, 8, 9):
        pull.create_review_comment(
            f"c{line}", shop_pr.ref.head_sha, "shop/cart.py", line=line, side="RIGHT"
        )
    listed = [c.body for c in pull.get_review_comments()]
    assert listed == ["c5", "c6", "c7", "c8", "c9"]
    pages = [
        r.query.get("page")
        for r in standin.requests
        if r.path.endswith(f"/{NUMBER}/comments") and r.method == "GET"
    ]
    assert pages == [None, "2", "3"]  # PyGithub followed the Link headers
    raw = requests.get(
        f"{standin.url}/repos/{OWNER}/{NAME}/pulls/{NUMBER}/comments?per_page=4",
        headers={"Authorization": f"token {standin.issued_tokens[0]}"},
        timeout=10,
    )
    assert len(raw.json()) == 2 and 'rel="next"' in raw.headers["Link"]


def test_git_clones_need_the_installation_token(shop_pr: Any, tmp_path: Path) -> None:
    standin = shop_pr.standin
    url = standin.git_url(OWNER, NAME)
    token = token_for(standin)

    def clone(dest: str, credential: str | None) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_TERMINAL_PROMPT": "0"}
        if credential is not None:
            basic = base64.b64encode(f"x-access-token:{credential}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        return subprocess.run(
            ["git", "clone", "-q", url, str(tmp_path / dest)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    assert clone("anonymous", None).returncode != 0
    assert clone("wrong", "ghs_wrong00000000000000000000000000000").returncode != 0
    done = clone("ok", token)
    assert done.returncode == 0, done.stderr
    fetched = subprocess.run(
        ["git", "-C", str(tmp_path / "ok"), "fetch", "-q", "origin", f"refs/pull/{NUMBER}/head"],
        env={
            "PATH": "/usr/bin:/bin",
            "HOME": str(tmp_path),
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": "http.extraHeader",
            "GIT_CONFIG_VALUE_0": "Authorization: Basic "
            + base64.b64encode(f"x-access-token:{token}".encode()).decode(),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert fetched.returncode == 0, fetched.stderr
    head = subprocess.run(
        ["git", "-C", str(tmp_path / "ok"), "rev-parse", "FETCH_HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert head == shop_pr.ref.head_sha
    assert [r.status for r in standin.git_requests][:2] == [401, 401]


def test_webhook_payloads_follow_octokits_schemas(shop_pr: Any) -> None:
    standin = shop_pr.standin
    payload = shop_pr.payload
    assert payload["action"] == "opened" and payload["number"] == NUMBER
    assert payload["pull_request"]["head"]["sha"] == shop_pr.ref.head_sha
    assert payload["installation"]["id"] == standin.installation_id
    assert payload["repository"]["clone_url"] == standin.git_url(OWNER, NAME)
    before = shop_pr.ref.head_sha
    after = shop_pr.push({"README.md": "shop\n"})
    pushed = standin.synchronize(OWNER, NAME, NUMBER, before)
    assert (pushed["before"], pushed["after"]) == (before, after)
    body, headers = standin.webhook_request("pull_request", pushed, "s3cret")
    assert headers["X-Hub-Signature-256"].startswith("sha256=") and body
    assert not standin.violations  # the payloads validated against the webhook schemas


def test_unknown_objects_are_404(shop_pr: Any, github_client: Any) -> None:
    repo = github_client.get_repo(f"{OWNER}/{NAME}")
    with pytest.raises(NotFound), github_errors():
        repo.get_pull(999).title  # noqa: B018
    with pytest.raises(NotFound), github_errors():
        repo.get_contents("nope.py", ref="main")
    with pytest.raises(NotFound), github_errors():
        github_client.get_repo("acme/unknown").full_name  # noqa: B018


def test_a_bad_token_is_unauthorized(shop_pr: Any) -> None:
    client = github.Github(
        auth=github.Auth.Token("ghs_notissued0000000000000000000000000"),
        base_url=shop_pr.standin.url,
    )
    with pytest.raises(Unauthorized), github_errors():
        client.get_repo(f"{OWNER}/{NAME}").full_name  # noqa: B018


def test_a_pushed_head_gets_a_fresh_diff(shop_pr: Any, github_client: Any) -> None:
    shop_pr.push({"shop/extra.py": "X = 1\n"})
    pull = github_client.get_repo(f"{OWNER}/{NAME}").get_pull(NUMBER)
    assert {f.filename for f in pull.get_files()} >= {"shop/extra.py"}
    assert pull.head.sha == shop_pr.repo.git("rev-parse", "pr")


def test_pushes_need_a_token_with_contents_write(shop_pr: Any, tmp_path: Path) -> None:
    """Like GitHub: a token of an installation with Contents: read may clone, not push; a
    push moves the branch and the pull request's head; refs/pull/* cannot be pushed."""
    standin = shop_pr.standin
    url = standin.git_url(OWNER, NAME)

    def git(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_TERMINAL_PROMPT": "0"}
        env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@x", GIT_COMMITTER_NAME="t")
        env.update(GIT_COMMITTER_EMAIL="t@x")
        if token is not None:
            basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        return subprocess.run(
            ["git", "-C", str(tmp_path / "clone"), *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )

    read_only = token_for(standin)
    (tmp_path / "clone").mkdir()
    assert git("init", "-q").returncode == 0
    assert git("fetch", "-q", url, "refs/heads/pr", token=read_only).returncode == 0
    git("checkout", "-q", "FETCH_HEAD")
    (tmp_path / "clone" / "NOTES").write_text("pushed\n")
    git("add", "NOTES")
    assert git("commit", "-q", "-m", "push me").returncode == 0
    denied = git("push", url, "HEAD:refs/heads/pr", token=read_only)
    assert denied.returncode != 0 and "403" in denied.stderr
    assert standin.head_sha(OWNER, NAME, NUMBER) == shop_pr.ref.head_sha

    standin.installation_permissions["contents"] = "write"
    writer = token_for(standin)
    assert git("push", "-q", url, "HEAD:refs/heads/pr", token=writer).returncode == 0
    pushed = git("rev-parse", "HEAD").stdout.strip()
    assert standin.head_sha(OWNER, NAME, NUMBER) == pushed
    assert shop_pr.repo.git("show", "pr:NOTES") == "pushed"
    assert (shop_pr.repo.path / "NOTES").read_text() == "pushed\n"  # its checkout followed
    hidden = git("push", url, "HEAD:refs/pull/99/head", token=writer)
    assert hidden.returncode != 0
    assert not standin.violations
