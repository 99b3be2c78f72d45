"""The pytest side of the probe. Runs INSIDE the sandbox, in a child of the driver.

Copied beside the checkout as `provenfix_probe`, so it imports nothing from
ProvenFix. Each record leaves the test process the moment it exists, as one
JSON line on a pipe the driver opened before collection (see probe_driver.py):
test code that runs later cannot rewrite it. Per test it records the outcome
of each phase, xfail/xpass, the call phase's duration and how many checks ran
during the call (passing `assert` statements through pytest's
`pytest_assertion_pass` hook, unittest `assert*` methods, `pytest.raises`,
`pytest.warns`). Interruptions (`pytest.exit`, Ctrl-C, internal errors) are
recorded too; the session's end carries pytest's own counts.

The session runs its tests `repeats` times over the same collected items
(pytest's own loop, repeated: fixtures are torn down and set up again; records
carry the repetition's number). Optional: coverage.py contexts per test (which
test runs which line, in the Python processes it starts too: probe_cover), call
recording into changed functions (probe_calls.Recorder), and after the runs a
replay of recorded calls against head's and the candidate's versions of the
module, both loaded fresh from their source (`replay_only`: collect the tests
for their import environment only).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
import unittest
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from provenfix.jobs.validation import probe_calls as calls
    from provenfix.jobs.validation import probe_cover as per_test
else:
    try:
        import provenfix_calls as calls
        import provenfix_cover as per_test
    except ImportError:  # imported on the host (tests)
        from provenfix.jobs.validation import probe_calls as calls
        from provenfix.jobs.validation import probe_cover as per_test

_MAX_MESSAGE = 4000
PYTEST_OPTIONS = (
    "-p",
    "no:cacheprovider",
    "-q",
    "--no-header",
    "-rN",
    "--tb=native",  # long tracebacks make many failures slow; the last line is kept
    "--maxfail=0",  # a repository's -x would leave tests unjudged
    "-o",
    "enable_assertion_pass_hook=true",
)


# what a passing, skipped or xfailed call may raise (pytest's outcome exceptions)
_NOT_FAILURES = (pytest.skip.Exception, pytest.xfail.Exception)


class Channel:
    """JSON lines on a file descriptor, written whole."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __call__(self, record: dict[str, Any]) -> None:
        data = (json.dumps(record, separators=(",", ":")) + "\n").encode("utf-8")
        while data:
            written = os.write(self.fd, data)
            data = data[written:]


class _Checks:
    """Counts the checks made during the current test's call phase."""

    def __init__(self) -> None:
        self.count = 0
        self.in_call = False

    def hit(self) -> None:
        if self.in_call:
            self.count += 1

    def install(self) -> None:
        for name in dir(unittest.TestCase):
            if name.startswith(("assert", "fail")) and callable(getattr(unittest.TestCase, name)):
                setattr(unittest.TestCase, name, self._counting(getattr(unittest.TestCase, name)))
        for name in ("raises", "warns", "deprecated_call"):
            if hasattr(pytest, name):
                setattr(pytest, name, self._counting(getattr(pytest, name)))

    def _counting(self, function: Callable[..., Any]) -> Callable[..., Any]:
        checks = self

        def counted(*args: Any, **kwargs: Any) -> Any:
            checks.hit()
            return function(*args, **kwargs)

        counted.__name__ = getattr(function, "__name__", "check")
        counted.__doc__ = function.__doc__
        counted.__wrapped__ = function  # type: ignore[attr-defined]
        return counted


