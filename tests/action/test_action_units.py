"""The Action's parts that need no pipeline: events, inputs, workflow commands, git auth."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest
from action_support import EXAMPLES, read_outputs

from provenfix.actions.checkout import fetch_environment
from provenfix.actions.event import NotApplicable, PullRequestEvent, read_event, read_token
from provenfix.actions.options import (
    add_arguments,
    options_from,
    pipeline_environment,
    pipeline_flags,
)
from provenfix.actions.runner import escape_data, workflow_command, write_outputs
from provenfix.jobs.config import load_pipeline_config
from provenfix.jobs.errors import UsageError

SHA_A, SHA_B = "a" * 40, "b" * 40


def event_file(tmp_path: Path, payload: Any) -> Path:
    path = tmp_path / "event.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload))
    return path


def opened() -> dict[str, Any]:
    payload: dict[str, Any] = json.loads(
        (EXAMPLES / "pull_request" / "opened.payload.json").read_text()
    )
    return payload


def test_recorded_pull_request_event_is_read() -> None:
    path = EXAMPLES / "pull_request" / "opened.payload.json"
    event = read_event({"GITHUB_EVENT_PATH": str(path), "GITHUB_EVENT_NAME": "pull_request"})
    assert event == PullRequestEvent(
        event_name="pull_request",
        action="opened",
        owner="Codertocat",
        repo="Hello-World",
        number=2,
        base_sha="f95f852bd8fca8fcc58a9a2d6c842781e32a215e",
        head_sha="ec26c3e57ca3a959ca5aad62de7213c562f8c821",
        base_ref="master",
        head_repo="Codertocat/Hello-World",
        clone_url="https://github.com/Codertocat/Hello-World.git",
    )
    assert not event.is_fork


def test_fork_and_repository_variable(tmp_path: Path) -> None:
    payload = opened()
    payload["pull_request"]["head"]["repo"]["full_name"] = "someone/Hello-World"
    env = {"GITHUB_EVENT_PATH": str(event_file(tmp_path, payload))}
    event = read_event(env)
    assert isinstance(event, PullRequestEvent) and event.is_fork
    payload["pull_request"]["head"]["repo"] = None  # the fork was deleted
    event = read_event({**env, "GITHUB_EVENT_PATH": str(event_file(tmp_path, payload))})
    assert isinstance(event, PullRequestEvent) and event.is_fork and event.head_repo is None
    event = read_event({**env, "GITHUB_REPOSITORY": "octo/renamed"})
    assert isinstance(event, PullRequestEvent) and event.full_name == "octo/renamed"


@pytest.mark.parametrize(
    ("change", "event_name", "code", "words"),
    [
        (None, "push", 0, "triggered by `push`"),
        ({"action": "closed"}, "pull_request", 0, "nothing to analyze"),
        ({"pull_request": {"head": {"sha": "main"}}}, "pull_request", 2, "not a commit id"),
        ({"pull_request": None}, "pull_request", 2, "no `pull_request` object"),
        ({"pull_request": {"number": "2"}}, "pull_request", 2, "positive whole number"),
    ],
)
def test_events_without_a_pull_request_to_analyze(
    tmp_path: Path, change: dict[str, Any] | None, event_name: str, code: int, words: str
) -> None:
    payload = opened()
    for key, value in (change or {}).items():
        if isinstance(value, dict):
            for inner, item in value.items():
                if isinstance(item, dict):
                    payload[key][inner].update(item)
                else:
                    payload[key][inner] = item
        else:
            payload[key] = value
    env = {"GITHUB_EVENT_PATH": str(event_file(tmp_path, payload)), "GITHUB_EVENT_NAME": event_name}
    outcome = read_event(env)
    assert isinstance(outcome, NotApplicable) and outcome.exit_code == code
    assert words in outcome.message


def test_missing_or_broken_event_file_is_a_usage_error(tmp_path: Path) -> None:
    missing = read_event({})
    assert isinstance(missing, NotApplicable) and missing.exit_code == 2
    assert "provenfix analyze" in missing.message
    broken = read_event({"GITHUB_EVENT_PATH": str(event_file(tmp_path, "{not json"))})
    assert isinstance(broken, NotApplicable) and broken.exit_code == 2
    assert "not JSON" in broken.message
    absent = read_event({"GITHUB_EVENT_PATH": str(tmp_path / "nope.json")})
    assert isinstance(absent, NotApplicable) and "cannot read" in absent.message


def test_token_comes_from_the_input_then_github_token() -> None:
    assert read_token({"INPUT_TOKEN": " ghs_input ", "GITHUB_TOKEN": "ghs_env"}) == "ghs_input"
    assert read_token({"INPUT_TOKEN": "", "GITHUB_TOKEN": "ghs_env"}) == "ghs_env"
    assert read_token({}) is None


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_inputs_from_the_environment_and_flags(tmp_path: Path) -> None:
    env = {
        "INPUT_SANDBOX": "none",
        "INPUT_MAX_SUGGESTIONS": "3",
        "INPUT_MODEL": "smollm2-135m",
        "INPUT_BOT_LOGIN": "*",
        "RUNNER_TEMP": str(tmp_path),
        "GITHUB_WORKSPACE": str(tmp_path),
    }
    options = options_from(parse("--fail-on", "error"), env)
    assert (options.sandbox, options.fail_on, options.max_suggestions) == ("none", "error", 3)
    assert options.model == "smollm2-135m" and options.bot_login is None
    assert options.report == tmp_path / "provenfix-report.json"
    assert options.repo_path == tmp_path.resolve()
    defaults = options_from(parse(), {})
    assert (defaults.sandbox, defaults.fail_on, defaults.bot_login) == (
        "auto",
        "never",
        "github-actions[bot]",
    )
    assert defaults.api_url == "https://api.github.com" and defaults.summary is None
    with pytest.raises(UsageError, match="sandbox: 'podman' is not one of"):
        options_from(parse(), {"INPUT_SANDBOX": "podman"})
    with pytest.raises(UsageError, match="max-suggestions"):
        options_from(parse(), {"INPUT_MAX_SUGGESTIONS": "-1"})


def test_the_pipeline_sees_no_token_and_gets_the_model() -> None:
    token = "ghs_" + "x" * 36
    env = {
        "PATH": "/usr/bin",
        "GITHUB_TOKEN": token,
        "INPUT_TOKEN": token,
        "ACTIONS_RUNTIME_TOKEN": "runtime",
        "SOMETHING": f"Bearer {token}",
        "PROVENFIX_SANDBOX_MEMORY": "1g",
    }
    clean = pipeline_environment(env, token)
    assert clean == {"PATH": "/usr/bin", "PROVENFIX_SANDBOX_MEMORY": "1g"}
    options = options_from(parse(), {"INPUT_MODEL": "qwen2.5-coder-1.5b", "INPUT_SANDBOX": "none"})
    config = load_pipeline_config(clean, pipeline_flags(options))
    assert config.model.spec == "qwen2.5-coder-1.5b" and config.validation == "none"
    assert config.sandbox.limits.memory == "1g"
    assert token not in repr(config) and "runtime" not in repr(config)


def test_workflow_commands_are_escaped() -> None:
    line = workflow_command(
        "warning", "50% of\nlines", file="a,b:c.py", line="3", title="ProvenFix: rule"
    )
    assert line == "::warning file=a%2Cb%3Ac.py,line=3,title=ProvenFix%3A rule::50%25 of%0Alines"
    assert workflow_command("notice", "plain") == "::notice::plain"
    assert escape_data("a\r\nb") == "a%0D%0Ab"


def test_outputs_are_appended_and_multiline_values_use_a_heredoc(tmp_path: Path) -> None:
    path = tmp_path / "output"
    path.write_text("earlier=1\n")
    write_outputs(path, {"findings": "2", "note": "two\nlines"})
    assert read_outputs(path) == {"earlier": "1", "findings": "2", "note": "two\nlines"}


def test_git_gets_the_token_only_through_its_environment() -> None:
    url = "https://github.com/octo/stats.git"
    env = fetch_environment(url, "ghs_secret")
    assert env["GIT_CONFIG_COUNT"] == "2"
    assert env["GIT_CONFIG_KEY_0"] == env["GIT_CONFIG_KEY_1"] == f"http.{url}.extraHeader"
    assert env["GIT_CONFIG_VALUE_0"] == ""  # drops a header actions/checkout persisted
    assert env["GIT_CONFIG_VALUE_1"].startswith("Authorization: Basic ")
    assert "ghs_secret" not in json.dumps(env)  # base64 of x-access-token:<token>
    assert "GIT_CONFIG_COUNT" not in fetch_environment(url, None)
