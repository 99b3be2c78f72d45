"""The probe's stream: what a test session reports, and why a forged or broken one is invalid.

The first half feeds `parse_stream` hand-made streams (each consistency check); the second
runs the real driver (the in-runner mode, no container) on small suites that try to lie.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from provenfix.jobs.validation.local_runner import SubprocessTestRunner
from provenfix.jobs.validation.probe import parse_stream
from provenfix.jobs.validation.testrun import Plan, RecordTarget, ReplaySpec, Step, run_tests

IDS = ["t.py::a", "t.py::b"]


def test_record(nodeid: str, call: str = "passed", checks: int = 1) -> dict[str, Any]:
    return {
        "t": "test",
        "id": nodeid,
        "phases": {"setup": {"outcome": "passed"}, "call": {"outcome": call}},
        "checks": checks,
    }


test_record.__test__ = False  # type: ignore[attr-defined]


def stream(*records: dict[str, Any], done: bool = True) -> str:
    lines = [json.dumps({"s": "x", **r}) for r in records]
    if done:
        lines.append(json.dumps({"t": "done"}))
    return "\n".join(lines) + "\n"


def session(*tests: dict[str, Any], status: int = 0, failed: int = 0, code: int | None = None):  # type: ignore[no-untyped-def]
    return (
        {"t": "collected", "ids": IDS},
        *tests,
        {"t": "finish", "exitstatus": status, "testsfailed": failed, "testscollected": 2},
        {"t": "exit", "code": status if code is None else code, "timed_out": False},
    )


def test_a_consistent_session_is_valid_and_genuine_means_passed_with_checks() -> None:
    (result,) = parse_stream(
        stream(*session(test_record(IDS[0]), test_record(IDS[1], checks=0)))
    ).values()
    assert result.invalid == ""
    assert result.tests[IDS[0]].genuine and not result.tests[IDS[1]].genuine
    assert result.tests[IDS[1]].ok  # not a failure, but not evidence either


@pytest.mark.parametrize(
    ("records", "reason"),
    [
        (
            session(test_record(IDS[0]), test_record(IDS[1]), code=1),
            "exit code 1 but pytest reported 0",
        ),
        (session(test_record(IDS[0])), "2 tests collected but 1 reported"),
        (
            session(test_record(IDS[0]), test_record(IDS[1]), test_record("t.py::forged")),
            "not collected",
        ),
        (session(test_record(IDS[0]), test_record(IDS[0]), test_record(IDS[1])), "reported twice"),
        (session(test_record(IDS[0], "failed"), test_record(IDS[1])), "pytest counted 0"),
        (
            session(test_record(IDS[0], "failed"), test_record(IDS[1]), failed=1),
            "pytest exited with 0 after 1 failure",
        ),
        (
            (
                {"t": "interrupted", "reason": "bye"},
                *session(test_record(IDS[0]), test_record(IDS[1])),
            ),
            "interrupted (bye)",
        ),
        (
            (
                {"t": "garbage", "reason": "a line that is not a JSON object"},
                *session(test_record(IDS[0]), test_record(IDS[1])),
            ),
            "invalid record",
        ),
        (
            ({"t": "collected", "ids": IDS}, test_record(IDS[0]), {"t": "exit", "code": 0}),
            "before the session finished",
        ),
        (({"t": "collected", "ids": IDS}, {"t": "exit", "signal": 9}), "killed by signal 9"),
    ],
)
def test_an_inconsistent_session_is_invalid(
    records: tuple[dict[str, Any], ...], reason: str
) -> None:
    (result,) = parse_stream(stream(*records)).values()
    assert reason in result.invalid


def test_a_stream_the_driver_did_not_finish_is_invalid() -> None:
    (result,) = parse_stream(
        stream(*session(test_record(IDS[0]), test_record(IDS[1])), done=False)
    ).values()
    assert "did not finish" in result.invalid


# --- the real driver, no container ------------------------------------------------------------

CODE = "def inc(x):\n    return x + 1\n"
SUITE = """import os, sys, unittest
import pytest
from calc import inc


def test_asserts():
    assert inc(1) == 2


def test_no_check():
    inc(5)


def test_raises():
    with pytest.raises(TypeError):
        inc("a")


@pytest.mark.xfail
def test_xfail():
    assert inc(1) == 3


@pytest.mark.xfail
def test_xpass():
    assert inc(1) == 2


def test_skip_after_call():
    inc(2)
    pytest.skip("later")


def test_swallowed():
    try:
        assert inc(1) == 3
    except AssertionError:
        pass


class TestUnit(unittest.TestCase):
    def test_equal(self):
        self.assertEqual(inc(0), 1)

    def test_skip(self):
        inc(0)
        self.skipTest("no")
"""
LIAR_CONFTEST = """import json, os, sys


def pytest_sessionfinish(session, exitstatus):
    fake = json.dumps({"t": "test", "id": "tests/test_calc.py::test_no_check",
                       "phases": {"call": {"outcome": "passed"}}, "checks": 9})
    for line in (fake, json.dumps({"t": "done"})):
        print(line)
        sys.__stdout__.write(line + "\\n")
        os.write(1, (line + "\\n").encode())
    for root, _, files in os.walk(".provenfix_probe"):
        for name in files:
            with open(os.path.join(root, name), "w") as handle:
                handle.write("{}")
