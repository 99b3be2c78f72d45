"""The validation stage as the pipeline sees it: environment, baseline, verdicts."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import docker
import git

from provenfix.jobs.progress import Progress, ProgressEvent, Stage, no_progress
from provenfix.jobs.report import (
    Candidate,
    Finding,
    Skipped,
    SuggestionKind,
    Validation,
    ValidationStatus,
)
from provenfix.jobs.sandbox.env_image import dependency_files, ensure_env_image
from provenfix.jobs.sandbox.errors import EnvironmentInstallError
from provenfix.jobs.sandbox.runner import DockerSandbox
from provenfix.jobs.sandbox.settings import SandboxLimits
from provenfix.jobs.snapshot import Snapshot
from provenfix.jobs.source import SourceFile, UnreadableSource, parse
from provenfix.jobs.tree import export_revision
from provenfix.jobs.validation.failures import failure_findings
from provenfix.jobs.validation.local_runner import SubprocessTestRunner
from provenfix.jobs.validation.probe import CoverageMap
from provenfix.jobs.validation.replay import plan_replay, record_targets
from provenfix.jobs.validation.selection import select_tests
from provenfix.jobs.validation.testrun import TestRunner, close_runner, run_tests
from provenfix.jobs.validation.validator import Baseline, Case, Validator
from provenfix.jobs.validation.warm_runner import WarmTestRunner


class TestEnvironment(Protocol):
    def prepare(self, head_tree: Path, base_tree: Path | None, scratch: Path) -> TestRunner:
        """A runner for head's tests; raises EnvironmentInstallError."""
        ...


class DockerTestEnvironment:
    """Dependencies installed once per fingerprint into an image; tests in hardened containers:
    warm ones that serve every run of the analysis (jobs.validation.warm_runner), or with
    PROVENFIX_SANDBOX_WARM=false a fresh one per run (the same server and channel)."""

    def __init__(
        self,
        sandbox: DockerSandbox,
        *,
        install_command: str | None = None,
        pytest_args: Sequence[str] = (),
        limits: SandboxLimits | None = None,
        progress: Progress = no_progress,
    ) -> None:
        self._sandbox = sandbox
        self._install_command = install_command
        self._pytest_args = tuple(pytest_args)
        self._limits = limits
        self._progress = progress

    def _say(self, stage: Stage, text: str) -> None:
        self._progress(ProgressEvent(stage, text))

    def prepare(self, head_tree: Path, base_tree: Path | None, scratch: Path) -> TestRunner:
        # The install runs the project's own build code. When the change leaves the
        # dependency files alone, install from the trusted base so the shared image
        # is never built by pull-request code; otherwise the image is the head's own.
        client: docker.DockerClient = self._sandbox.client
        same_deps = base_tree is not None and _dependency_files(base_tree) == _dependency_files(
            head_tree
        )
        source = base_tree if same_deps and base_tree is not None else head_tree
        scope = "" if same_deps else f"untrusted:{_tree_digest(head_tree)}"
        self._say(Stage.VALIDATE, "environment image of the test dependencies (built once)")
        image = ensure_env_image(
            client, self._sandbox.settings, source, self._install_command, scope=scope, log=None
        )
        self._say(
            Stage.VALIDATE,
            f"environment image {image.tag} "
            + (f"built in {image.duration_s:.0f} s" if image.built else "reused"),
        )
        scratch.mkdir(parents=True, exist_ok=True)
        warm = self._sandbox.settings.warm
        runner = WarmTestRunner(
            self._sandbox,
            image.tag,
            scratch,
            limits=self._limits,
            pytest_args=self._pytest_args,
            reuse=warm,
        )
        kind = "warm containers, one fork server each" if warm else "a fresh container per run"
        self._say(Stage.VALIDATE, f"sandbox: up to {runner.parallelism} run(s) at once, {kind}")
        return runner


def _dependency_files(tree: Path) -> dict[str, bytes]:
    return {name: (tree / name).read_bytes() for name in dependency_files(tree)}


def _tree_digest(tree: Path) -> str:
    return hashlib.sha256(repr(sorted(_dependency_files(tree).items())).encode()).hexdigest()[:16]


