"""Running a repository's tests on a tree, behind a one-method seam.

A run is a plan of steps executed by the in-sandbox driver in ONE process tree
(one container): pytest sessions on the candidate's tree or with head's
versions of the candidate's files laid back over it, each in a fresh child,
each running its tests one or more times and optionally replaying recorded
calls afterwards. `run_tests` is the one-session convenience.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from provenfix.jobs.sandbox.runner import DockerSandbox
from provenfix.jobs.sandbox.settings import SANDBOX_GID, SANDBOX_UID, SandboxLimits
from provenfix.jobs.sandbox.workdir import prepare_workdir, remove_workdir
from provenfix.jobs.validation.probe import (
    DRIVER_MODULE,
    PLAN_FILE,
    PROBE_DIR,
    SANDBOX_MODULES,
    ProbeResult,
    ProbeResultError,
    parse_stream,
)

REPO_MOUNT = "/work/repo"  # where the sandbox mounts the work directory
MAX_RECORDED_CALLS = 200  # distinct calls kept per changed function
STREAM_CAP_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class RecordTarget:
    """A function whose calls the baseline records: its head lines."""

    path: str
    qualname: str
    line: int
    end: int


@dataclass(frozen=True)
class ReplaySpec:
    path: str
    qualname: str
    module: str
    calls: tuple[Any, ...]  # encoded [args, kwargs] lists
    bench_rounds: int = 0


@dataclass(frozen=True)
class Step:
    name: str
    tests: tuple[str, ...] | None = None  # None: the whole suite
    tree: str = "cand"  # "head": head's versions of the plan's files laid back for this step
    cover: bool = False
    record: tuple[RecordTarget, ...] = ()
    replay: tuple[ReplaySpec, ...] | None = None  # replayed after the runs
    deselect: tuple[str, ...] = ()  # tests left out (they ended an earlier session)
    repeats: int = 1  # runs of the tests in this session
    replay_only: bool = False  # collect `tests` for their imports, run none, replay


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    head_versions: Mapping[str, str] = field(default_factory=dict)  # path -> head text


@dataclass(frozen=True)
class TestRun:
    result: ProbeResult | None  # None: the run produced nothing usable
    detail: str  # why there is no result, or what went wrong around the tests
    duration_s: float

    @property
    def usable(self) -> bool:
        return self.result is not None and not self.result.collect_errors


@dataclass(frozen=True)
class PlanRun:
    steps: Mapping[str, ProbeResult]
    detail: str  # what went wrong around the whole run ("" if nothing)
    duration_s: float

    def step(self, name: str) -> TestRun:
        result = self.steps.get(name)
        if result is None:
            return TestRun(None, self.detail or f"step {name} reported nothing", self.duration_s)
        if result.invalid:
            around = f" ({self.detail})" if self.detail else ""  # a timeout, a retried run
            return TestRun(None, f"invalid run: {result.invalid}{around}", self.duration_s)
        detail = ""
        if result.collect_errors:
            detail = "collection error: " + _last_line(result.collect_errors[0])
        return TestRun(result, detail, self.duration_s)


class TestRunner(Protocol):
    def run_plan(self, tree: Path, plan: Plan) -> PlanRun:
        """Run the plan's steps on a copy of `tree`, in one sandbox run."""
        ...


@runtime_checkable
class ParallelRunner(Protocol):
    """A runner that takes `parallelism` run_plan calls at once, from as many threads."""

    @property
    def parallelism(self) -> int: ...


@runtime_checkable
class ClosingRunner(Protocol):
    """A runner holding something (warm containers) until `close()`."""

    def close(self) -> None: ...


def runner_parallelism(runner: TestRunner) -> int:
    """How many runs `runner` takes at once (1 unless it says more)."""
    return max(1, runner.parallelism) if isinstance(runner, ParallelRunner) else 1


def close_runner(runner: TestRunner) -> None:
    """Release what `runner` holds, if it holds anything."""
    if isinstance(runner, ClosingRunner):
        runner.close()


def run_tests(
    runner: TestRunner, tree: Path, tests: Sequence[str] | None, *, coverage: bool = False
) -> TestRun:
    """One pytest session: `tests` (node ids; None = the whole suite) on a copy of `tree`."""
    step = Step("run", tuple(tests) if tests is not None else None, cover=coverage)
    return runner.run_plan(tree, Plan((step,))).step("run")