class Probe:
    def __init__(
        self,
        emit: Channel,
        root: str,
        *,
        cover: bool = False,
        recorder: calls.Recorder | None = None,
        replay: list[dict[str, Any]] | None = None,
        versions: dict[str, dict[str, str]] | None = None,
        repeats: int = 1,
        replay_only: bool = False,
    ) -> None:
        self.emit = emit
        self.root = os.path.realpath(root)
        self.order: list[str] = []
        self.current: dict[str, Any] | None = None
        self.checks = _Checks()
        self.checks.install()
        self.recorder = recorder
        self.replay = replay
        self.versions = versions or {}
        self.repeats = max(1, repeats)
        self.replay_only = replay_only
        self.rep = 0
        self.started = time.monotonic()
        self.cov: Any = None
        self.children: per_test.Session | None = None
        if cover:
            import coverage

            here = os.path.dirname(os.path.abspath(__file__))
            self.cov = coverage.Coverage(
                data_file=None,
                source=[self.root],
                omit=[os.path.join(here, "*")],
                config_file=False,
            )
            self.cov.start()
            # the Python processes tests start: measured apart, merged per test
            probe_dir = os.path.realpath(here)
            self.children = per_test.open_session(self.root, [probe_dir], self.cov.stop, probe_dir)

    # --- collection ---------------------------------------------------------------------

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.emit(
                {"t": "collect_error", "id": report.nodeid, "message": _text(report.longreprtext)}
            )

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.emit({"t": "collected", "ids": [item.nodeid for item in session.items]})

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtestloop(self, session: pytest.Session) -> bool:
        """pytest's own loop, `repeats` times over the same items, then the replay."""
        if session.testsfailed and not session.config.option.continue_on_collection_errors:
            count = session.testsfailed
            raise session.Interrupted(f"{count} error{'s' if count != 1 else ''} during collection")
        if session.config.option.collectonly:
            return True
        for rep in range(0 if self.replay_only else self.repeats):
            self.rep = rep
            items = session.items
            for i, item in enumerate(items):
                nextitem = items[i + 1] if i + 1 < len(items) else None
                item.config.hook.pytest_runtest_protocol(item=item, nextitem=nextitem)
                if session.shouldfail:
                    raise session.Failed(session.shouldfail)
                if session.shouldstop:
                    raise session.Interrupted(session.shouldstop)
        for spec in self.replay or ():
            texts = self.versions.get(str(spec["path"]), {})
            calls.replay(spec, texts.get("head", ""), texts.get("cand"), self.emit)
        return True

    # --- tests --------------------------------------------------------------------------

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: object) -> Any:
        self.current = {
            "id": item.nodeid,
            "rep": self.rep,
            "phases": {},
            "checks": 0,
            "duration": 0.0,
        }
        if self.cov is not None:
            self.cov.switch_context(item.nodeid)
        if self.children is not None:
            self.children.enter()
        if self.recorder is not None:
            self.recorder.start()
        yield
        if self.recorder is not None:
            self.recorder.stop()
        if self.children is not None:
            self.children.leave(item.nodeid)
        if self.cov is not None:
            self.cov.switch_context("")

    @pytest.hookimpl(hookwrapper=True, trylast=True)
    def pytest_runtest_call(self, item: pytest.Item) -> Any:
        # trylast: the innermost wrapper, so it sees what the test itself raised before any
        # conftest wrapper or report hook could hide it
        self.checks.count, self.checks.in_call = 0, True
        if type(item).__name__ == "DoctestItem":
            self.checks.hit()  # a doctest compares every output it shows: it only passes checked
        raised = False
        try:
            result = yield
            error = getattr(result, "excinfo", None)
            raised = error is not None and not isinstance(error[1], _NOT_FAILURES)
        finally:
            self.checks.in_call = False
            if self.current is not None:
                self.current["checks"] = self.checks.count
                self.current["raised"] = raised

    def pytest_assertion_pass(self, item: pytest.Item, lineno: int, orig: str, expl: str) -> None:
        self.checks.hit()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.current
        if entry is None or entry["id"] != report.nodeid:
            return
        phase: dict[str, Any] = {"outcome": report.outcome}
        if hasattr(report, "wasxfail"):
            phase["xfail"] = True
        if report.failed:
            phase["message"] = _text(report.longreprtext)
        if report.when == "call":
            entry["duration"] = round(report.duration, 6)
        entry["phases"][report.when] = phase

    def pytest_runtest_logfinish(self, nodeid: str, location: object) -> None:
        entry = self.current
        if entry is None or entry["id"] != nodeid:
            return
        if self.rep == 0:
            self.order.append(nodeid)
        self.emit({"t": "test", **entry})
        self.current = None

    # --- the end ------------------------------------------------------------------------

    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        self.emit({"t": "interrupted", "reason": _text(str(excinfo.value) or excinfo.typename)})

    def pytest_internalerror(self, excrepr: object, excinfo: object) -> None:
        self.emit({"t": "interrupted", "reason": "internal error: " + _text(str(excrepr))})

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.cov is not None:
            self.emit({"t": "coverage", **self._coverage()})
        if self.recorder is not None:
            self.emit({"t": "calls", "functions": self.recorder.report()})
        self.emit(
            {
                "t": "finish",
                "exitstatus": int(exitstatus),
                "testsfailed": int(session.testsfailed),
                "testscollected": int(session.testscollected),
                "duration": round(time.monotonic() - self.started, 3),
            }
        )

    def _coverage(self) -> dict[str, Any]:
        self.cov.stop()
        found = self.children.finish() if self.children is not None else None
        return per_test.coverage_record(self.cov, list(self.order), self.root, found)


