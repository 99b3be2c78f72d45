"""Spectrum-based fault localization among the changed lines (jobs.validation.localization):
the test-failure finding sits on the changed line that caused it. The pipeline cases run
the real tests (sandbox mode `none`: the local runner) on real git repositories."""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_support import MakeRepo

from provenfix.jobs.config import PipelineConfig
from provenfix.jobs.diff import compute_change, open_repo
from provenfix.jobs.factory import build_pipeline
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.report import Finding, Report
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.snapshot import Snapshot, take_snapshot
from provenfix.jobs.validation.localization import ChangedLineSpectrum, ochiai
from provenfix.jobs.validation.probe import CoverageMap

# --- the case: two changed lines of one function, one failing test -------------------

CHECKS = """def check(values, n=None):
    if n is not None and len(values) != n:
        raise ValueError("wrong length")
    return list(values)
"""
CHECKS_HEAD = CHECKS.replace(
    "if n is not None and len(values) != n:", "if n != None and len(values) > n:"
)
CHECK_TESTS = (
    "from checks import check\n\n\n"
    + "".join(
        f"def test_ok_{i}():\n    assert check([1] * {i}) == [1] * {i}\n\n\n" for i in range(9)
    )
    + (
        "def test_too_short():\n"
        "    try:\n"
        "        check([1], 3)\n"
        "    except ValueError:\n"
        "        return\n"
        "    raise AssertionError('a short list passed')\n"
    )
)


def failures(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.rule_id == "test-failure"]


def run(make_repo: MakeRepo, base: dict[str, str], head: dict[str, str], name: str) -> Report:
    repo = make_repo(base, head, name=name)
    pipeline = build_pipeline(
        AnalysisSettings(model_enabled=False), PipelineConfig(validation="none")
    )
    return pipeline.run(AnalysisRequest(repo.path, "main", "pr"))


def test_the_finding_goes_on_the_line_only_the_failing_test_runs(make_repo: MakeRepo) -> None:
    report = run(
        make_repo,
        {"checks.py": CHECKS, "tests/test_checks.py": CHECK_TESTS},
        {"checks.py": CHECKS_HEAD},
        "two-lines",
    )
    (finding,) = failures(report)
    assert finding.test == "tests/test_checks.py::test_too_short"
    assert (finding.path, finding.start_line) == ("checks.py", 2)  # both changes on one line


SPLIT = """def check(values, n=None):
    if n is not None:
        if len(values) != n:
            raise ValueError("wrong length")
    return list(values)
"""
SPLIT_HEAD = SPLIT.replace("if n is not None:", "if n != None:").replace(
    "if len(values) != n:", "if len(values) > n:"
)


def test_of_two_changed_lines_the_one_passing_tests_also_run_is_not_the_suspect(
    make_repo: MakeRepo,
) -> None:
    report = run(
        make_repo,
        {"checks.py": SPLIT, "tests/test_checks.py": CHECK_TESTS},
        {"checks.py": SPLIT_HEAD},
        "split-lines",
    )
    (finding,) = failures(report)
    # `n != None` (line 2) runs in all 10 tests; `len(values) > n` (line 3) only in the
    # failing one, which passes a length
    assert (finding.path, finding.start_line, finding.function) == ("checks.py", 3, "check")
    top, runner_up = finding.suspects
    assert (top.line, top.score, top.failing, top.passing) == (3, 1.0, 1, 0)
    assert (runner_up.line, runner_up.failing, runner_up.passing) == (2, 1, 9)
    assert runner_up.score == pytest.approx(0.3162, abs=1e-4)
    assert "most suspicious of the 2 changed lines it runs" in finding.message
    assert "next: line 2 (0.32)" in finding.message


DEFAULTS = """def collect(item, output=None):
    if output is None:
        output = []
    output.append(item)
    return output
"""
DEFAULTS_HEAD = """def collect(item, output=[]):
    if output is None:
        output = []
    output.append(item)
    return output
"""
DEFAULT_TESTS = """from collector import collect


def test_fresh_each_time():
    assert collect(1) == [1]
    assert collect(2) == [2]
"""


def test_a_changed_default_is_located_on_the_def_line_in_the_diff(make_repo: MakeRepo) -> None:
    report = run(
        make_repo,
        {"collector.py": DEFAULTS, "tests/test_collector.py": DEFAULT_TESTS},
        {"collector.py": DEFAULTS_HEAD},
        "defaults",
    )
    (finding,) = failures(report)
    assert (finding.path, finding.start_line, finding.function) == ("collector.py", 1, "collect")
    assert finding.suspects[0].failing == 1


NEW_CODE = """def middle(values):
    ordered = sorted(values)
    return ordered[len(ordered) // 2 - 1]
"""
NEW_TESTS = """from stats2 import middle


def test_middle():
    assert middle([3, 1, 2]) == 2
"""


def test_new_code_with_its_test_puts_the_finding_on_the_code_not_the_assertion(
    make_repo: MakeRepo,
) -> None:
    report = run(
        make_repo,
        {"README.md": "x\n"},
        {"stats2.py": NEW_CODE, "tests/test_stats2.py": NEW_TESTS},
        "new-code",
    )
    (finding,) = failures(report)
    assert finding.path == "stats2.py" and finding.function == "middle"
    assert all(not s.path.startswith("tests/") for s in finding.suspects)


# --- the spectrum itself -----------------------------------------------------------------------


@pytest.fixture
def snapshot(make_repo: MakeRepo, tmp_path: Path) -> Snapshot:
    repo = make_repo(
        {"checks.py": SPLIT, "tests/test_checks.py": CHECK_TESTS},
        {"checks.py": SPLIT_HEAD, "tests/test_checks.py": CHECK_TESTS + "\nCHANGED = 1\n"},
        name="spectrum",
    )
    change = compute_change(open_repo(repo.path), "main", "pr")
    return take_snapshot(change, AnalysisSettings(), tmp_path / "snap")


def test_ochiai() -> None:
    assert ochiai(1, 0, 1) == 1.0
    assert ochiai(1, 9, 1) == pytest.approx(1 / 10**0.5)
    assert ochiai(0, 5, 2) == 0.0 and ochiai(2, 2, 4) == pytest.approx(2 / 4**1)


def test_suspects_rank_by_ochiai_and_prefer_code_over_test_lines(snapshot: Snapshot) -> None:
    passing = {f"t::ok{i}" for i in range(9)}
    (test_file,) = [f for f in snapshot.files if f.change.path.startswith("tests/")]
    test_line = test_file.change.added[0].start
    coverage = CoverageMap(
        lines={
            "checks.py": {2: frozenset(passing | {"t::bad"}), 3: frozenset({"t::bad"})},
            "tests/test_checks.py": {test_line: frozenset({"t::bad", "t::only-test"})},
        },
        all_tests=frozenset(passing | {"t::bad", "t::only-test"}),
    )
    spectrum = ChangedLineSpectrum(snapshot, coverage, ["t::bad"])
    ranked = spectrum.suspects("t::bad")
    assert [(s.path, s.line) for s in ranked] == [("checks.py", 3), ("checks.py", 2)]
    assert ranked[0].score == 1.0 and ranked[1].score == pytest.approx(0.3162, abs=1e-4)
    assert (ranked[1].failing, ranked[1].passing) == (1, 9)
    assert spectrum.suspects("t::ok1") == [spectrum.suspects("t::ok1")[0]]  # line 2 only
    assert spectrum.suspects("t::nobody") == []
    # a test that runs only changed test lines is located there
    assert [(s.path, s.line) for s in spectrum.suspects("t::only-test")] == [
        ("tests/test_checks.py", test_line)
    ]
