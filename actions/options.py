"""The Action's inputs: command-line flags, else the INPUT_* variables action.yml sets.

Also what the pipeline's settings are read from: the runner's environment without
tokens, with the `sandbox` and `model` inputs on top (jobs.config).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from provenfix.jobs.errors import UsageError
from provenfix.jobs.settings_reader import Flag

SANDBOX_CHOICES = ("auto", "docker", "none", "off")
FAIL_ON_CHOICES = ("error", "warning", "info", "never")
DEFAULT_BOT_LOGIN = "github-actions[bot]"  # who writes with the workflow's GITHUB_TOKEN


@dataclass(frozen=True)
class ActionOptions:
    repo_path: Path
    config: Path | None  # None: .github/provenfix.yml at the base commit
    model: str | None  # PROVENFIX_MODEL for this run (the other PROVENFIX_MODEL_* pass through)
    max_suggestions: int | None  # None: the repository's setting
    fail_on: str
    sandbox: str
    python: str  # the interpreter of sandbox mode "none"
    sarif: Path
    report: Path
    bot_login: str | None
    api_url: str
    server_url: str
    summary: Path | None
    outputs: Path | None


def add_action_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "action",
        help="the GitHub Action's step: analyze the event's pull request and publish",
        description="Analyze the pull request of the workflow's event ($GITHUB_EVENT_PATH), "
        "post the check run and review with the token in $INPUT_TOKEN or $GITHUB_TOKEN, and "
        "write the report, SARIF, job summary and step outputs (docs/action.md).",
    )
    add_arguments(parser)
    parser.set_defaults(handler=_run_action)


def _run_action(args: argparse.Namespace) -> int:
    from provenfix.actions.main import (
        run_action,
    )  # the pipeline and GitHub client only when it runs

    return run_action(args)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Every option also reads an INPUT_* variable (what action.yml sets); a flag wins."""
    parser.add_argument("--repo", type=Path, help="the checkout (default: $GITHUB_WORKSPACE or .)")
    parser.add_argument("--config", help="settings file instead of .github/provenfix.yml at base")
    parser.add_argument("--model", help="code model for candidate fixes (PROVENFIX_MODEL)")
    parser.add_argument("--max-suggestions", help="suggested changes per push (default: config)")
    parser.add_argument("--fail-on", choices=FAIL_ON_CHOICES, help="exit 3 at this severity")
    parser.add_argument(
        "--sandbox",
        choices=SANDBOX_CHOICES,
        help="where fixes are proven: auto (docker when reachable, else off), docker, "
        "none (this runner's Python, no isolation), off (default: auto)",
    )
    parser.add_argument("--python", help="interpreter of --sandbox none (default: this one)")
    parser.add_argument("--sarif", help="SARIF output path (default: provenfix.sarif)")
    parser.add_argument("--report", help="JSON report path (default: $RUNNER_TEMP/...)")
    parser.add_argument(
        "--bot-login", help=f"author of our earlier comments (default: {DEFAULT_BOT_LOGIN})"
    )


def options_from(args: argparse.Namespace, env: Mapping[str, str]) -> ActionOptions:
    def pick(flag: str | None, name: str, default: str = "") -> str:
        return (flag if flag is not None else env.get(f"INPUT_{name}", "")).strip() or default

    fail_on = pick(args.fail_on, "FAIL_ON", "never").lower()
    sandbox = pick(args.sandbox, "SANDBOX", "auto").lower()
    for name, value, choices in (
        ("fail-on", fail_on, FAIL_ON_CHOICES),
        ("sandbox", sandbox, SANDBOX_CHOICES),
    ):
        if value not in choices:
            raise UsageError(f"{name}: {value!r} is not one of {', '.join(choices)}")
    limit = pick(args.max_suggestions, "MAX_SUGGESTIONS")
    if limit and (not limit.isdigit() or int(limit) > 100):
        raise UsageError(f"max-suggestions: {limit!r} is not a whole number from 0 to 100")
    workspace = env.get("GITHUB_WORKSPACE", "").strip() or "."
    temp = env.get("RUNNER_TEMP", "").strip() or "."
    config = pick(args.config, "CONFIG")
    login = pick(args.bot_login, "BOT_LOGIN", DEFAULT_BOT_LOGIN)
    summary, outputs = env.get("GITHUB_STEP_SUMMARY", ""), env.get("GITHUB_OUTPUT", "")
    return ActionOptions(
        repo_path=(args.repo or Path(workspace)).resolve(),
        config=Path(config) if config else None,
        model=pick(args.model, "MODEL") or None,
        max_suggestions=int(limit) if limit else None,
        fail_on=fail_on,
        sandbox=sandbox,
        python=pick(args.python, "PYTHON", sys.executable),
        sarif=Path(pick(args.sarif, "SARIF_OUTPUT", "provenfix.sarif")),
        report=Path(pick(args.report, "REPORT", str(Path(temp) / "provenfix-report.json"))),
        bot_login=None if login == "*" else login,
        api_url=env.get("GITHUB_API_URL", "").strip() or "https://api.github.com",
        server_url=env.get("GITHUB_SERVER_URL", "").strip() or "https://github.com",
        summary=Path(summary) if summary.strip() else None,
        outputs=Path(outputs) if outputs.strip() else None,
    )


def pipeline_environment(env: Mapping[str, str], token: str | None) -> dict[str, str]:
    """What the pipeline's settings are read from (jobs.config): no token."""
    return {
        key: value
        for key, value in env.items()
        if "TOKEN" not in key.upper() and not (token and token in value)
    }


def pipeline_flags(options: ActionOptions) -> dict[str, Flag]:
    """The inputs that stand for pipeline settings, named as the workflow wrote them."""
    sandbox = "docker" if options.sandbox == "auto" else options.sandbox  # auto: docker first
    flags = {"PROVENFIX_SANDBOX": Flag("input `sandbox`", sandbox)}
    if options.model:
        flags["PROVENFIX_MODEL"] = Flag("input `model`", options.model)
    return flags
