"""Running a repository's tests on a tree, behind a one-method seam."""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from jobs.sandbox.runner import DockerSandbox
from jobs.sandbox.settings import SANDBOX_GID, SANDBOX_UID, SandboxLimits
from jobs.sandbox.workdir import prepare_workdir, remove_workdir
from jobs.validation.probe import (
    PROBE_DIR,
    PROBE_MODULE,
    RESULT_FILE,
    ProbeResult,
    ProbeResultError,
    read_probe_result,
)

REPO_MOUNT = "/work/repo"  # where the sandbox mounts the work directory


@dataclass(frozen=True)
class TestRun:
    result: ProbeResult | None  # None: the run produced nothing usable
    detail: str  # why there is no result, or what went wrong around the tests
    duration_s: float

    @property
    def usable(self) -> bool:
        return self.result is not None and not self.result.collect_errors


class TestRunner(Protocol):
    def run(self, tree: Path, tests: Sequence[str] | None, *, coverage: bool) -> TestRun:
        """Run `tests` (node ids; None = the whole suite) on a copy of `tree`."""
        ...


class SandboxTestRunner:
    """pytest with the probe plugin, in a hardened container, on a throw-away copy."""

    def __init__(
        self,
        sandbox: DockerSandbox,
        image: str,
        scratch: Path,
        *,
        limits: SandboxLimits | None = None,
        pytest_args: Sequence[str] = (),
    ) -> None:
        self._sandbox = sandbox
        self._image = image
        self._scratch = scratch
        self._limits = limits
        self._pytest_args = tuple(pytest_args)
        self._counter = itertools.count()

    def run(self, tree: Path, tests: Sequence[str] | None, *, coverage: bool) -> TestRun:
        workdir = self._scratch / f"run-{next(self._counter)}"
        prepare_workdir(tree, workdir, exclude={".git", PROBE_DIR})
        probe_dir = workdir / PROBE_DIR
        probe_dir.mkdir()
        source = Path(__file__).with_name("probe_plugin.py")
        (probe_dir / f"{PROBE_MODULE}.py").write_text(source.read_text(encoding="utf-8"))
        _open_to_sandbox(probe_dir)
        command = [
            "python",
            "-m",
            "pytest",
            "-p",
            PROBE_MODULE,
            "-p",
            "no:cacheprovider",
            "-q",
            "--no-header",
            "-rN",
            "--tb=native",  # long tracebacks make many failures slow; the last line is kept
            *self._pytest_args,
            *(tests or ()),
        ]
        env = {
            "PYTHONPATH": f"{REPO_MOUNT}/{PROBE_DIR}",
            "PROVENFIX_PROBE_OUT": f"{REPO_MOUNT}/{PROBE_DIR}/{RESULT_FILE}",
            "PROVENFIX_PROBE_ROOT": REPO_MOUNT,
            "PROVENFIX_PROBE_COVER": "1" if coverage else "0",
        }
        try:
            outcome = self._sandbox.run(self._image, command, workdir, limits=self._limits, env=env)
            try:
                result = read_probe_result(workdir)
            except ProbeResultError as exc:
                tail = (outcome.stdout + outcome.stderr).strip().splitlines()[-5:]
                detail = f"{outcome.reason}; {exc}" + (": " + " | ".join(tail) if tail else "")
                return TestRun(None, detail, outcome.duration_s)
            detail = ""
            if result.collect_errors:
                detail = "collection error: " + result.collect_errors[0].strip().splitlines()[-1]
            elif outcome.timed_out or outcome.oom_killed:
                detail = outcome.reason
            return TestRun(result, detail, outcome.duration_s)
        finally:
            remove_workdir(workdir)


def _open_to_sandbox(directory: Path) -> None:
    for path in (directory, *directory.iterdir()):
        if os.geteuid() == 0:
            os.chown(path, SANDBOX_UID, SANDBOX_GID)
        else:
            path.chmod(0o777 if path.is_dir() else 0o666)
