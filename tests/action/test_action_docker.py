"""The Action's step with the real Docker sandbox (needs the engine: fails, never skips)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import docker
import pytest
from action_support import MakeRunner, files_containing
from github_standin import GitHubStandIn
from stats_repo import RULE, TESTS

from provenfix.jobs.sandbox.engine import connect_docker
from provenfix.jobs.sandbox.errors import SandboxUnavailable

pytestmark = pytest.mark.docker

# The test that covers the changed line also fails if a token reached the container: the
# fix could then not be proven, and the failure would be a finding at the changed line.
TESTS_WITHOUT_TOKENS = "import os\n\n" + TESTS.replace(
    "    assert is_missing(None) and not is_missing(0)\n",
    "    assert is_missing(None) and not is_missing(0)\n"
    "    leaked = [k for k, v in os.environ.items() if 'TOKEN' in k or v.startswith('ghs_')]\n"
    "    assert not leaked\n",
)


@pytest.fixture
def docker_client() -> docker.DockerClient:
    try:
        return connect_docker(os.environ)
    except SandboxUnavailable as exc:
        pytest.fail(f"the Docker tests of the Action need a running engine: {exc}", pytrace=False)


def test_fixes_are_proven_in_the_docker_sandbox_and_posted(
    make_runner: MakeRunner,
    github_standin: GitHubStandIn,
    token: str,
    docker_client: docker.DockerClient,
) -> None:
    owner = f"pytest-action-{uuid.uuid4().hex[:8]}"  # our containers' label
    runner = make_runner({"tests/test_stats.py": TESTS_WITHOUT_TOKENS})
    result = runner.run(
        {"token": token, "sandbox": "docker", "bot-login": github_standin.bot_login},
        extra_env={"PROVENFIX_SANDBOX_OWNER": owner, "GITHUB_TOKEN": token},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr

    report = json.loads(Path(result.outputs["report"]).read_text())
    assert [f["rule_id"] for f in report["findings"]] == [RULE]  # no test failed
    proven = [s for s in report["suggestions"] if s["validation"]["status"] == "passed"]
    assert proven and result.outputs["proven"] == str(len(proven))
    assert result.outputs["published"] == "true"
    (check,) = github_standin.check_runs
    assert check.status == "completed"
    (comment,) = [c for c in github_standin.review_comments if "```suggestion" in c["body"]]
    assert comment["path"] == "stats.py" and "value is None" in comment["body"]
    assert RULE in comment["body"]

    # every sandbox container of this step is gone
    left = docker_client.containers.list(
        all=True, filters={"label": f"provenfix.sandbox.owner={owner}"}
    )
    assert left == []
    assert token not in result.all_text()
    assert files_containing(runner.root, token) == []
