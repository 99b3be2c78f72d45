"""`provenfix analyze`: the pipeline on a local git repository."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from jobs.diff import open_repo, resolve
from jobs.errors import ConfigError
from jobs.factory import ValidationOptions, build_pipeline
from jobs.formats import RENDERERS
from jobs.generation.code_model.config import ModelOptions, model_options_from_env, open_model
from jobs.pipeline import AnalysisRequest
from jobs.repo_config import read_repo_settings
from jobs.report import Report, Severity
from jobs.settings import AnalysisSettings, load_repo_config

EXIT_FINDINGS = 3  # --fail-on matched: the analysis ran and found something that gates CI


def add_analyze_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "analyze",
        help="analyze what a change (base..head) introduces",
        description=(
            "Analyze the change from the merge base of BASE and HEAD to HEAD in a local git "
            "repository. Exit 0 when the analysis ran, 2 for usage or configuration errors, "
            f"{EXIT_FINDINGS} when --fail-on matched, 1 for internal errors."
        ),
    )
    parser.add_argument("--repo", type=Path, default=Path("."), help="repository path (default: .)")
    parser.add_argument("--base", required=True, help="base revision, e.g. origin/main")
    parser.add_argument("--head", default="HEAD", help="head revision (default: HEAD)")
    parser.add_argument("--format", choices=sorted(RENDERERS), default="text")
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
        choices=["docker", "none"],
        default="docker",
        help="where the tests run: hardened Docker containers (default), or 'none' = this "
        "machine's Python without isolation (only for throw-away CI runners)",
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


def model_options(args: argparse.Namespace, env: dict[str, str]) -> ModelOptions:
    """The PROVENFIX_MODEL* variables, with the command line's flags on top."""
    flags = {
        "PROVENFIX_MODEL": args.model,
        "PROVENFIX_MODEL_URL": args.model_url,
        "PROVENFIX_MODEL_API_KEY_ENV": args.model_api_key_env,
        "PROVENFIX_MODEL_SAMPLES": args.model_samples,
        "PROVENFIX_MODEL_BUDGET_S": args.model_budget,
    }
    return model_options_from_env(env | {k: v for k, v in flags.items() if v is not None})


def run_analyze(args: argparse.Namespace) -> int:
    repo_path = args.repo.resolve()
    settings = _settings(args, repo_path)

    def progress(message: str) -> None:
        if not args.quiet:
            print(f"[provenfix] {message}", file=sys.stderr, flush=True)

    mode = "off" if args.no_validate else args.sandbox
    options = ValidationOptions(
        mode=mode,
        install_command=args.install_command or settings.install_command,
        pytest_args=settings.pytest_args,
    )
    generation = model_options(args, dict(os.environ))
    if generation.enabled:
        progress(f"code model: {generation.label} (loaded when a function needs it)")
    pipeline = build_pipeline(
        settings,
        validation=options,
        progress=progress,
        model=open_model(generation),
        model_options=generation,
    )
    report = pipeline.run(AnalysisRequest(repo_path=repo_path, base=args.base, head=args.head))
    for extra_format, path in args.write:
        _write(path, RENDERERS[extra_format](report))
        progress(f"{extra_format} report written to {path}")
    rendered = RENDERERS[args.format](report)
    if args.output:
        _write(args.output, rendered)
        progress(f"report written to {args.output}")
    else:
        sys.stdout.write(rendered)
    return EXIT_FINDINGS if _gates(report, args.fail_on) else 0


def _format_and_path(value: str) -> tuple[str, Path]:
    name, sep, path = value.partition(":")
    if not sep or name not in RENDERERS or not path:
        raise argparse.ArgumentTypeError(
            f"expected FORMAT:PATH with FORMAT one of {', '.join(sorted(RENDERERS))}"
        )
    return name, Path(path)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _settings(args: argparse.Namespace, repo_path: Path) -> AnalysisSettings:
    if args.config is not None:
        try:
            text = args.config.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read --config {args.config}: {exc.strerror}") from None
        return load_repo_config(text, source=str(args.config))
    repo = open_repo(repo_path)
    return read_repo_settings(repo, resolve(repo, args.base))


def _gates(report: Report, fail_on: str) -> bool:
    if fail_on == "never":
        return False
    threshold = Severity(fail_on).rank
    return any(f.severity.rank >= threshold for f in report.findings)
