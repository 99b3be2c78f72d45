"""`provenfix analyze` with validation on: findings from failing tests, proven suggestions."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from repo_support import PROJECT_ROOT, MakeRepo

from provenfix.jobs.config import PipelineConfig
from provenfix.jobs.factory import build_pipeline
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.report import ValidationStatus
from provenfix.jobs.settings import AnalysisSettings


def provenfix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "provenfix"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_demo_pr_that_breaks_a_test(
    tmp_path: Path, report_validator: Callable[[Any], None], sandbox: object
) -> None:
    demo = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "make-demo-repo"), str(tmp_path / "demo")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    proc = provenfix(
        "analyze", "--repo", demo, "--base", "main", "--head", "bulk-import", "--format", "json"
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    report_validator(report)
    (failure,) = [f for f in report["findings"] if f["source"] == "tests"]
    assert failure["path"] == "shopcart/pricing.py" and failure["start_line"] == 14
    assert "tests/test_pricing.py::test_free_shipping_threshold" in failure["message"]
    proven = [s for s in report["suggestions"] if s["validation"]["status"] == "passed"]
    assert proven, report["suggestions"]
    for suggestion in proven:
        validation = suggestion["validation"]
        assert validation["tests_selected"] >= 1 and validation["tests_run"] >= 1
        assert validation["new_failures"] == []
        assert 0 < suggestion["score"]["reliability"] <= 1
        assert "**Evidence:**" in suggestion["rationale"]
    assert report["summary"]["suggestions_validated"] == len(proven)
    assert "validate" in report["summary"]["stage_durations_s"]


HARMLESS_BASE = """def mean(values):
    total = 0
    for v in values:
        total = total + v
    return total / len(values)


def is_missing(value):
    return value == None
"""
HARMLESS_TESTS = """from stats import is_missing, mean


def test_mean():
    assert mean([1, 2, 3]) == 2


def test_missing():
    assert is_missing(None) and not is_missing(0)
"""


def test_harmless_refactoring_validates_its_candidates(
    make_repo: MakeRepo, sandbox: object, tmp_path: Path
) -> None:
    refactored = HARMLESS_BASE.replace(
        "    total = 0\n    for v in values:\n        total = total + v\n",
        "    total = sum(values)\n",
    ).replace("    return value == None\n", "    result = value == None\n    return result\n")
    repo = make_repo(
        {"stats.py": HARMLESS_BASE, "tests/test_stats.py": HARMLESS_TESTS}, {"stats.py": refactored}
    )
    settings = AnalysisSettings()
    report = build_pipeline(settings, PipelineConfig(validation="docker")).run(
        AnalysisRequest(repo.path, "main", "pr")
    )
    assert [f.source.value for f in report.findings if f.source.value == "tests"] == []
    (eq_none,) = [s for s in report.suggestions if s.path == "stats.py"]
    assert eq_none.validation.status is ValidationStatus.PASSED
    assert eq_none.validation.tests_selected == 1  # only test_missing runs that line
    assert eq_none.committable


FLAKY_TESTS = """import pathlib

from m import value

COUNTER = pathlib.Path({counter!r})


def test_value():
    runs = int(COUNTER.read_text()) + 1 if COUNTER.exists() else 1
    COUNTER.write_text(str(runs))
    assert value(None) is None
    # run 1 is the baseline; the candidate's session runs it 3 times (2, 3, 4); when those
    # disagree, head's session runs it 3 times (5, 6, 7) to compare run by run
    assert runs not in {failing_runs}


def test_value_plain():
    assert value(3) == 3
"""


def _analyze_with_flaky_test(
    make_repo: MakeRepo, tmp_path: Path, failing_runs: set[int], sessions: int
) -> Any:
    counter = tmp_path / "runs.txt"
    repo = make_repo(
        {
            "m.py": "def value(x):\n    return x\n",
            "tests/test_m.py": FLAKY_TESTS.format(counter=str(counter), failing_runs=failing_runs),
        },
        {"m.py": "def value(x):\n    if x == None:\n        return None\n    return x\n"},
    )
    # The in-runner mode (no isolation) lets the test keep a counter on this host.
    report = build_pipeline(AnalysisSettings(), PipelineConfig(validation="none")).run(
        AnalysisRequest(repo.path, "main", "pr")
    )
    assert counter.read_text() == str(sessions)
    return report


def test_a_test_flaky_at_head_is_neither_a_regression_nor_evidence(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # it fails in the first run of both the candidate's and head's sessions: flaky at head
    report = _analyze_with_flaky_test(make_repo, tmp_path, {2, 5}, sessions=7)
    (suggestion,) = report.suggestions
    validation = suggestion.validation
    assert validation.status is ValidationStatus.PASSED, validation
    assert validation.flaky_tests == ("tests/test_m.py::test_value",)
    assert validation.passing_tests == ("tests/test_m.py::test_value_plain",)
    assert validation.new_failures == () and validation.runs == 3
    assert "flaky at head, not counted" in suggestion.rationale


def test_a_failure_with_the_candidate_rejects_it_even_if_a_rerun_passes(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    # the candidate's second run fails it; head's three runs pass it
    report = _analyze_with_flaky_test(make_repo, tmp_path, {3}, sessions=7)
    (suggestion,) = report.suggestions
    validation = suggestion.validation
    assert validation.status is ValidationStatus.FAILED, validation
    assert validation.new_failures == ("tests/test_m.py::test_value",)
    assert validation.flaky_tests == ()
    assert "failed in 1 of 3 runs" in validation.detail
    assert not suggestion.committable
