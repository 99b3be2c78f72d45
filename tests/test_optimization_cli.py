"""`provenfix analyze` on a PR that adds a quadratic membership loop: the codemod's
optimization is proven by the tests in the Docker sandbox, the recorded call replays identically,
and its speed-up is micro-benchmarked on that call with a 95% interval, not claimed."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from repo_support import PROJECT_ROOT, MakeRepo

ANALYZE = [sys.executable, "-m", "provenfix.bot.cli", "analyze", "--base", "main", "--head", "pr"]
ANALYZE += ["--sandbox", "docker"]
BASE = {
    "inventory.py": '"""Stock keeping."""\n',
    "tests/test_inventory.py": "def test_nothing_yet():\n    assert True\n",
}
HEAD = {
    "inventory.py": '''"""Stock keeping."""


def missing_skus(ordered, in_stock):
    """The SKUs ordered that are not in stock, in order."""
    stocked = [sku for sku in in_stock]
    missing = []
    for sku in ordered:
        if sku not in stocked:
            missing.append(sku)
    return missing
''',
    "tests/test_inventory.py": """from inventory import missing_skus


def test_nothing_yet():
    assert True


def test_missing_skus():
    ordered = list(range(0, 6000, 2))
    in_stock = list(range(3000, 9000))
    assert missing_skus(ordered, in_stock) == list(range(0, 3000, 2))
""",
}


def test_a_quadratic_membership_loop_gets_a_measured_optimization(
    make_repo: MakeRepo, report_validator: Any
) -> None:
    repo = make_repo(BASE, HEAD)
    out = repo.path.parent / "report.json"
    proc = subprocess.run(
        [*ANALYZE, "--repo", str(repo.path), "--format", "json", "--output", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(out.read_text())
    report_validator(report)
    (finding,) = [f for f in report["findings"] if f["rule_id"] == "membership-in-list-in-loop"]
    (fix,) = [s for s in report["suggestions"] if finding["id"] in s["finding_ids"]]
    assert fix["source"] == "codemod:list-membership-to-set" and fix["kind"] == "optimization"
    assert fix["committable"] and fix["validation"]["status"] == "passed"
    assert "stocked_set = set(stocked)" in fix["replacement"]
    efficiency = fix["score"]["components"]["performance_efficiency"]
    assert efficiency is not None and efficiency > 0.5  # measured: several times faster
    assert fix["score"]["components"]["defect_density_after"] == 0
    speed = fix["validation"]["speed"]
    assert speed["significant"] and speed["low"] >= 1.1 and speed["rounds"] >= 3
    assert f"{speed['speedup']:.2f}x (95% interval" in fix["rationale"]
    replay = fix["validation"]["replay"]
    assert replay["functions"] == ["missing_skus"] and replay["calls_replayed"] == 1
    assert replay["calls_changed"] == 0 and "identical results" in fix["rationale"]
    assert fix["validation"]["passing_tests"] == ["tests/test_inventory.py::test_missing_skus"]
    assert "hashable).." not in fix["rationale"]
