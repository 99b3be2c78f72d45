"""The web process imports none of the analysis pipeline's heavy dependencies.

`provenfix serve` runs bot.cli in gunicorn's arbiter, which imports bot.gunicorn_app;
every worker it forks calls ProvenFixApplication.load(), i.e. bot.wsgi.create_app_from_env().
None of that needs Docker, libcst, radon, GitPython, semgrep or a model: those belong to
the rq worker. Each test runs that path in a fresh interpreter (no mocks, the real
environment variables, a real SQLite file) under `python -X importtime` and, when a heavy
package got imported, names the chain of imports that first pulled it in.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("docker", "libcst", "radon", "git", "semgrep", "torch", "transformers")

# What a gunicorn worker of `provenfix serve` loads to answer webhooks.
WORKER = """
from provenfix.bot.gunicorn_app import ProvenFixApplication

app = ProvenFixApplication({"bind": "127.0.0.1:0", "workers": 1}).load()  # create_app_from_env()
assert app.name == "provenfix", app
"""

# `provenfix serve --help`: bot.cli imported, the whole parser built, `serve` parsed.
CLI = """
import contextlib, io

from provenfix import bot

import provenfix.bot.cli
with contextlib.redirect_stdout(io.StringIO()) as text:
    try:
        bot.cli.main(["serve", "--help"])
    except SystemExit as exc:
        assert exc.code == 0, exc.code
assert "--bind" in text.getvalue(), text.getvalue()
"""

REPORT = f"""
import json, sys

from provenfix import bot
heavy = sorted(name for name in {HEAVY!r} if name in sys.modules)
print(json.dumps({{"bot": bot.__file__, "heavy": heavy}}))
"""

_LINE = re.compile(r"^import time:\s+\d+ \|\s+\d+ \| ( *)(\S+)\s*$")


def first_importers(importtime: str, names: list[str]) -> dict[str, str]:
    """For each package, the chain of imports that first loaded it, from `-X importtime`.

    importtime prints a module once its import finished, nested two spaces per level, so
    the module that imported it is the next line printed one level up.
    """
    rows = [(len(m[1]) // 2, m[2]) for m in map(_LINE.match, importtime.splitlines()) if m]
    chains: dict[str, str] = {}
    for i, (depth, module) in enumerate(rows):
        top = module.split(".")[0]
        if top not in names or top in chains:
            continue
        chain = [module]
        for level, parent in rows[i + 1 :]:
            if level < depth:
                depth = level
                if parent.split(".")[0] == top:  # `import radon.complexity` loads radon first
                    chain[-1] = parent
                else:
                    chain.append(parent)
                if depth == 0:
                    break
        chains[top] = " <- ".join(chain)
    return chains


def heavy_imports(code: str, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """Run `code` in a fresh interpreter in this checkout: the heavy packages it left in
    sys.modules, and the import chain that brought in each."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code + REPORT],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["bot"]).resolve().is_relative_to(ROOT), report["bot"]  # this checkout's
    return report["heavy"], first_importers(result.stderr, report["heavy"])


@pytest.fixture
def web_env(private_key_pem: str, redis_url: str, tmp_path: Path) -> dict[str, str]:
    """A fresh interpreter's environment: what create_app_from_env() needs, nothing more."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENFIX_")}
    env.pop("PYTHONPATH", None)
    return env | {
        "PROVENFIX_APP_ID": "4242",
        "PROVENFIX_WEBHOOK_SECRET": "it's-a-secret-to-everybody",
        "PROVENFIX_PRIVATE_KEY": private_key_pem,
        "PROVENFIX_REDIS_URL": redis_url,  # not contacted while the app is built
        "PROVENFIX_DATABASE_URL": f"sqlite:///{tmp_path / 'provenfix.db'}",
    }


def explain(where: str, heavy: list[str], chains: dict[str, str]) -> str:
    lines = [f"{where} imports the pipeline's heavy dependencies {', '.join(heavy)}:"]
    lines += [f"  {name}: {chains.get(name, '(no import chain found)')}" for name in heavy]
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("where", "code"),
    [
        ("the gunicorn worker (bot.wsgi.create_app_from_env())", WORKER),
        ("`provenfix serve --help` (bot.cli)", CLI),
    ],
    ids=["worker", "cli"],
)
def test_web_process_imports_no_heavy_dependency(
    where: str, code: str, web_env: dict[str, str]
) -> None:
    heavy, chains = heavy_imports(code, web_env)
    assert not heavy, explain(where, heavy, chains)
