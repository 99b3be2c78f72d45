"""Soundness traps: a deliberately WRONG fix is never proven by a test that does not judge it.

Each repository's base has a repository semgrep rule whose autofix turns `x + 1` into
`x + 2`; the pull request adds `inc(x): return x + 1` and ONE test that executes it, a trap:
xfail (strict, non-strict, an xpass), a skip or `skipTest` after the call, no assertion,
`pytest.exit`/`os._exit`/`sys.exit` before the assertion, an assertion that only runs after
an earlier test of the module, a test that fails once per process tree with the fix and
then passes (a marker file), a test that already fails at head, a conftest that rewrites
the probe's files and prints fake results (and one that forges records on the probe's own
channel), a swallowed assertion, and a test that catches the bug 9 times in 10. The
analysis (`provenfix analyze --sandbox docker`) must never make that fix committable or
`passed`, while the right fix of the same pull request (`v == None` -> `v is None`, covered
by a genuine test) is still proven. Two controls: a genuine test rejects the wrong fix
(`failed`), and without any test of `inc` it is not `passed`.

Every case runs in two shapes of `calc.py`: `plain` (`inc` a function, as written above),
where the validator may also catch the fix by replaying `inc`'s calls, and `replay-blind`
(the changed line in a method that cannot be replayed), where only the judgement of the
tests' outcomes stands between the trap and a proven wrong fix.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from repo_support import GitRepo, MakeRepo
from soundness_support import (
    BASE,
    SHAPES,
    analyze,
    describe,
    head_files,
    right_suggestions,
    soundness_problems,
    summary,
    the_wrong_fix,
)

pytestmark = pytest.mark.docker

Validate = Callable[[Any], None]

TRAP_TEST = "tests/test_trap.py"

XFAIL_STRICT = """import pytest

from calc import inc


@pytest.mark.xfail(strict=True, reason="inc is being rewritten")
def test_inc():
    assert inc(1) == 2
"""

XFAIL_NON_STRICT = """import pytest

from calc import inc


@pytest.mark.xfail(reason="inc is being rewritten")
def test_inc():
    assert inc(1) == 2
"""

# xfails at head; the wrong fix makes it xpass
XPASS = """import pytest

from calc import inc


@pytest.mark.xfail(reason="known bug: inc should step by two")
def test_inc():
    assert inc(1) == 3
"""

SKIP_AFTER_CALL = """import pytest

from calc import inc


def test_inc():
    result = inc(1)
    pytest.skip("checked by hand for now")
    assert result == 2
"""

NO_ASSERT = """from calc import inc


def test_inc():
    inc(1)
"""

PYTEST_EXIT = """import pytest

from calc import inc


def test_inc():
    result = inc(1)
    pytest.exit("enough testing for today", returncode=0)
    assert result == 2
"""

OS_EXIT = """import os

from calc import inc


def test_inc():
    result = inc(1)
    os._exit(0)
    assert result == 2
"""

SYS_EXIT = """import sys

from calc import inc


def test_inc():
    result = inc(1)
    sys.exit(0)
    assert result == 2
"""

# test_b asserts only after test_a ran in the same process; run alone it asserts nothing
ORDER_DEPENDENT = """from calc import inc

STATE = []


def test_a_prepares():
    STATE.append("ready")


def test_b_checks():
    result = inc(1)
    if STATE:
        assert result == 2
"""

# Never fails with the right code (not flaky at head); with the wrong fix it fails the
# first time it runs in a process tree and passes from then on.
MARKER_IN_TMP = """import pathlib

from calc import inc

MARKER = pathlib.Path("/tmp/provenfix-soundness-marker")


def test_inc():
    if inc(1) != 2 and not MARKER.exists():
        MARKER.touch()
        raise AssertionError("inc(1) should be 2")
"""

MARKER_IN_WORKDIR = """import pathlib

from calc import inc

MARKER = pathlib.Path("soundness-marker")


def test_inc():
    if inc(1) != 2 and not MARKER.exists():
        MARKER.touch()
        raise AssertionError("inc(1) should be 2")
"""

FAILS_AT_HEAD = """from calc import inc


def test_inc():
    assert inc(1) == 2
    assert inc(2) == 4, "a wrong expectation: this test fails at head as well"
"""

UNITTEST_SKIP = """import unittest

from calc import inc


class IncTest(unittest.TestCase):
    def test_inc(self):
        result = inc(1)
        self.skipTest("checked by hand for now")
        self.assertEqual(result, 2)
"""

SWALLOWED_ASSERT = """from calc import inc


def test_inc():
    try:
        assert inc(1) == 2
    except AssertionError:
        pass
"""

# with the right code the assertion always holds; with the wrong fix it fails 9 times in 10
PROBABILISTIC = """import random

from calc import inc


def test_inc():
    result = inc(1)
    if random.random() < 0.9:
        assert result == 2
"""

GENUINE = """from calc import inc


def test_inc():
    assert inc(1) == 2
