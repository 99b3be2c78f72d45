"""The package a user installs: the sdist and wheel built from this repository, installed
into a fresh virtual environment with the CLI's dependencies only, run from another
folder on a real repository. Nothing named bot, jobs or actions lands in site-packages;
the rules and schemas are package data; the metadata names the license and the project."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import jsonschema
import pytest
from repo_support import PROJECT_ROOT

import provenfix


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(PROJECT_ROOT)],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return out


def test_the_wheel_holds_one_namespace_with_its_data_and_metadata(dist: Path) -> None:
    (wheel,) = dist.glob("provenfix-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/", 1)[0] for name in names}
    assert tops == {"provenfix", f"provenfix-{provenfix.__version__}.dist-info"}
    rules = sorted((PROJECT_ROOT / "rules").rglob("*.yaml"))
    packaged = [n for n in names if n.startswith("provenfix/rules/")]
    assert len(packaged) == len(rules) and all(n.endswith(".yaml") for n in packaged)
    assert "provenfix/schemas/report-v2.schema.json" in names
    assert "provenfix/schemas/provenfix-config.schema.json" in names
    assert "provenfix/jobs/validation/probe_driver.py" in names and "provenfix/py.typed" in names
    dashboard = "provenfix/bot/dashboard"  # served by `provenfix serve`: no CDN, from the wheel
    assert f"{dashboard}/templates/dashboard/overview.html" in names
    assert f"{dashboard}/static/dashboard.css" in names
    info = f"provenfix-{provenfix.__version__}.dist-info"
    assert f"{info}/licenses/LICENSE" in names
    metadata = Parser().parsestr(zipfile.ZipFile(wheel).read(f"{info}/METADATA").decode())
    assert metadata["Version"] == provenfix.__version__ and metadata["License-Expression"]
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert {"Homepage", "Source", "Issues", "Documentation"} <= set(urls)
    extras = set(metadata.get_all("Provides-Extra") or [])
    assert {"action", "app", "model"} <= extras
    requires = " ".join(metadata.get_all("Requires-Dist") or [])
    assert "flask" in requires.lower() and 'extra == "app"' in requires  # the App's, not the CLI's
    (sdist,) = dist.glob("provenfix-*.tar.gz")
    with tarfile.open(sdist) as tar:
        members = {m.name: m for m in tar.getmembers()}
    root = f"provenfix-{provenfix.__version__}"
    assert f"{root}/LICENSE" in members and not any(m.issym() for m in members.values())


def test_installed_from_the_wheel_it_analyzes_a_repository_from_anywhere(
    dist: Path, tmp_path: Path
) -> None:
    (wheel,) = dist.glob("provenfix-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
         str(wheel)],
        check=True,
        capture_output=True,
        timeout=900,
    )  # fmt: skip
    site = next((venv / "lib").glob("python3.*/site-packages"))
    assert not {"bot", "jobs", "actions", "rules"} & {p.name for p in site.iterdir()}
    for server_only in ("flask", "rq", "sqlalchemy", "gunicorn"):  # the CLI install is lean
        assert not (site / server_only).exists(), server_only
    demo = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "make-demo-repo"), str(tmp_path / "demo")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {"PATH": f"{venv / 'bin'}:{os.environ['PATH']}", "HOME": str(tmp_path)}
    proc = subprocess.run(
        ["provenfix", "analyze", "--repo", demo, "--base", "main", "--head", "bulk-import",
         "--no-validate", "--format", "json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    schema = json.loads((site / "provenfix" / "schemas" / "report-v2.schema.json").read_text())
    jsonschema.validate(report, schema)
    assert report["findings"], "the demo's change has findings"
    serve = subprocess.run(
        ["provenfix", "serve"], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60
    )
    assert serve.returncode == 2 and "provenfix[app]" in serve.stderr