"""


@pytest.fixture
def runner(tmp_path: Path) -> SubprocessTestRunner:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    return SubprocessTestRunner(scratch, python=sys.executable, timeout_s=120)


def tree(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "tree"
    for name, text in {"calc.py": CODE, **files}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_outcomes_and_checks_of_every_kind_of_test(
    runner: SubprocessTestRunner, tmp_path: Path
) -> None:
    run = run_tests(runner, tree(tmp_path, {"tests/test_calc.py": SUITE}), None)
    assert run.result is not None, run.detail
    seen = {k.split("::", 1)[1]: (v.outcome, v.genuine) for k, v in run.result.tests.items()}
    assert seen == {
        "test_asserts": ("passed", True),
        "test_no_check": ("passed", False),
        "test_raises": ("passed", True),
        "test_xfail": ("xfailed", False),
        "test_xpass": ("xpassed", False),
        "test_skip_after_call": ("skipped", False),
        "test_swallowed": ("passed", False),
        "TestUnit::test_equal": ("passed", True),
        "TestUnit::test_skip": ("skipped", False),
    }


def test_a_conftest_that_prints_records_and_rewrites_files_changes_nothing(
    runner: SubprocessTestRunner, tmp_path: Path
) -> None:
    files = {"tests/test_calc.py": SUITE, "tests/conftest.py": LIAR_CONFTEST}
    run = run_tests(runner, tree(tmp_path, files), None)
    assert run.result is not None, run.detail
    assert not run.result.tests["tests/test_calc.py::test_no_check"].genuine


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("pytest.exit('bye', returncode=0)", "interrupted"),
        ("os._exit(0)", "before the session finished"),
        ("os.kill(os.getpid(), 9)", "killed by signal 9"),
    ],
)
def test_a_test_that_ends_the_session_makes_the_run_invalid(
    runner: SubprocessTestRunner, tmp_path: Path, body: str, reason: str
) -> None:
    suite = f"import os, pytest\nfrom calc import inc\n\n\ndef test_a():\n    inc(1)\n    {body}\n"
    run = run_tests(runner, tree(tmp_path, {"tests/test_calc.py": suite}), None)
    assert run.result is None and reason in run.detail


def test_calls_are_recorded_and_replayed_against_head(
    runner: SubprocessTestRunner, tmp_path: Path
) -> None:
    root = tree(tmp_path, {"tests/test_calc.py": SUITE})
    baseline = runner.run_plan(
        root, Plan((Step("b", None, record=(RecordTarget("calc.py", "inc", 1, 2),)),))
    )
    (recorded,) = baseline.steps["b"].recorded
    assert recorded.module == "calc"
    assert {json.dumps(c["args"]): c.get("result", c.get("raises")) for c in recorded.calls} == {
        '[[1], {"dict": []}]': 2,
        '[[5], {"dict": []}]': 6,
        '[["a"], {"dict": []}]': "TypeError",
        '[[2], {"dict": []}]': 3,
        '[[0], {"dict": []}]': 1,
    }
    (root / "calc.py").write_text(CODE.replace("x + 1", "x + 2"))
    spec = ReplaySpec("calc.py", "inc", "calc", tuple(c["args"] for c in recorded.calls))
    plan = Plan(
        (Step("r", ("tests/test_calc.py::test_asserts",), replay=(spec,)),), {"calc.py": CODE}
    )
    replayed = runner.run_plan(root, plan).steps["r"]
    assert replayed.invalid == ""
    ((only),) = replayed.replays
    pairs = [
        (h.get("result", h.get("raises")), c.get("result", c.get("raises")))
        for h, c in only.results
    ]
    assert pairs == [(2, 3), (6, 7), ("TypeError", "TypeError"), (3, 4), (1, 2)]


def test_a_passing_doctest_checked_what_it_shows(tmp_path: Path) -> None:
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    runner = SubprocessTestRunner(
        scratch, python=sys.executable, timeout_s=120, pytest_args=("--doctest-modules",)
    )
    documented = 'def inc(x):\n    """\n    >>> inc(1)\n    2\n    """\n    return x + 1\n'
    root = tree(tmp_path, {"calc.py": documented, "tests/test_calc.py": SUITE})
    run = run_tests(runner, root, None)
    assert run.result is not None, run.detail
    doctest = run.result.tests["calc.py::calc.inc"]
    assert doctest.outcome == "passed" and doctest.genuine


def test_asserts_in_a_helper_module_of_the_test_folder_count(
    runner: SubprocessTestRunner, tmp_path: Path
) -> None:
    helper = "def assert_equal(expected, actual):\n    assert expected == actual\n"
    suite = (
        "from calc import inc\nfrom common import assert_equal\n\n\n"
        "def test_via_helper():\n    assert_equal(2, inc(1))\n"
    )
    root = tree(tmp_path, {"test/common.py": helper, "test/test_calc.py": suite})
    run = run_tests(runner, root, None)
    assert run.result is not None, run.detail
    assert run.result.tests["test/test_calc.py::test_via_helper"].genuine


def test_a_session_runs_its_tests_three_times_and_replays_fresh_versions_after(
    runner: SubprocessTestRunner, tmp_path: Path
) -> None:
    suite = (
        "from calc import inc\n\nSEEN = []\n\n\n"
        "def test_counts():\n    SEEN.append(1)\n    assert inc(len(SEEN)) == len(SEEN) + 1\n"
    )
    root = tree(tmp_path, {"tests/test_calc.py": suite})
    (root / "calc.py").write_text(CODE.replace("x + 1", "x + 2"))
    spec = ReplaySpec("calc.py", "inc", "calc", (values_args(1),))
    step = Step("s", None, repeats=3, replay=(spec,))
    result = runner.run_plan(root, Plan((step,), {"calc.py": CODE})).steps["s"]
    assert result.invalid == ""
    assert [rep["tests/test_calc.py::test_counts"].outcome for rep in result.reps] == ["failed"] * 3
    ((replayed),) = result.replays
    assert replayed.results == (({"result": 2}, {"result": 3}),)


def values_args(*positional: Any) -> Any:
    from provenfix.jobs.validation import probe_values

    return probe_values.encode([list(positional), {}])


def test_a_run_missing_from_a_repeated_session_is_invalid() -> None:
    records = (
        {"t": "collected", "ids": IDS},
        *({**test_record(t), "rep": rep} for rep in (0, 2) for t in IDS),
        {"t": "finish", "exitstatus": 0, "testsfailed": 0, "testscollected": 2},
        {"t": "exit", "code": 0},
    )
    (result,) = parse_stream(stream(*records)).values()
    assert "not one after another" in result.invalid


def test_a_function_that_looks_at_its_callers_frame_is_not_wrapped(
    runner: SubprocessTestRunner, tmp_path: Path
) -> None:
    code = "import sys\n\n\ndef caller():\n    return sys._getframe(1).f_globals['__name__']\n"
    suite = "from calc import caller\n\n\ndef test_caller():\n    assert caller() == __name__\n"
    root = tree(tmp_path, {"calc.py": code, "tests/test_calc.py": suite})
    target = RecordTarget("calc.py", "caller", 4, 5)
    result = runner.run_plan(root, Plan((Step("b", None, record=(target,)),))).steps["b"]
    assert result.tests["tests/test_calc.py::test_caller"].genuine
    ((recorded),) = result.recorded
    assert recorded.calls == () and recorded.module == ""  # left alone


def test_pytest_refusing_a_conftest_is_an_invalid_run_that_says_why(
    runner: SubprocessTestRunner, tmp_path: Path
) -> None:
    conftest = "def pytest_ignore_collect(path, config):\n    return False\n"  # pytest 9: no
    root = tree(tmp_path, {"tests/test_calc.py": SUITE, "tests/conftest.py": conftest})
    run = run_tests(runner, root, None)
    assert run.result is None
    assert "pytest could not run the tests" in run.detail and "path" in run.detail


def test_a_test_that_fails_only_under_recording_is_judged_without_it(
    runner: SubprocessTestRunner, tmp_path: Path
) -> None:
    from provenfix.jobs.validation.validator import Validator

    code = (
        "import sys\n\n\ndef _module_of_caller():\n"
        "    return sys._getframe(2).f_globals['__name__']\n"
        "\n\ndef make():\n    return _module_of_caller()\n"
    )
    suite = "from calc import make\n\n\ndef test_make():\n    assert make() == __name__\n"
    root = tree(tmp_path, {"calc.py": code, "tests/test_calc.py": suite})
    (tmp_path / "trees").mkdir()
    validator = Validator(runner, tmp_path / "trees")
    baseline = validator.baseline(root, [RecordTarget("calc.py", "make", 8, 9)])
    assert baseline.recording_changed == ("tests/test_calc.py::test_make",)
    assert baseline.outcomes["tests/test_calc.py::test_make"].genuine
    assert baseline.recorded == ()  # nothing recorded under wrappers is trusted for replay


def test_a_conftest_that_turns_failed_reports_into_passes_is_caught(
    runner: SubprocessTestRunner, tmp_path: Path
) -> None:
    conftest = (
        "import pytest\n\n\n@pytest.hookimpl(hookwrapper=True)\n"
        "def pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n"
        "    report = outcome.get_result()\n"
        "    if report.failed:\n"
        "        report.outcome = 'passed'\n"
    )
    suite = (
        "from calc import inc\n\n\n"
        "def test_half():\n    assert inc(1) == 2\n    assert inc(1) == 3\n"
    )
    root = tree(tmp_path, {"tests/test_calc.py": suite, "tests/conftest.py": conftest})
    run = run_tests(runner, root, None)
    assert run.result is None  # the failure it hid does not add up with what pytest counted
    assert "failing tests recorded but pytest counted 0" in run.detail
