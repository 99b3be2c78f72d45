"""`provenfix analyze`: the pipeline on a local git repository."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from provenfix.jobs.config import load_pipeline_config
from provenfix.jobs.formats import RENDERERS
from provenfix.jobs.settings_reader import Flag, SettingsReader

EXIT_FINDINGS = 3  # --fail-on matched: the analysis ran and found something that gates CI


def add_analyze_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "analyze",
        help="analyze what a change (base..head) introduces",
        description=(
            "Analyze the change from the merge base of BASE and HEAD to HEAD in a local git "
            "repository, prove the candidate fixes with its tests, and report them; "
            "--format diff prints the proven fixes as a patch, --apply writes them into the "
            "working tree. Exit 0 when the analysis ran, 2 for usage, configuration or "
            f"environment errors, {EXIT_FINDINGS} when --fail-on matched, 1 for internal errors."
        ),
    )
    parser.add_argument(
        "--repo", type=Path, default=Path("."), help="a folder in the clone (default: .)"
    )
    parser.add_argument(
        "--base",
        help="base revision, e.g. origin/main (default: the remote's default branch)",
    )
    parser.add_argument("--head", default="HEAD", help="head revision (default: HEAD)")
    parser.add_argument(
        "--format",
        choices=[*sorted(RENDERERS), "diff"],
        default="text",
        help="text (default), json, sarif (code scanning), rdjson (reviewdog), markdown, or "
        "diff: the proven fixes as one patch "
        "for `git apply`",
    )
    parser.add_argument(
        "--apply",
        action="store_true",
        help="write the proven fixes into the working tree (needs --head HEAD and a clean tree)",
    )
    parser.add_argument(
        "--force", action="store_true", help="with --apply: apply on top of uncommitted changes"
    )
    parser.add_argument("--output", type=Path, help="write the report here instead of stdout")
    parser.add_argument(
        "--write",
        action="append",
        default=[],
        metavar="FORMAT:PATH",
        type=_format_and_path,
        help="also write the report in FORMAT to PATH (repeatable), e.g. sarif:out.sarif",
    )
    parser.add_argument(
        "--config",
        type=Path,
        help="settings file to use instead of .github/provenfix.yml at the base revision",
    )
    parser.add_argument(
        "--fail-on",
        choices=["error", "warning", "info", "never"],
        default="never",
        help=f"exit {EXIT_FINDINGS} when a finding has at least this severity (default: never)",
    )
    parser.add_argument(
        "--no-validate",
        action="store_true",
        help="do not run the tests: candidates are reported as not validated",
    )
    parser.add_argument(
        "--sandbox",
        choices=["auto", "docker", "none"],
        help="where the tests run: auto (default, or $PROVENFIX_SANDBOX: Docker when it "
        "answers, else the fixes are reported unproven), docker (hardened containers; exit 2 "
        "when Docker is not there), or none (this machine's Python without isolation: only "
        "for throw-away CI runners)",
    )
    parser.add_argument(
        "--install-command",
        help="shell command that installs the project and its test dependencies in the sandbox",
    )
    model = parser.add_argument_group(
        "code model", "defaults from the PROVENFIX_MODEL* variables (docs/model.md)"
    )
    model.add_argument(
        "--model",
        metavar="MODEL",
        help="off, a registered model (e.g. qwen2.5-coder-1.5b; fetch it with "
        "scripts/fetch-model), a model folder or .gguf file, or openai:NAME with --model-url",
    )
    model.add_argument("--model-url", help="base URL of an OpenAI-compatible server")
    model.add_argument(
        "--model-api-key-env", metavar="VAR", help="variable holding that server's API key"
    )
    model.add_argument("--model-samples", metavar="N", help="answers per function (default 4)")
    model.add_argument(
        "--model-budget", metavar="SECONDS", help="generation time per analysis (default 600)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress messages on stderr")
    parser.set_defaults(handler=run_analyze)


def flags(args: argparse.Namespace) -> dict[str, Flag]:
    """The command line's settings, keyed by the variable each stands for (jobs.config)."""
    given: dict[str, Flag] = {}
    if args.no_validate:
        given["PROVENFIX_SANDBOX"] = Flag("--no-validate", "off")
    elif args.sandbox is not None:
        given["PROVENFIX_SANDBOX"] = Flag("--sandbox", args.sandbox)
    for name, label, value in (
        ("PROVENFIX_MODEL", "--model", args.model),
        ("PROVENFIX_MODEL_URL", "--model-url", args.model_url),
        ("PROVENFIX_MODEL_API_KEY_ENV", "--model-api-key-env", args.model_api_key_env),
        ("PROVENFIX_MODEL_SAMPLES", "--model-samples", args.model_samples),
        ("PROVENFIX_MODEL_BUDGET_S", "--model-budget", args.model_budget),
    ):
        if value is not None:
            given[name] = Flag(label, value)
    return given


def run_analyze(args: argparse.Namespace) -> int:
    from provenfix.jobs.analyze_command import (
        run_analyze as run,
    )  # the pipeline only when analyzing

    return run(args, flags(args))


def _format_and_path(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition(":")
    if not sep or name not in [*RENDERERS, "diff"] or not path:
        raise argparse.ArgumentTypeError(
            f"expected FORMAT:PATH with FORMAT one of {', '.join([*sorted(RENDERERS), 'diff'])}"
        )
    return name, Path(path)


def add_build_base_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "build-sandbox-base",
        help="build the sandbox base image locally with debootstrap (no registry needed)",
        description="Build a minimal Debian image with python3, venv, pip and git, and import "
        "it into the Docker engine (needs root and debootstrap). Production may use a pulled "
        "image instead: PROVENFIX_SANDBOX_IMAGE (docs/sandbox.md).",
    )
    parser.add_argument(
        "--tag", help="image to build (default: $PROVENFIX_SANDBOX_IMAGE or the default base)"
    )
    parser.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    parser.add_argument("--mirror", help="Debian mirror URL (default: $PROVENFIX_DEBIAN_MIRROR)")
    parser.add_argument(
        "--security-mirror",
        help="Debian security mirror (default: $PROVENFIX_DEBIAN_SECURITY_MIRROR)",
    )
    parser.set_defaults(handler=run_build_base)


def run_build_base(args: argparse.Namespace) -> int:
    given = {"PROVENFIX_SANDBOX_IMAGE": Flag("--tag", args.tag)} if args.tag else {}
    for name, label, value in (
        ("PROVENFIX_DEBIAN_MIRROR", "--mirror", args.mirror),
        ("PROVENFIX_DEBIAN_SECURITY_MIRROR", "--security-mirror", args.security_mirror),
    ):
        if value:
            given[name] = Flag(label, value)
    config = load_pipeline_config(os.environ, given)
    mirrors = SettingsReader(os.environ, given)
    from provenfix.jobs.sandbox.base_image import build_base_image  # the Docker SDK only here
    from provenfix.jobs.sandbox.engine import connect_docker
    from provenfix.jobs.sandbox.errors import SandboxError

    sandbox = config.sandbox
    try:
        client = connect_docker(dict(sandbox.docker_env), sandbox.docker_base_url)
        image_id = build_base_image(
            client,
            sandbox.base_image,
            mirror=mirrors.optional("PROVENFIX_DEBIAN_MIRROR"),
            security_mirror=mirrors.optional("PROVENFIX_DEBIAN_SECURITY_MIRROR"),
            force=args.force,
        )
    except SandboxError as exc:
        print(f"provenfix: error: {exc}", file=sys.stderr)
        return 1
    print(image_id)
    return 0