def lay_out_probe(
    workdir: Path, plan: Plan, *, step_timeout_s: float, pytest_args: Sequence[str] = ()
) -> Path:
    """Put the driver, its modules, the plan and head's file versions under PROBE_DIR."""
    probe_dir = workdir / PROBE_DIR
    probe_dir.mkdir(exist_ok=True)
    here = Path(__file__).parent
    for source, target in SANDBOX_MODULES.items():
        (probe_dir / target).write_text((here / source).read_text(encoding="utf-8"))
    versions: dict[str, str] = {}
    for index, (path, text) in enumerate(sorted(plan.head_versions.items())):
        head_file = probe_dir / f"head-{index}.py"
        head_file.write_text(text, encoding="utf-8")
        versions[path] = f"{PROBE_DIR}/{head_file.name}"
    (probe_dir / PLAN_FILE).write_text(
        json.dumps(
            {
                "versions": versions,
                "steps": [step_json(s, step_timeout_s, pytest_args) for s in plan.steps],
            }
        ),
        encoding="utf-8",
    )
    return probe_dir


def driver_command(python: str = "python") -> list[str]:
    return [python, "-m", DRIVER_MODULE, f"{PROBE_DIR}/{PLAN_FILE}"]


def step_json(step: Step, timeout_s: float, pytest_args: Sequence[str]) -> dict[str, Any]:
    """A step as the driver (and the warm server) reads it."""
    out: dict[str, Any] = {
        "name": step.name,
        "pytest_args": list(pytest_args),
        "tree": step.tree,
        "cover": step.cover,
        "timeout_s": timeout_s,
        "max_calls": MAX_RECORDED_CALLS,
        "repeats": step.repeats,
        "replay_only": step.replay_only,
    }
    if step.tests is not None:
        out["tests"] = list(step.tests)
    for nodeid in step.deselect:
        out["pytest_args"] += ["--deselect", nodeid]
    if step.record:
        out["record"] = [
            {"path": r.path, "qualname": r.qualname, "line": r.line, "end": r.end}
            for r in step.record
        ]
    if step.replay is not None:
        out["replay"] = [
            {
                "path": r.path,
                "qualname": r.qualname,
                "module": r.module,
                "calls": list(r.calls),
                "bench_rounds": r.bench_rounds,
            }
            for r in step.replay
        ]
    return out


def collect_plan_run(stdout: str, trouble: str, duration_s: float) -> PlanRun:
    """The per-step results of a run, or why there are none (`trouble`: how the run ended)."""
    try:
        steps = parse_stream(stdout)
    except ProbeResultError as exc:
        return PlanRun({}, f"{trouble}; {exc}" if trouble else str(exc), duration_s)
    return PlanRun(steps, trouble, duration_s)


class SandboxTestRunner:
    """The driver as a hardened container's main process, on a throw-away copy of the tree.

    Kept for comparisons only; the pipeline uses jobs.validation.warm_runner (warm, or with
    `reuse=False` a fresh container per run). Here the channel is the container's output,
    which its init holds too: a test can open /proc/1/fd/1, write a whole passing stream
    and kill the driver, and this runner would take it for the result.
    """

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
        base = limits or sandbox.settings.limits
        # the stream carries coverage and recorded calls: more than a console's tail
        self._limits = dataclasses.replace(
            base, output_cap_bytes=max(base.output_cap_bytes, STREAM_CAP_BYTES)
        )
        self._pytest_args = tuple(pytest_args)
        self._counter = itertools.count()

    def run(self, tree: Path, tests: Sequence[str] | None, *, coverage: bool) -> TestRun:
        return run_tests(self, tree, tests, coverage=coverage)

    def run_plan(self, tree: Path, plan: Plan) -> PlanRun:
        workdir = self._scratch / f"run-{next(self._counter)}"
        prepare_workdir(tree, workdir, exclude={".git", PROBE_DIR})
        probe_dir = lay_out_probe(
            workdir, plan, step_timeout_s=self._limits.timeout_s, pytest_args=self._pytest_args
        )
        _open_to_sandbox(probe_dir)
        env = {"PYTHONPATH": f"{REPO_MOUNT}/{PROBE_DIR}"}
        try:
            outcome = self._sandbox.run(
                self._image, driver_command(), workdir, limits=self._limits, env=env
            )
            trouble = "" if outcome.ok else outcome.reason
            if not outcome.ok and outcome.stderr.strip():
                trouble += ": " + " | ".join(outcome.stderr.strip().splitlines()[-3:])
            return collect_plan_run(outcome.stdout, trouble, outcome.duration_s)
        finally:
            remove_workdir(workdir)


def _open_to_sandbox(directory: Path) -> None:
    for path in (directory, *directory.iterdir()):
        if os.geteuid() == 0:
            os.chown(path, SANDBOX_UID, SANDBOX_GID)
        else:
            path.chmod(0o777 if path.is_dir() else 0o666)


def _last_line(message: str) -> str:
    lines = [line for line in message.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "failed"
