"""`provenfix analyze` end to end on real repositories with the bundled rules."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from repo_support import PROJECT_ROOT, MakeRepo

from provenfix.bot.cli import main

BASE = '''"""Orders."""


def total(items):
    return sum(i.price for i in items)


def legacy(value):
    # untouched by the PR: never reported
    if value == None:
        return 0
    return value
'''

PR_ADDITIONS = """

def collect(order, seen=[]):
    seen.append(order)
    return seen


def parse_quantity(text):
    try:
        return int(text)
    except:
        return 0


def shipping_band(weight, country, express, fragile):
    if weight < 1:
        band = 1
    elif weight < 5:
        band = 2
    elif weight < 10:
        band = 3
    else:
        band = 4
    if country == "DE":
        band += 0
    elif country in ("FR", "NL", "BE"):
        band += 1
    elif country == "US":
        band += 3
    else:
        band += 2
    if express and fragile:
        band *= 3
    elif express:
        band *= 2
    elif fragile:
        band += 1
    return band
"""


def line_of(text: str, needle: str) -> int:
    return text.splitlines().index(needle) + 1


@pytest.fixture
def pr_repo(make_repo: MakeRepo) -> Any:
    return make_repo({"shop/orders.py": BASE}, {"shop/orders.py": BASE + PR_ADDITIONS})


def analyze(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["analyze", "--quiet", "--no-validate", *args])  # validation: tests/validation
    out = capsys.readouterr()
    return code, out.out, out.err


def test_json_report_finds_each_problem_on_its_line(
    pr_repo: Any, capsys: pytest.CaptureFixture[str], report_validator: Callable[[Any], None]
) -> None:
    code, out, _ = analyze(
        capsys, "--repo", str(pr_repo.path), "--base", "main", "--head", "pr", "--format", "json"
    )
    assert code == 0
    report = json.loads(out)
    report_validator(report)
    head = BASE + PR_ADDITIONS
    by_rule = {f["rule_id"]: f for f in report["findings"]}
    mutable = next(f for r, f in by_rule.items() if "mutable-default" in r)
    assert mutable["start_line"] == line_of(head, "def collect(order, seen=[]):")
    bare = next(f for r, f in by_rule.items() if "bare-except" in r)
    assert bare["start_line"] == line_of(head, "    except:")
    complex_fn = by_rule["complexity-above-threshold"]
    assert complex_fn["start_line"] == line_of(
        head, "def shipping_band(weight, country, express, fragile):"
    )
    # `legacy` has `== None` on a line the PR did not touch
    untouched = line_of(head, "    if value == None:")
    assert all(not (f["start_line"] <= untouched <= f["end_line"]) for f in report["findings"])
    assert all(f["start_line"] > BASE.count("\n") for f in report["findings"])
    assert report["summary"]["findings"] == len(report["findings"])
    names = {m["name"]: m for m in report["metrics"]}
    assert names["shipping_band"]["cc_head"] > 10 and names["shipping_band"]["cc_base"] is None


def test_sarif_is_what_code_scanning_accepts(
    pr_repo: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = analyze(
        capsys, "--repo", str(pr_repo.path), "--base", "main", "--head", "pr", "--format", "sarif"
    )
    assert code == 0
    sarif = json.loads(out)
    schema = json.loads(
        (PROJECT_ROOT / "tests" / "fixtures" / "sarif-2.1.0.schema.json").read_text()
    )
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(sarif))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    assert sarif["version"] == "2.1.0" and "sarif-2.1.0" in sarif["$schema"]
    (run,) = sarif["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert run["results"]
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["level"] in {"error", "warning", "note"}
        assert result["message"]["text"]
        location = result["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"] == "shop/orders.py"
        assert location["region"]["startLine"] >= 1
        assert result["partialFingerprints"]


def test_markdown_and_text_and_output_file(
    pr_repo: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "out" / "report.md"
    code, out, _ = analyze(
        capsys,
        "--repo",
        str(pr_repo.path),
        "--base",
        "main",
        "--head",
        "pr",
        "--format",
        "markdown",
        "--output",
        str(target),
    )
    assert code == 0 and out == ""
    markdown = target.read_text()
    assert markdown.startswith("## ProvenFix analysis") and "| `shop/orders.py:" in markdown
    code, out, _ = analyze(capsys, "--repo", str(pr_repo.path), "--base", "main", "--head", "pr")
    assert "complexity-above-threshold" in out and "shop/orders.py:" in out


def test_fail_on_gates_ci(pr_repo: Any, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--repo", str(pr_repo.path), "--base", "main", "--head", "pr", "--format", "json"]
    assert analyze(capsys, *args, "--fail-on", "warning")[0] == 3
    assert analyze(capsys, *args, "--fail-on", "never")[0] == 0


def test_usage_and_config_errors_exit_2_with_one_line(
    pr_repo: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = analyze(capsys, "--repo", str(tmp_path), "--base", "main")
    assert code == 2 and "is not a git repository" in err and err.count("\n") == 1
    code, _, err = analyze(capsys, "--repo", str(pr_repo.path), "--base", "nope")
    assert code == 2 and "unknown revision 'nope'" in err and err.count("\n") == 1
    config = tmp_path / "provenfix.yml"
    config.write_text("thresholds:\n  complexity: -1\n")
    code, _, err = analyze(
        capsys,
        "--repo",
        str(pr_repo.path),
        "--base",
        "main",
        "--head",
        "pr",
        "--config",
        str(config),
    )
    assert code == 2 and "thresholds.complexity" in err


def test_broken_repo_config_at_base_is_a_config_error(
    make_repo: MakeRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo({".github/provenfix.yml": "rules: {disable: nope}\n"}, {"a.py": "x = 1\n"})
    code, _, err = analyze(capsys, "--repo", str(repo.path), "--base", "main", "--head", "pr")
    assert code == 2 and ".github/provenfix.yml" in err and "rules.disable" in err


def test_repo_config_at_base_is_applied(
    make_repo: MakeRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    config = "thresholds:\n  complexity: 50\n"
    repo = make_repo(
        {".github/provenfix.yml": config, "shop/orders.py": BASE},
        {"shop/orders.py": BASE + PR_ADDITIONS},
    )
    code, out, _ = analyze(
        capsys, "--repo", str(repo.path), "--base", "main", "--head", "pr", "--format", "json"
    )
    assert code == 0
    assert "complexity-above-threshold" not in {f["rule_id"] for f in json.loads(out)["findings"]}


def test_empty_diff_is_a_clean_report(
    make_repo: MakeRepo, capsys: pytest.CaptureFixture[str], report_validator: Callable[[Any], None]
) -> None:
    repo = make_repo({"a.py": "x = 1\n"})
    code, out, _ = analyze(capsys, "--repo", str(repo.path), "--base", "main", "--format", "json")
    report = json.loads(out)
    report_validator(report)
    assert code == 0 and report["findings"] == [] and report["summary"]["files_changed"] == 0


def test_internal_failure_exits_1_without_traceback(
    pr_repo: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    broken = tmp_path / "rules"
    broken.mkdir()
    (broken / "r.yaml").write_text("rules:\n- id: x\n  pattern: f(\n  languages: [python]\n")
    monkeypatch.setenv("PROVENFIX_RULES_DIR", str(broken))
    monkeypatch.delenv("PROVENFIX_DEBUG", raising=False)
    code, _, err = analyze(capsys, "--repo", str(pr_repo.path), "--base", "main", "--head", "pr")
    assert code == 1 and "internal error" in err and "Traceback" not in err


def test_console_script_runs_the_demo_repository(tmp_path: Path) -> None:
    demo = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "make-demo-repo"), str(tmp_path / "demo")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "provenfix"),
            "analyze",
            "--repo",
            demo,
            "--base",
            "main",
            "--head",
            "bulk-import",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "[provenfix] diff: 3 files changed" in proc.stderr  # progress goes to stderr
    rules = {f["rule_id"] for f in json.loads(proc.stdout)["findings"]}
    assert "complexity-above-threshold" in rules and len(rules) >= 5
