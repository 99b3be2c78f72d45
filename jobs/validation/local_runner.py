"""Running tests WITHOUT a sandbox, for hosts that have no container engine.

This is the explicit in-runner mode of the GitHub Action (an ephemeral VM
that already holds only this repository) and of `provenfix analyze
--sandbox none`. It is not isolation: the tests run as the current user with
the current Python. Only a scrubbed environment is passed, so the host's
tokens never reach the tests. The driver and its stream are the same as in
the sandbox (jobs.validation.testrun).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from jobs.validation.testrun import (
    Plan,
    PlanRun,
    TestRun,
    collect_plan_run,
    driver_command,
    lay_out_probe,
    run_tests,
)

_KEPT_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT")


class SubprocessTestRunner:
    def __init__(
        self,
        scratch: Path,
        *,
        python: str = sys.executable,
        timeout_s: float = 600.0,
        pytest_args: Sequence[str] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._scratch = scratch
        self._python = python
        self._timeout_s = timeout_s
        self._pytest_args = tuple(pytest_args)
        # what the tests inherit: jobs.config's tool environment, never a credential
        source = environ or {"PATH": os.defpath}
        self._env = {key: source[key] for key in _KEPT_ENV if key in source}
        self._counter = itertools.count()

    def run(self, tree: Path, tests: Sequence[str] | None, *, coverage: bool) -> TestRun:
        return run_tests(self, tree, tests, coverage=coverage)

    def run_plan(self, tree: Path, plan: Plan) -> PlanRun:
        workdir = self._scratch / f"local-{next(self._counter)}"
        shutil.copytree(tree, workdir, symlinks=True, ignore=shutil.ignore_patterns(".git"))
        probe_dir = lay_out_probe(
            workdir, plan, step_timeout_s=self._timeout_s, pytest_args=self._pytest_args
        )
        env = dict(self._env)
        env.update(
            HOME=str(probe_dir),
            PYTHONDONTWRITEBYTECODE="1",
            PYTHONPATH=os.pathsep.join([str(probe_dir), str(workdir)]),
        )
        started = time.monotonic()
        try:
            try:
                proc = subprocess.run(
                    driver_command(self._python),
                    cwd=workdir,
                    env=env,
                    capture_output=True,
                    timeout=self._timeout_s * (len(plan.steps) + 1),
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                stdout = (exc.stdout or b"").decode("utf-8", errors="replace")
                return collect_plan_run(
                    stdout, f"timed out after {exc.timeout:.0f} s", time.monotonic() - started
                )
            trouble = "" if proc.returncode == 0 else f"exit code {proc.returncode}"
            if trouble and proc.stderr.strip():
                tail = proc.stderr.decode("utf-8", errors="replace").strip().splitlines()[-3:]
                trouble += ": " + " | ".join(tail)
            return collect_plan_run(
                proc.stdout.decode("utf-8", errors="replace"), trouble, time.monotonic() - started
            )
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