def _text(value: str) -> str:
    return value[-_MAX_MESSAGE:]


_TEST_DIRS = frozenset({"test", "tests", "testing"})
_SKIPPED_DIRS = frozenset({".git", ".provenfix_probe", "node_modules", ".tox", ".venv", "venv"})


def _test_helper_files(root: str, limit: int = 20000) -> set[str]:
    """Modules under a test folder (helpers such as tests/common.py with their own asserts)."""
    found: set[str] = set()
    seen = 0
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith(".")]
        seen += len(files)
        if seen > limit:
            break
        parts = os.path.relpath(folder, root).split(os.sep)
        if _TEST_DIRS.intersection(parts):
            found.update(os.path.join(folder, f) for f in files if f.endswith(".py"))
    return found


def _looping_links(root: str, limit: int = 20000) -> list[str]:
    """`--ignore` for folder links that loop or leave the tree (one a test made, say):
    pytest follows links to folders while it collects, `dir -> .` forty times over."""
    real_root = os.path.realpath(root)
    ignores: list[str] = []
    for seen, (folder, dirs, _) in enumerate(os.walk(root)):  # os.walk enters no link
        if seen > limit:
            break
        dirs[:] = [d for d in dirs if d not in _SKIPPED_DIRS and not d.startswith(".")]
        links = [p for p in (os.path.join(folder, d) for d in dirs) if os.path.islink(p)]
        for path in links:
            target = os.path.realpath(path)
            if os.path.commonpath([real_root, target]) != real_root or (
                os.path.commonpath([os.path.realpath(folder), target]) == target
            ):
                ignores.append(f"--ignore={path}")
    return ignores


def _rewrite_test_helpers(root: str) -> None:
    """Let pytest rewrite (and so count) the asserts of helper modules in test folders too.

    pytest rewrites only test files, conftest files and registered modules, so a
    suite whose tests call `assert_equal` from tests/common.py would look as if
    it checked nothing. This widens pytest's own choice (internal API; without it
    such tests are just not evidence).
    """
    try:
        from _pytest.assertion import rewrite
    except ImportError:
        return
    helpers = {os.path.realpath(f) for f in _test_helper_files(root)}
    if not helpers:
        return
    names = {os.path.splitext(os.path.basename(f))[0] for f in helpers}
    hook: Any = getattr(rewrite, "AssertionRewritingHook", None)
    should = getattr(hook, "_should_rewrite", None)
    bailout = getattr(hook, "_early_rewrite_bailout", None)
    if should is None or bailout is None:
        return  # another pytest: its own choice of what to rewrite stands

    def should_rewrite(self: Any, name: str, fn: str, state: Any) -> bool:
        return bool(should(self, name, fn, state)) or os.path.realpath(fn) in helpers

    def early_bailout(self: Any, name: str, state: Any) -> bool:
        return name.rsplit(".", 1)[-1] not in names and bool(bailout(self, name, state))

    hook._should_rewrite, hook._early_rewrite_bailout = should_rewrite, early_bailout


def run_step(
    step: dict[str, Any], emit: Channel, root: str, versions: dict[str, dict[str, str]]
) -> int:
    """One pytest session as the plan's step describes it; returns pytest's exit code."""
    _rewrite_test_helpers(root)
    recorder = None
    if step.get("record"):
        recorder = calls.Recorder(step["record"], root, int(step.get("max_calls", 200)))
        recorder.install()
    probe = Probe(
        emit,
        root,
        cover=bool(step.get("cover")),
        recorder=recorder,
        replay=step.get("replay"),
        versions=versions,
        repeats=int(step.get("repeats", 1)),
        replay_only=bool(step.get("replay_only")),
    )
    args = [
        *PYTEST_OPTIONS,
        *_in_process(),
        *_looping_links(root),
        *step.get("pytest_args", []),
        *step.get("tests", []),
    ]
    return int(pytest.main(args, plugins=[probe]))


def _in_process() -> list[str]:
    """Every test in this process, in the order given: the probe sees each one run."""
    options = ["-p", "no:randomly"]  # pytest-randomly would reorder head and candidate apart
    if importlib.util.find_spec("xdist") is not None:
        options += ["-n", "0"]  # overrides a repository's `-n auto`
    return options
