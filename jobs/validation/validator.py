"""The validation protocol: prove candidates against the repository's own tests.

1. A baseline run of the whole suite at head records each test's outcome and
   which tests execute which lines.
2. Each candidate is applied to a copy of head, parse-checked, and judged by
   the tests that execute the lines it replaces (plus, for repairs, the failing
   tests it targets). No covering test means `no_tests`, never `passed`.
3. A test whose outcome changed is re-run (bounded); one that changes its mind
   is flaky and counts neither as a regression nor as a fix.
4. Candidates that touch disjoint lines share one run; a run with any
   regression or unfixed target is split in halves until each candidate's
   verdict comes from runs it can be blamed for, so the verdicts equal those
   of validating one by one.
"""

from __future__ import annotations

import shutil
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jobs.generation.edits import EditError, apply_candidates, parse_error
from jobs.model import Candidate, Validation, ValidationStatus
from jobs.validation.probe import CoverageMap, TestOutcome
from jobs.validation.testrun import TestRun, TestRunner


@dataclass(frozen=True)
class Baseline:
    run: TestRun
    outcomes: Mapping[str, TestOutcome]
    coverage: CoverageMap

    @property
    def failing(self) -> tuple[TestOutcome, ...]:
        return tuple(o for o in self.outcomes.values() if not o.ok)


@dataclass(frozen=True)
class Timing:
    before_s: tuple[float, ...]
    after_s: tuple[float, ...]

    @property
    def median_before(self) -> float:
        return statistics.median(self.before_s)

    @property
    def median_after(self) -> float:
        return statistics.median(self.after_s)

    @property
    def faster(self) -> bool:
        """Every run with the change beat every run without it: a speed-up we may claim."""
        return max(self.after_s) < min(self.before_s)


@dataclass(frozen=True)
class _Verdict:
    outcomes: dict[str, TestOutcome] = field(default_factory=dict)
    duration_s: float = 0.0
    error: str = ""


