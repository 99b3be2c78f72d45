"""The `provenfix` command: every entry point under one name."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from jobs import __version__
from jobs.cli import add_analyze_command
from jobs.errors import UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="provenfix",
        description="Find what a change breaks, propose fixes, prove them with the tests.",
    )
    parser.add_argument("--version", action="version", version=f"provenfix {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_analyze_command(commands)
    return parser


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
