"""The composite Action's script, run as the runner would run it, on a real repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml
from repo_support import PROJECT_ROOT, MakeRepo


def test_action_step_writes_report_sarif_summary_and_outputs(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    action = yaml.safe_load((PROJECT_ROOT / "action.yml").read_text())
    (step,) = [s for s in action["runs"]["steps"] if s.get("id") == "analyze"]
    repo = make_repo({"m.py": "x = 1\n"}, {"m.py": "def f(a=[]):\n    return a == None\n"})
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir()
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "HOME": str(tmp_path),
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "PF_BASE": "main",
        "PF_HEAD": "pr",
        "PF_FAIL_ON": "warning",
        "PF_SANDBOX": "off",
        "PF_SARIF": str(tmp_path / "out.sarif"),
        "PROVENFIX_RULES_DIR": str(PROJECT_ROOT / "rules"),
    }
    proc = subprocess.run(
        ["bash", "-c", step["run"]],
        cwd=repo.path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr  # --fail-on warning matched
    outputs = dict(line.split("=", 1) for line in (tmp_path / "output").read_text().splitlines())
    assert int(outputs["findings"]) >= 2 and outputs["proven"] == "0"
    report = json.loads(Path(outputs["report"]).read_text())
    assert report["summary"]["findings"] == int(outputs["findings"])
    assert json.loads((tmp_path / "out.sarif").read_text())["version"] == "2.1.0"
    assert (tmp_path / "summary").read_text().startswith("## ProvenFix analysis")
