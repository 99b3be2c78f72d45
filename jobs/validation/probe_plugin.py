"""pytest plugin that runs INSIDE the sandbox and records what the tests did.

It is copied next to the checkout and loaded with `-p provenfix_probe`, so it
must import nothing from ProvenFix. For every test it records the outcome and
the call-phase duration; with PROVENFIX_PROBE_COVER=1 it also switches the
coverage.py context per test, so the host learns which test executes which
line (test impact selection). The result is one JSON file at
$PROVENFIX_PROBE_OUT, written when the session ends.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

_MAX_MESSAGE = 4000


class _Probe:
    def __init__(self, out: str, root: str, cover: bool) -> None:
        self.out = out
        self.root = os.path.realpath(root)
        self.tests: dict[str, dict[str, Any]] = {}
        self.collect_errors: list[dict[str, str]] = []
        self.started = time.monotonic()
        self.cov: Any = None
        if cover:
            import coverage

            self.cov = coverage.Coverage(
                data_file=None,
                source=[self.root],
                omit=[os.path.join(os.path.dirname(os.path.abspath(__file__)), "*")],
                config_file=False,
            )
            self.cov.start()

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: object) -> Any:
        if self.cov is not None:
            self.cov.switch_context(item.nodeid)
        yield
        if self.cov is not None:
            self.cov.switch_context("")

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.tests.setdefault(report.nodeid, {"outcome": "passed", "duration": 0.0})
        if report.when == "call":
            entry["duration"] = round(report.duration, 6)
        if report.failed:
            # a failure in setup or teardown is an error, in the call a failure
            entry["outcome"] = "failed" if report.when == "call" else "error"
            entry["message"] = report.longreprtext[-_MAX_MESSAGE:]
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collect_errors.append(
                {"nodeid": report.nodeid, "message": report.longreprtext[-_MAX_MESSAGE:]}
            )

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        result: dict[str, Any] = {
            "exitstatus": int(exitstatus),
            "duration": round(time.monotonic() - self.started, 3),
            "tests": self.tests,
            "collect_errors": self.collect_errors,
            "coverage": self._coverage(),
        }
        tmp = self.out + ".part"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(result, handle)
        os.replace(tmp, self.out)

    def _coverage(self) -> dict[str, Any] | None:
        if self.cov is None:
            return None
        self.cov.stop()
        data = self.cov.get_data()
        index = {nodeid: i for i, nodeid in enumerate(self.tests)}
        lines: dict[str, dict[str, list[int]]] = {}
        # lines run outside any test (imports, collection, session fixtures): a
        # change there can affect every test
        outside: dict[str, list[int]] = {}
        for filename in data.measured_files():
            real = os.path.realpath(filename)
            if not real.startswith(self.root + os.sep):
                continue
            rel = os.path.relpath(real, self.root).replace(os.sep, "/")
            per_line: dict[str, list[int]] = {}
            unattributed: list[int] = []
            for lineno, contexts in data.contexts_by_lineno(filename).items():
                tests = sorted(index[c] for c in contexts if c in index)
                if tests:
                    per_line[str(lineno)] = tests
                if any(c not in index for c in contexts):
                    unattributed.append(lineno)
            if per_line:
                lines[rel] = per_line
            if unattributed:
                outside[rel] = sorted(unattributed)
        return {"order": list(self.tests), "lines": lines, "outside": outside}


def pytest_configure(config: pytest.Config) -> None:
    out = os.environ.get("PROVENFIX_PROBE_OUT")
    if out and not hasattr(config, "_provenfix_probe"):
        probe = _Probe(
            out,
            os.environ.get("PROVENFIX_PROBE_ROOT", os.getcwd()),
            os.environ.get("PROVENFIX_PROBE_COVER") == "1",
        )
        config._provenfix_probe = probe  # type: ignore[attr-defined]
        config.pluginmanager.register(probe, "provenfix-probe-instance")