"""

# A hostile conftest: the test is genuine, but whatever happened, the conftest rewrites
# every file under .provenfix_probe/ (and the probe's output path) to say all passed, and
# prints fake result lines on every stdout it can reach.
TAMPERING_CONFTEST = """import atexit
import json
import os
import sys
from pathlib import Path

import pytest

_COLLECTED = []
_OUTCOME_KEYS = {"outcome", "status", "result", "verdict"}
_COUNT_KEYS = {"exitstatus", "returncode", "exit_code", "exitcode", "failed", "errors"}


def _forge(value):
    if isinstance(value, dict):
        forged = {}
        for key, item in value.items():
            if key in _OUTCOME_KEYS and isinstance(item, str):
                forged[key] = "passed"
            elif key in _COUNT_KEYS and isinstance(item, bool):
                forged[key] = False
            elif key in _COUNT_KEYS and isinstance(item, int):
                forged[key] = 0
            elif key in {"message", "longrepr", "longreprtext", "wasxfail"}:
                forged[key] = ""
            elif key in {"collect_errors", "failures", "new_failures"}:
                forged[key] = []
            else:
                forged[key] = _forge(item)
        return forged
    if isinstance(value, list):
        return [_forge(item) for item in value]
    return value


def _fake_result():
    tests = {nodeid: {"outcome": "passed", "duration": 0.001} for nodeid in _COLLECTED}
    return {"exitstatus": 0, "duration": 0.01, "tests": tests, "collect_errors": []}


def _rewrite(path):
    if path.suffix in {".py", ".pyc"} or not path.is_file():
        return
    try:
        raw = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return
    try:
        text = json.dumps(_forge(json.loads(raw)))
    except ValueError:  # JSON lines, perhaps
        lines = []
        for line in raw.splitlines():
            try:
                lines.append(json.dumps(_forge(json.loads(line))))
            except ValueError:
                lines.append(line)
        text = "\\n".join(lines) if lines else json.dumps(_fake_result())
    try:
        path.write_text(text, encoding="utf-8")
    except OSError:
        pass


def _targets():
    roots = {Path.cwd(), Path(__file__).resolve().parent}
    files = set()
    for name, value in os.environ.items():
        if name.startswith("PROVENFIX") and value.startswith("/"):
            path = Path(value)
            if path.is_dir():
                roots.add(path)
            elif path.parent.is_dir():
                files.add(path)
                roots.add(path.parent)
    for root in roots:
        folders = [root] if root.name == ".provenfix_probe" else []
        folders += list(root.rglob(".provenfix_probe"))
        for folder in folders:
            files.update(p for p in folder.rglob("*") if p.is_file())
    return files


def _tamper():
    for path in _targets():
        _rewrite(path)


def _shout():
    lines = [json.dumps(_fake_result())]
    lines += [
        json.dumps({"nodeid": nodeid, "when": "call", "outcome": "passed", "duration": 0.001})
        for nodeid in _COLLECTED
    ]
    tokens = [""]
    tokens += [
        value
        for name, value in os.environ.items()
        if name.startswith("PROVENFIX") and not value.startswith("/") and len(value) < 200
    ]
    text = "".join(f"{token}{line}\\n" for token in tokens for line in lines)
    print(text, flush=True)
    try:
        sys.__stdout__.write(text)
        sys.__stdout__.flush()
    except (OSError, ValueError, AttributeError):
        pass
    try:
        os.write(1, text.encode())
    except OSError:
        pass


def pytest_collection_modifyitems(items):
    _COLLECTED.extend(item.nodeid for item in items)


def pytest_runtest_logreport(report):
    if report.when == "teardown":
        _shout()


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session, exitstatus):
    session.exitstatus = 0
    _tamper()
    _shout()


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
    _tamper()
    _shout()


def _at_exit():
    _tamper()
    _shout()


atexit.register(_at_exit)
"""

# Beyond the files and stdout: the test process forges records on the probe's own channel
# (every pipe or socket it holds open), a passing record for every test after its real one,
# and zeroes pytest's failure count and exit status. Only the wrong fix is judged here: a
# repository whose tests lie on the channel may have nothing proven at all.
CHANNEL_FORGING_CONFTEST = """import json
import os
import stat

import pytest

_PASSED = {"outcome": "passed"}


def _channels():
    found = [1]
    for fd in range(3, 256):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            found.append(fd)
    return found


def _forge(nodeid):
    record = {
        "t": "test",
        "id": nodeid,
        "phases": {"setup": _PASSED, "call": _PASSED, "teardown": _PASSED},
        "checks": 3,
        "duration": 0.001,
    }
    data = (json.dumps(record, separators=(",", ":")) + "\\n").encode("utf-8")
    for fd in _channels():
        try:
            os.write(fd, data)
        except OSError:
            pass


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid, location):
    _forge(nodeid)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    session.testsfailed = 0
    session.exitstatus = 0
