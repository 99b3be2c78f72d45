"""action.yml: every input reaches the entry point, every output comes from it, and its
analyze step, run as the runner runs it (expressions evaluated, the script under bash),
posts on the GitHub stand-in. The entry point itself is tested in tests/action/."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from action_support import MakeRunner, files_containing, installation_token, runner_factory
from github_standin import GitHubStandIn
from repo_support import PROJECT_ROOT, MakeRepo

EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
OUTPUTS = {"findings", "proven", "report", "sarif", "published"}


@pytest.fixture
def token(github_app: Any, github_standin: GitHubStandIn) -> str:
    return installation_token(github_app, github_standin)


@pytest.fixture
def make_runner(make_repo: MakeRepo, github_standin: GitHubStandIn, tmp_path: Path) -> MakeRunner:
    return runner_factory(make_repo, github_standin, tmp_path)


def load_action() -> dict[str, Any]:
    action: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "action.yml").read_text())
    return action


def analyze_step(action: Mapping[str, Any]) -> dict[str, Any]:
    (step,) = [s for s in action["runs"]["steps"] if s.get("id") == "analyze"]
    return dict(step)


def evaluate(text: str, context: Mapping[str, str]) -> str:
    """`${{ name }}` expressions replaced by their values, as the runner does."""
    return EXPRESSION.sub(lambda m: context[m.group(1)], text)


def test_inputs_reach_the_step_only_through_the_environment_and_outputs_come_from_it() -> None:
    action = load_action()
    steps = action["runs"]["steps"]
    used = {
        m.group(1)
        for step in steps
        for value in [*(step.get("env") or {}).values(), *(step.get("with") or {}).values()]
        for m in re.finditer(r"inputs\.([\w-]+)", str(value))
    }
    assert used == set(action["inputs"])
    # never spliced into a script: an input holding `"; curl ... #` must stay data
    assert all("inputs." not in step.get("run", "") for step in steps)
    assert action["inputs"]["token"]["default"] == "${{ github.token }}"
    step = analyze_step(action)
    assert step["run"].strip() == '"$PF_PROVENFIX" action'
    assert step["env"]["PF_PROVENFIX"] == "${{ steps.env.outputs.provenfix }}"
    # no setup-python: the workflow's Python is left alone (scripts/action-setup)
    assert not any("setup-python" in str(s.get("uses", "")) for s in steps)
    assert step["env"]["INPUT_TOKEN"] == "${{ inputs.token }}"
    assert set(action["outputs"]) == OUTPUTS
    for name, output in action["outputs"].items():
        assert output["value"] == f"${{{{ steps.analyze.outputs.{name} }}}}"


def test_analyze_step_as_the_runner_runs_it(
    make_runner: MakeRunner, github_standin: GitHubStandIn, token: str
) -> None:
    action = load_action()
    step = analyze_step(action)
    runner = make_runner()
    context = {
        "github.token": token,
        "github.action_path": str(PROJECT_ROOT),
        # what the locate step reports once the environment is restored or installed
        "steps.env.outputs.provenfix": str(Path(sys.executable).parent / "provenfix"),
    }
    given = {"sandbox": "off", "fail-on": "info", "bot-login": github_standin.bot_login}
    for name, spec in action["inputs"].items():
        context[f"inputs.{name}"] = evaluate(given.get(name, str(spec.get("default", ""))), context)
    env = {name: evaluate(str(value), context) for name, value in step["env"].items()}
    assert env["INPUT_TOKEN"] == token  # the default, ${{ github.token }}

    result = runner.run(
        command=["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        extra_env=env,
    )
    assert result.returncode == 3, result.stdout + result.stderr  # fail-on info matched
    assert set(result.outputs) == OUTPUTS and result.outputs["published"] == "true"
    assert int(result.outputs["findings"]) >= 1 and result.outputs["proven"] == "0"
    report = json.loads(Path(result.outputs["report"]).read_text())
    assert report["summary"]["findings"] == int(result.outputs["findings"])
    sarif = runner.checkout / "provenfix.sarif"  # the default, relative to the workspace
    assert result.outputs["sarif"] == "provenfix.sarif"
    assert json.loads(sarif.read_text())["version"] == "2.1.0"
    assert "## ProvenFix analysis" in result.summary
    (check,) = github_standin.check_runs
    assert check.status == "completed"
    assert token not in result.all_text() and files_containing(runner.root, token) == []


def test_the_environment_step_locates_a_venv_per_version_without_touching_path(
    tmp_path: Path,
) -> None:
    outputs = tmp_path / "outputs"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "RUNNER_OS": "Linux",
        "RUNNER_TOOL_CACHE": str(tmp_path / "toolcache"),
        "GITHUB_OUTPUT": str(outputs),
    }
    subprocess.run([PROJECT_ROOT / "scripts" / "action-setup", "locate"], env=env, check=True)
    found = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert found["key"].startswith("provenfix-Linux-") and "-py3." in found["key"]
    assert found["dir"] == f"{tmp_path}/toolcache/provenfix/{found['key']}"
    assert found["provenfix"] == f"{found['dir']}/bin/provenfix"
    # the key follows the dependencies: another pyproject.toml, another environment
    digest = found["key"].rsplit("-", 1)[1]
    assert len(digest) == 16 and all(c in "0123456789abcdef" for c in digest)