class Validator:
    def __init__(
        self,
        runner: TestRunner,
        scratch: Path,
        *,
        max_reruns: int = 2,
        combine: bool = True,
        progress: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self._runner = runner
        self._scratch = scratch
        self._max_reruns = max_reruns
        self._combine = combine
        self._progress = progress
        self._trees = 0

    def baseline(self, head_tree: Path) -> Baseline:
        run = self._runner.run(head_tree, None, coverage=True)
        result = run.result
        outcomes = dict(result.tests) if result else {}
        coverage = (result.coverage if result else None) or CoverageMap()
        return Baseline(run=run, outcomes=outcomes, coverage=coverage)

    def validate(
        self,
        head_tree: Path,
        baseline: Baseline,
        candidates: Sequence[Candidate],
        selected: Mapping[str, frozenset[str]],
        targets: Mapping[str, frozenset[str]] | None = None,
    ) -> dict[str, Validation]:
        """A verdict per candidate id.

        `selected`: the tests that judge each candidate (see jobs.validation.selection);
        `targets`: failing tests a repair must make pass.
        """
        targets = targets or {}
        verdicts: dict[str, Validation] = {}
        chosen: dict[str, frozenset[str]] = {}
        runnable: list[Candidate] = []
        for cand in candidates:
            problem = self._static_problem(head_tree, cand)
            if problem:
                verdicts[cand.id] = Validation(status=ValidationStatus.FAILED, detail=problem)
                continue
            if baseline.run.result is None:
                verdicts[cand.id] = Validation(
                    status=ValidationStatus.ERROR,
                    detail=f"the test suite does not run at head: {baseline.run.detail}",
                )
                continue
            wanted = selected.get(cand.id, frozenset()) | targets.get(cand.id, frozenset())
            tests = frozenset(t for t in wanted if t in baseline.outcomes)
            if not tests:
                verdicts[cand.id] = Validation(
                    status=ValidationStatus.NO_TESTS,
                    detail=f"no test executes lines {cand.start_line}-{cand.end_line} "
                    f"of {cand.path} or the function around them",
                )
                continue
            chosen[cand.id] = tests
            runnable.append(cand)
        for batch in self._batches(runnable):
            self._judge(head_tree, baseline, batch, chosen, targets, verdicts)
        return verdicts

    def _static_problem(self, head_tree: Path, cand: Candidate) -> str | None:
        path = head_tree / cand.path
        try:
            text = path.read_text(encoding="utf-8")
            patched = apply_candidates(text, [cand])
        except (OSError, UnicodeDecodeError, EditError) as exc:
            return f"does not apply to head: {exc}"
        return parse_error(cand.path, patched)

    def _batches(self, candidates: Sequence[Candidate]) -> Iterator[list[Candidate]]:
        if not self._combine:
            yield from ([c] for c in candidates)
            return
        batches: list[list[Candidate]] = []
        for cand in candidates:
            home = next((b for b in batches if all(_disjoint(cand, o) for o in b)), None)
            if home is None:
                batches.append([cand])
            else:
                home.append(cand)
        yield from batches

    def _judge(
        self,
        head_tree: Path,
        baseline: Baseline,
        batch: list[Candidate],
        selected: Mapping[str, frozenset[str]],
        targets: Mapping[str, frozenset[str]],
        verdicts: dict[str, Validation],
    ) -> None:
        tests = sorted(frozenset().union(*(selected[c.id] for c in batch)))
        self._progress(f"validate: {len(batch)} candidate(s) against {len(tests)} test(s)")
        verdict = self._run_with(head_tree, batch, tests)
        blame = [
            c
            for c in batch
            if verdict.error
            or _regressions(baseline, verdict, selected[c.id])
            or _unfixed(verdict, targets.get(c.id, frozenset()))
        ]
        if blame and len(batch) > 1:
            half = len(batch) // 2
            self._judge(head_tree, baseline, batch[:half], selected, targets, verdicts)
            self._judge(head_tree, baseline, batch[half:], selected, targets, verdicts)
            return
        for cand in batch:
            verdicts[cand.id] = self._conclude(
                head_tree,
                baseline,
                cand,
                verdict,
                selected[cand.id],
                targets.get(cand.id, frozenset()),
            )

    def _conclude(
        self,
        head_tree: Path,
        baseline: Baseline,
        cand: Candidate,
        verdict: _Verdict,
        tests: frozenset[str],
        target: frozenset[str],
    ) -> Validation:
        if verdict.error:
            return Validation(
                status=ValidationStatus.ERROR,
                tests_selected=len(tests),
                duration_s=round(verdict.duration_s, 3),
                detail=verdict.error,
            )
        regressions = _regressions(baseline, verdict, tests)
        fixed = {t for t in tests if not baseline.outcomes[t].ok and _ok(verdict, t)}
        flaky: set[str] = set()
        if regressions:  # failed with the candidate: does it pass when run again?
            flaky |= self._passes_on_rerun(head_tree, [cand], regressions)
        if fixed:  # failed at head: does head pass it when run again?
            flaky |= self._passes_on_rerun(head_tree, [], fixed)
        regressions -= flaky
        fixed -= flaky
        unfixed = set(target) - fixed - flaky
        run_outcomes = [verdict.outcomes.get(t) for t in tests]
        failed = sum(1 for o in run_outcomes if o is None or not o.ok)
        passed = not regressions and not unfixed
        if passed:
            detail = f"{len(tests)} covering test(s) pass" + (
                f"; fixes {len(fixed)} failing test(s)" if fixed else ""
            )
        elif regressions:
            first = sorted(regressions)[0]
            message = (
                verdict.outcomes[first].message if first in verdict.outcomes else "did not run"
            )
            detail = f"breaks {len(regressions)} test(s), e.g. {first}: {_last_line(message)}"
        else:
            detail = f"does not make the failing test(s) pass: {', '.join(sorted(unfixed))}"
        return Validation(
            status=ValidationStatus.PASSED if passed else ValidationStatus.FAILED,
            tests_selected=len(tests),
            tests_run=sum(1 for o in run_outcomes if o is not None),
            tests_failed=failed,
            new_failures=tuple(sorted(regressions)),
            fixed_tests=tuple(sorted(fixed)),
            flaky_tests=tuple(sorted(flaky)),
            duration_s=round(verdict.duration_s, 3),
            detail=detail,
        )

    def _passes_on_rerun(
        self, head_tree: Path, batch: list[Candidate], tests: set[str]
    ) -> set[str]:
        """Tests that failed on this tree but pass when re-run on it: flaky."""
        flaky: set[str] = set()
        remaining = set(tests)
        for _ in range(self._max_reruns):
            if not remaining:
                break
            rerun = self._run_with(head_tree, batch, sorted(remaining))
            if rerun.error:
                break
            changed = {t for t in remaining if _ok(rerun, t)}
            flaky |= changed
            remaining -= changed
        return flaky

    def time_tests(
        self, head_tree: Path, cand: Candidate, tests: Sequence[str], *, rounds: int = 3
    ) -> Timing | None:
        """Runtime of `tests` without and with `cand`, in interleaved rounds.

        The time is the sum of the tests' call phases as pytest measured them in
        the sandbox, so container start-up does not dilute the difference.
        """
        before: list[float] = []
        after: list[float] = []
        for _ in range(rounds):
            for batch, samples in (([], before), ([cand], after)):
                verdict = self._run_with(head_tree, batch, sorted(tests))
                if verdict.error or not all(_ok(verdict, t) for t in tests):
                    return None
                samples.append(sum(verdict.outcomes[t].duration for t in tests))
        return Timing(tuple(before), tuple(after))

    def _run_with(self, head_tree: Path, batch: list[Candidate], tests: list[str]) -> _Verdict:
        tree = head_tree
        if batch:
            tree = self._scratch / f"tree-{self._trees}"
            self._trees += 1
            shutil.copytree(head_tree, tree, symlinks=True)
            for path in {c.path for c in batch}:
                target = tree / path
                text = target.read_text(encoding="utf-8")
                target.write_text(
                    apply_candidates(text, [c for c in batch if c.path == path]), encoding="utf-8"
                )
        started = time.monotonic()
        try:
            run: TestRun = self._runner.run(tree, tests, coverage=False)
        finally:
            if tree != head_tree:
                shutil.rmtree(tree, ignore_errors=True)
        duration = run.duration_s or (time.monotonic() - started)
        if run.result is None:
            return _Verdict(duration_s=duration, error=run.detail or "the tests produced no result")
        if run.result.collect_errors:
            return _Verdict(duration_s=duration, error=run.detail)
        return _Verdict(
            outcomes=dict(run.result.tests),
            duration_s=duration,
            error=run.detail if run.detail else "",
        )


def _ok(verdict: _Verdict, test: str) -> bool:
    outcome = verdict.outcomes.get(test)
    return outcome is not None and outcome.ok


def _regressions(baseline: Baseline, verdict: _Verdict, tests: frozenset[str]) -> set[str]:
    return {t for t in tests if baseline.outcomes[t].ok and not _ok(verdict, t)}


def _unfixed(verdict: _Verdict, target: frozenset[str]) -> bool:
    return any(not _ok(verdict, t) for t in target)


def _disjoint(a: Candidate, b: Candidate) -> bool:
    return a.path != b.path or a.end_line < b.start_line or b.end_line < a.start_line


def _last_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "failed"