class LocalTestEnvironment:
    """No isolation: the tests run with this Python (see jobs.validation.local_runner)."""

    def __init__(
        self,
        *,
        python: str,
        pytest_args: Sequence[str] = (),
        timeout_s: float = 600,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._python = python
        self._pytest_args = tuple(pytest_args)
        self._timeout_s = timeout_s
        self._environ = environ

    def prepare(self, head_tree: Path, base_tree: Path | None, scratch: Path) -> TestRunner:
        scratch.mkdir(parents=True, exist_ok=True)
        return SubprocessTestRunner(
            scratch,
            python=self._python,
            timeout_s=self._timeout_s,
            pytest_args=self._pytest_args,
            environ=self._environ,
        )


class NoTestEnvironment(Exception):
    """The repository's test environment could not be built; nothing can be proven."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ValidationOutcome:
    verdicts: Mapping[str, Validation]
    failure_findings: tuple[Finding, ...] = ()
    coverage: CoverageMap | None = None
    selected: Mapping[str, frozenset[str]] = field(default_factory=dict)
    skipped: tuple[Skipped, ...] = ()


class ValidationStage:
    def __init__(
        self,
        environment: TestEnvironment,
        *,
        repeats: int = 3,
        progress: Progress = no_progress,
    ) -> None:
        self._environment = environment
        self._repeats = repeats
        self._progress = progress

    def _say(self, stage: Stage, text: str) -> None:
        self._progress(ProgressEvent(stage, text))

    def start(
        self, repo: git.Repo, head_sha: str, base_sha: str, snapshot: Snapshot, scratch: Path
    ) -> BaselineSession:
        """Install, then run the whole suite at head; NoTestEnvironment if install fails."""
        head = export_revision(repo, head_sha, scratch / "head-tree")
        base = export_revision(repo, base_sha, scratch / "base-tree")
        head_tree, base_tree = head.root, base.root
        # The diff stage reports what git lists; anything tar refused beyond that, here.
        reported = {s.path for s in snapshot.skipped}
        left_out = tuple(
            dict.fromkeys(s for s in (*head.left_out, *base.left_out) if s.path not in reported)
        )
        try:
            runner = self._environment.prepare(head_tree, base_tree, scratch / "runs")
        except EnvironmentInstallError as exc:
            raise NoTestEnvironment(f"install failure: {exc}") from None
        try:
            validator = Validator(
                runner, scratch / "trees", repeats=self._repeats, progress=self._progress
            )
            (scratch / "trees").mkdir(parents=True, exist_ok=True)
            self._say(Stage.VALIDATE, "baseline run of the whole test suite at head")
            baseline = validator.baseline(head_tree, record_targets(snapshot))
        except BaseException:
            close_runner(runner)
            raise
        if baseline.run.result is None:
            self._say(Stage.VALIDATE, f"the test suite does not run at head: {baseline.run.detail}")
        return BaselineSession(
            head_tree, base_tree, runner, validator, baseline, snapshot, left_out=left_out
        )


class BaselineSession:
    """The baseline at head, and validation of candidates against it.

    It holds the runner's warm containers until `close()`, which `validate` calls when
    it is done (the analysis' last use); use it as a context manager to close it when
    an analysis ends before that.
    """

    def __init__(
        self,
        head_tree: Path,
        base_tree: Path,
        runner: TestRunner,
        validator: Validator,
        baseline: Baseline,
        snapshot: Snapshot,
        *,
        left_out: tuple[Skipped, ...] = (),
    ) -> None:
        self.baseline = baseline
        self._left_out = left_out
        self._head_tree, self._base_tree = head_tree, base_tree
        self._runner, self._validator = runner, validator
        self._snapshot = snapshot

    def __enter__(self) -> BaselineSession:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the runner's containers (a later run would start new ones)."""
        close_runner(self._runner)

    def failing_test_findings(self) -> list[Finding]:
        return failure_findings(
            self.baseline.failing,
            self._snapshot,
            self.baseline.coverage,
            self._passed_at_base,
            self._test_source,
        )

    def validate(
        self, candidates: Sequence[Candidate], targets: Mapping[str, frozenset[str]]
    ) -> ValidationOutcome:
        """Verdicts of `candidates`; the session is closed afterwards (see the class)."""
        try:
            return self._validate(candidates, targets)
        finally:
            self.close()

    def _validate(
        self, candidates: Sequence[Candidate], targets: Mapping[str, frozenset[str]]
    ) -> ValidationOutcome:
        selected = select_tests(candidates, self._snapshot, self.baseline.coverage)
        cases = [
            Case(
                cand,
                selected.get(cand.id, frozenset()),
                targets.get(cand.id, frozenset()),
                plan_replay(
                    cand,
                    self._snapshot,
                    self.baseline.recorded,
                    preserving=not targets.get(cand.id),
                    bench=cand.kind is SuggestionKind.OPTIMIZATION,
                ),
            )
            for cand in candidates
        ]
        verdicts = self._validator.validate(self._head_tree, self.baseline, cases)
        skipped = [
            *self._left_out,
            *(
                Skipped(test, "this test ended the test session (pytest.exit, os._exit); left out")
                for test in self.baseline.left_out
            ),
        ]
        if self.baseline.run.result is None:
            skipped.append(
                Skipped(
                    "(test suite)",
                    f"the test suite does not run at head, so nothing could be proven: "
                    f"{self.baseline.run.detail}",
                )
            )
        if self.baseline.recording_changed:
            skipped.append(
                Skipped(
                    "(call recording)",
                    f"recording calls changed the outcome of "
                    f"{', '.join(self.baseline.recording_changed[:3])}; no call was replayed",
                )
            )
        return ValidationOutcome(
            verdicts=verdicts,
            coverage=self.baseline.coverage,
            selected=selected,
            skipped=tuple(skipped),
        )

    def _passed_at_base(self, nodeids: list[str]) -> set[str]:
        run = run_tests(self._runner, self._base_tree, nodeids)
        if run.result is None:
            return set()
        return {n for n, outcome in run.result.tests.items() if outcome.outcome == "passed"}

    def _test_source(self, path: str) -> SourceFile | None:
        try:
            return parse(path, (self._head_tree / path).read_bytes())
        except (OSError, UnreadableSource):
            return None


def not_validated(candidates: Sequence[Candidate], reason: str) -> dict[str, Validation]:
    return {c.id: Validation(status=ValidationStatus.NOT_RUN, detail=reason) for c in candidates}
