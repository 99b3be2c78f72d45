"""The `provenfix` command: every entry point under one name."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence

from provenfix.actions.options import add_action_command
from provenfix.jobs import __version__
from provenfix.jobs.cli import add_analyze_command, add_build_base_command
from provenfix.jobs.errors import UsageError

DEFAULT_BIND = "127.0.0.1:8000"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provenfix",
        description="Find what a change breaks, propose fixes, prove them with the tests.",
    )
    parser.add_argument("--version", action="version", version=f"provenfix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_analyze_command(commands)
    add_action_command(commands)
    _add_serve_command(commands)
    _add_worker_command(commands)
    add_build_base_command(commands)
    return parser


def _add_serve_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "serve",
        help="run the webhook receiver (the GitHub App's web service) under gunicorn",
        description="Serve POST /webhook, GET /healthz and GET /metrics with gunicorn. "
        "Configuration comes from PROVENFIX_* environment variables (docs/github-app.md).",
    )
    parser.add_argument(
        "--bind",
        default=os.environ.get("PROVENFIX_BIND", DEFAULT_BIND),
        help=f"address to listen on (default: $PROVENFIX_BIND or {DEFAULT_BIND})",
    )
    parser.add_argument(
        "--workers", type=_positive, default=2, help="gunicorn worker processes (default: 2)"
    )
    parser.add_argument("--log-level", default="info", help="gunicorn log level (default: info)")
    parser.set_defaults(handler=_run_serve)


def _add_worker_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "worker",
        help="run the rq workers that analyze pull requests",
        description="Work the analysis queue: fetch, analyze, prove, publish. Configuration "
        "comes from PROVENFIX_* environment variables (docs/github-app.md).",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="worker processes, each running one analysis at a time (default: 1)",
    )
    parser.add_argument(
        "--burst", action="store_true", help="exit once the queue is empty (for cron or tests)"
    )
    parser.add_argument("--log-level", default="INFO", help="log level (default: INFO)")
    parser.set_defaults(handler=_run_worker)


def _positive(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _require_app_extra(command: str) -> None:
    """serve and worker need the App's dependencies, which the CLI install leaves out."""
    missing = [m for m in ("flask", "gunicorn", "rq", "redis", "sqlalchemy", "github")
               if importlib.util.find_spec(m) is None]  # fmt: skip
    if missing:
        raise UsageError(
            f"`provenfix {command}` needs the App's dependencies ({', '.join(missing)} missing); "
            "install them with: pip install 'provenfix[app]'"
        )


def _run_serve(args: argparse.Namespace) -> int:
    _require_app_extra("serve")
    from provenfix.bot.db import Database
    from provenfix.bot.gunicorn_app import ProvenFixApplication
    from provenfix.bot.settings import load_settings

    # Fail fast, before gunicorn forks anything: every setting, the pipeline's included
    # (the worker uses them), the key, Redis and the database.
    settings = load_settings(os.environ)
    settings.private_key_pem()
    _check_redis(settings.redis_url)
    database = Database(settings.database_url)
    database.create_all()  # once, before the workers start
    database.dispose()
    ProvenFixApplication(
        {"bind": args.bind, "workers": args.workers, "loglevel": args.log_level}
    ).run()
    return 0


def _run_worker(args: argparse.Namespace) -> int:
    _require_app_extra("worker")
    from redis import Redis

    from provenfix.bot.job_context import context_from_settings
    from provenfix.bot.settings import load_settings
    from provenfix.bot.worker import run_worker
    from provenfix.jobs.factory import PipelineFactory

    # Before any work is accepted: every setting, Redis, then the sandbox engine and its
    # base image; a wrong PROVENFIX_SANDBOX_* stops the worker here, not a user's check run.
    settings = load_settings(os.environ)
    settings.private_key_pem()
    _check_redis(settings.redis_url)
    pipelines = PipelineFactory(settings.pipeline)
    print(f"provenfix: {pipelines.check_ready()}", file=sys.stderr, flush=True)
    context = context_from_settings(settings, pipelines=pipelines)
    redis = Redis.from_url(settings.redis_url)
    run_worker(
        context, redis, workers=args.workers, burst=args.burst, logging_level=args.log_level.upper()
    )
    return 0


def _check_redis(url: str) -> None:
    from redis import Redis
    from redis.exceptions import RedisError

    try:
        Redis.from_url(url, socket_connect_timeout=5).ping()
    except RedisError as exc:
        raise UsageError(
            f"PROVENFIX_REDIS_URL: Redis does not answer ({exc}); start it or point the "
            "variable at a running server"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.handler(args)
        return code
    except UsageError as exc:
        print(f"provenfix: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("provenfix: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if os.environ.get("PROVENFIX_DEBUG"):
            raise
        print(
            f"provenfix: internal error: {exc.__class__.__name__}: {exc} "
            "(set PROVENFIX_DEBUG=1 for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