"""

TRAPS: dict[str, dict[str, str]] = {
    "xfail-strict": {TRAP_TEST: XFAIL_STRICT},
    "xfail-non-strict": {TRAP_TEST: XFAIL_NON_STRICT},
    "xpass": {TRAP_TEST: XPASS},
    "skip-after-call": {TRAP_TEST: SKIP_AFTER_CALL},
    "no-assert": {TRAP_TEST: NO_ASSERT},
    "pytest-exit-0": {TRAP_TEST: PYTEST_EXIT},
    "os-exit-0": {TRAP_TEST: OS_EXIT},
    "sys-exit-0": {TRAP_TEST: SYS_EXIT},
    "order-dependent": {TRAP_TEST: ORDER_DEPENDENT},
    "marker-in-tmp": {TRAP_TEST: MARKER_IN_TMP},
    "marker-in-workdir": {TRAP_TEST: MARKER_IN_WORKDIR},
    "fails-at-head": {TRAP_TEST: FAILS_AT_HEAD},
    "conftest-rewrites-probe-files": {"conftest.py": TAMPERING_CONFTEST, TRAP_TEST: GENUINE},
    "conftest-forges-channel-records": {
        "conftest.py": CHANNEL_FORGING_CONFTEST,
        TRAP_TEST: GENUINE,
    },
    "unittest-skiptest": {TRAP_TEST: UNITTEST_SKIP},
    "swallowed-assert": {TRAP_TEST: SWALLOWED_ASSERT},
}

CHANNEL_TAMPERING = {"conftest-forges-channel-records"}  # the right fix is not required
PROBABILISTIC_RUNS = 5  # with 3 repetitions per verdict, a lucky pass: about 5e-3


def _fail_if(problems: list[str], what: str, report: dict[str, Any], repo: GitRepo) -> None:
    if problems:
        details = "\n".join(problems)
        pytest.fail(f"{what}: {summary(report)}\n{details}\nrepository: {repo.path}", pytrace=False)


@pytest.mark.parametrize("trap", list(TRAPS))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_the_wrong_fix_is_never_proven_by_a_trap(
    shape: str, trap: str, make_repo: MakeRepo, report_validator: Validate
) -> None:
    repo = make_repo(BASE, head_files(TRAPS[trap], shape), name=f"{shape}-{trap}")
    report = analyze(repo, report_validator, f"{shape}-{trap}")
    problems = soundness_problems(report, require_right=trap not in CHANNEL_TAMPERING)
    _fail_if(problems, f"trap {trap} ({shape})", report, repo)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_test_that_catches_the_bug_9_times_in_10_never_proves_it(
    shape: str, make_repo: MakeRepo, report_validator: Validate
) -> None:
    repo = make_repo(BASE, head_files({TRAP_TEST: PROBABILISTIC}, shape), name=shape)
    outcomes: list[str] = []
    failures: list[str] = []
    for run in range(PROBABILISTIC_RUNS):
        report = analyze(repo, report_validator, f"{shape}-probabilistic-{run}")
        outcomes.append(f"  analysis {run}: {summary(report)}")
        problems = soundness_problems(report)
        if problems:
            failures.append(f"analysis {run}:\n" + "\n".join(problems))
    if failures:
        pytest.fail(
            f"{len(failures)} of {PROBABILISTIC_RUNS} analyses went wrong ({shape}, "
            f"repository: {repo.path}):\n" + "\n".join(outcomes + failures),
            pytrace=False,
        )


@pytest.mark.parametrize("shape", list(SHAPES))
def test_control_a_genuine_test_rejects_the_wrong_fix(
    shape: str, make_repo: MakeRepo, report_validator: Validate
) -> None:
    repo = make_repo(BASE, head_files({TRAP_TEST: GENUINE}, shape), name=shape)
    report = analyze(repo, report_validator, f"{shape}-genuine")
    _fail_if(soundness_problems(report), f"genuine test ({shape})", report, repo)
    wrong = the_wrong_fix(report)
    assert wrong["validation"]["status"] == "failed", describe(wrong)
    assert wrong["validation"]["new_failures"] == [f"{TRAP_TEST}::test_inc"], describe(wrong)


@pytest.mark.parametrize("shape", list(SHAPES))
def test_control_without_a_test_of_inc_the_wrong_fix_is_not_proven(
    shape: str, make_repo: MakeRepo, report_validator: Validate
) -> None:
    repo = make_repo(BASE, head_files({}, shape), name=shape)
    report = analyze(repo, report_validator, f"{shape}-untested")
    _fail_if(soundness_problems(report), f"no test of inc ({shape})", report, repo)
    wrong = the_wrong_fix(report)
    assert wrong["validation"]["status"] != "passed", describe(wrong)
    assert wrong["validation"]["tests_selected"] == 0, describe(wrong)
    selected = {s["validation"]["tests_selected"] for s in right_suggestions(report)}
    assert selected == {1}, summary(report)  # only test_is_missing executes `v == None`
