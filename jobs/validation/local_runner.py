"""Running tests WITHOUT a sandbox, for hosts that have no container engine.

This is the explicit in-runner mode of the GitHub Action (an ephemeral VM
that already holds only this repository) and of `provenfix analyze
--sandbox none`. It is not isolation: the tests run as the current user with
the current Python. Only a scrubbed environment is passed, so the host's
tokens never reach the tests.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from jobs.validation.probe import (
    PROBE_DIR,
    PROBE_MODULE,
    RESULT_FILE,
    ProbeResultError,
    read_probe_result,
)
from jobs.validation.testrun import TestRun

_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


class SubprocessTestRunner:
    def __init__(
        self,
        scratch: Path,
        *,
        python: str = sys.executable,
        timeout_s: float = 600.0,
        pytest_args: Sequence[str] = (),
    ) -> None:
        self._scratch = scratch
        self._python = python
        self._timeout_s = timeout_s
        self._pytest_args = tuple(pytest_args)
        self._counter = itertools.count()

    def run(self, tree: Path, tests: Sequence[str] | None, *, coverage: bool) -> TestRun:
        workdir = self._scratch / f"local-{next(self._counter)}"
        shutil.copytree(tree, workdir, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        probe_dir = workdir / PROBE_DIR
        probe_dir.mkdir(exist_ok=True)
        source = Path(__file__).with_name("probe_plugin.py")
        (probe_dir / f"{PROBE_MODULE}.py").write_text(source.read_text(encoding="utf-8"))
        env = {key: os.environ[key] for key in _KEPT_ENV if key in os.environ}
        env.update(
            HOME=str(workdir / PROBE_DIR),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONPATH=os.pathsep.join([str(probe_dir), str(workdir)]),
            PROVENFIX_PROBE_OUT=str(probe_dir / RESULT_FILE),
            PROVENFIX_PROBE_ROOT=str(workdir),
            PROVENFIX_PROBE_COVER="1" if coverage else "0",
        )
        command = [
            self._python,
            "-m",
            "pytest",
            "-p",
            PROBE_MODULE,
            "-p",
            "no:cacheprovider",
            "-q",
            "--no-header",
            "-rN",
            "--tb=native",
            *self._pytest_args,
            *(tests or ()),
        ]
        started = time.monotonic()
        try:
            try:
                subprocess.run(
                    command,
                    cwd=workdir,
                    env=env,
                    capture_output=True,
                    timeout=self._timeout_s,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                return TestRun(
                    None, f"timed out after {self._timeout_s:.0f} s", time.monotonic() - started
                )
            duration = time.monotonic() - started
            try:
                result = read_probe_result(workdir)
            except ProbeResultError as exc:
                return TestRun(None, str(exc), duration)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        detail = ""
        if result.collect_errors:
            detail = "collection error: " + result.collect_errors[0].strip().splitlines()[-1]
        return TestRun(result, detail, duration)
