"""The validation protocol: prove candidates against the repository's own tests.

1. A baseline session of the whole suite at head records each test's outcome,
   which tests execute which lines, and the calls the tests make into the
   changed functions. A test that ends the session (`pytest.exit`, `os._exit`)
   is left out and the baseline run again, so one rogue test cannot hide the rest.
2. Each candidate is applied to a copy of head and parse-checked. Its proof is
   ONE sandbox run: a pytest session that runs the selected tests (in the full
   run's order) three times with the candidate and then replays the recorded
   calls against head and the candidate (see jobs.validation.replay); before it,
   where the full run cannot stand in for head (the selection splits a module,
   or holds a test that failed), the same session at head. Selection must not
   change an outcome: a test that behaves otherwise at head in the selection
   than in the full run brings its whole module, and a test whose head runs
   still disagree is flaky at head.
3. Only a test whose call phase passed and checked something, in every run with
   the candidate, is evidence. Skips, xfails, xpasses, assertion-free tests and
   tests that failed already are not; a candidate with no evidence is
   `no_tests`, never `passed`. A test that passed at head and fails in any run
   with the candidate is a regression unless it was flaky at head. An invalid
   session (interrupted, killed, counts that do not add up) is an error.
4. Candidates touching disjoint lines and functions share one run; a run with
   any rejected candidate is split in halves until each verdict comes from a run
   its candidate can be blamed for. Optimizations run alone (they are timed).
5. Runs that do not depend on each other (batches, and the halves of a split
   batch) go to the runner at once, as many as it takes (`runner_parallelism`:
   the warm sandbox's containers); every verdict comes from its own batch's
   run alone, so the verdicts are those of one run after another.
"""

from __future__ import annotations

import itertools
import shutil
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from pathlib import Path

from provenfix.jobs.generation.edits import EditError, apply_candidates, parse_error
from provenfix.jobs.progress import Progress, ProgressEvent, Stage, no_progress
from provenfix.jobs.report import Candidate, SuggestionKind, Validation, ValidationStatus
from provenfix.jobs.validation.probe import (
    CoverageMap,
    ProbeResult,
    RecordedFunction,
    ReplayResult,
    TestOutcome,
)
from provenfix.jobs.validation.replay import ReplayPlan, judge_replay
from provenfix.jobs.validation.testrun import (
    Plan,
    RecordTarget,
    Step,
    TestRun,
    TestRunner,
    run_tests,
    runner_parallelism,
)
from provenfix.jobs.validation.verdicts import conclude, module_of

REPEATS = 3  # sessions with the candidate; any failure rejects
MAX_ENDING_TESTS = 3  # tests that end the baseline session, left out one by one


@dataclass(frozen=True)
class Baseline:
    run: TestRun
    outcomes: Mapping[str, TestOutcome]
    coverage: CoverageMap
    recorded: tuple[RecordedFunction, ...] = ()
    left_out: tuple[str, ...] = ()  # tests that ended the session, with why
    recording_changed: tuple[str, ...] = ()  # tests that failed only with calls recorded

    @property
    def failing(self) -> tuple[TestOutcome, ...]:
        return tuple(o for o in self.outcomes.values() if not o.ok)


@dataclass(frozen=True)
class Case:
    """One candidate and what judges it."""

    candidate: Candidate
    tests: frozenset[str]  # selected (see jobs.validation.selection)
    targets: frozenset[str] = frozenset()  # failing tests a repair must make pass
    replay: ReplayPlan | None = None

    @property
    def preserving(self) -> bool:
        """Must behave as head does on every call (everything that is not a test repair)."""
        return not self.targets


_Judged = tuple[dict[str, "Validation"], tuple[list[Case], ...]]


@dataclass(frozen=True)
class ProofRun:
    tests: tuple[str, ...]
    head: tuple[Mapping[str, TestOutcome], ...]  # head's runs in this selection; () = not run
    runs: tuple[Mapping[str, TestOutcome], ...]  # the candidate's runs, in one session
    replays: tuple[ReplayResult, ...] = ()
    duration_s: float = 0.0
    error: str = ""
    widened: frozenset[str] = field(default_factory=frozenset)  # modules run whole


class Validator:
    def __init__(
        self,
        runner: TestRunner,
        scratch: Path,
        *,
        repeats: int = REPEATS,
        combine: bool = True,
        progress: Progress = no_progress,
        parallel: int | None = None,
    ) -> None:
        self._runner = runner
        self._scratch = scratch
        self._repeats = max(1, repeats)
        self._combine = combine
        self._progress = progress
        # runs at once: the runner's own count unless told (1: one after another)
        self._parallel = max(1, parallel or runner_parallelism(runner))
        self._trees = itertools.count()
        self._said = threading.Lock()
        self._head_cache: dict[tuple[str, ...], tuple[Mapping[str, TestOutcome], ...]] = {}

    def _say(self, stage: Stage, text: str) -> None:
        with self._said:  # runs proceed at once; their lines one at a time
            self._progress(ProgressEvent(stage, text))

    def baseline(self, head_tree: Path, record: Sequence[RecordTarget] = ()) -> Baseline:
        left_out: list[str] = []
        for _ in range(MAX_ENDING_TESTS + 1):
            step = Step(
                "baseline", None, cover=True, record=tuple(record), deselect=tuple(left_out)
            )
            plan_run = self._runner.run_plan(head_tree, Plan((step,)))
            run = plan_run.step("baseline")
            raw = plan_run.steps.get("baseline")
            if run.result is not None or raw is None or not raw.unfinished:
                break
            left_out.append(raw.unfinished[0])  # the test that was running when it ended
            self._say(Stage.VALIDATE, f"{raw.unfinished[0]} ended the session; left out")
        result = run.result
        outcomes = dict(result.tests) if result else {}
        recorded = result.recorded if result else ()
        unrecorded = self._without_recording(head_tree, outcomes) if recorded else {}
        if unrecorded:
            # the recording wrappers changed what a test sees (a function that inspects its
            # caller): trust the plain run, and replay nothing in this analysis
            self._say(
                Stage.VALIDATE,
                f"recording calls changed the outcome of {len(unrecorded)} test(s); "
                "replay is off for this analysis",
            )
            outcomes.update(unrecorded)
            recorded = ()
        return Baseline(
            run=run,
            outcomes=outcomes,
            coverage=(result.coverage if result else None) or CoverageMap(),
            recorded=recorded,
            left_out=tuple(left_out),
            recording_changed=tuple(sorted(unrecorded)),
        )

    def _without_recording(
        self, head_tree: Path, outcomes: Mapping[str, TestOutcome]
    ) -> dict[str, TestOutcome]:
        """The failing tests that pass when run without the recording wrappers."""
        failing = [t for t, o in outcomes.items() if not o.ok]
        if not failing:
            return {}
        again = run_tests(self._runner, head_tree, failing)
        if again.result is None:
            return {}
        return {t: o for t, o in again.result.tests.items() if t in outcomes and o.ok}

    def validate(
        self, head_tree: Path, baseline: Baseline, cases: Sequence[Case]
    ) -> dict[str, Validation]:
        verdicts: dict[str, Validation] = {}
        runnable: list[Case] = []
        for case in cases:
            cand = case.candidate
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
            tests = frozenset(t for t in case.tests | case.targets if t in baseline.outcomes)
            if not tests:
                verdicts[cand.id] = Validation(
                    status=ValidationStatus.NO_TESTS,
                    detail=f"unproven: no test executes lines {cand.start_line}-{cand.end_line} "
                    f"of {cand.path} or the function around them",
                )
                continue
            runnable.append(Case(cand, tests, case.targets, case.replay))
        judged = self._judge_all(head_tree, baseline, list(self._batches(runnable)))
        verdicts.update((case.candidate.id, judged[case.candidate.id]) for case in runnable)
        return verdicts

    def _static_problem(self, head_tree: Path, cand: Candidate) -> str | None:
        path = head_tree / cand.path
        try:
            text = path.read_text(encoding="utf-8")
            patched = apply_candidates(text, [cand])
        except (OSError, UnicodeDecodeError, EditError) as exc:
            return f"does not apply to head: {exc}"
        return parse_error(cand.path, patched)

    def _batches(self, cases: Sequence[Case]) -> Iterator[list[Case]]:
        if not self._combine:
            yield from ([c] for c in cases)
            return
        batches: list[list[Case]] = []
        for case in cases:
            if case.candidate.kind is SuggestionKind.OPTIMIZATION:
                batches.append([case])  # timed: alone
                continue
            home = next(
                (
                    b
                    for b in batches
                    if b[0].candidate.kind is not SuggestionKind.OPTIMIZATION
                    and all(_disjoint(case, other) for other in b)
                ),
                None,
            )
            if home is None:
                batches.append([case])
            else:
                home.append(case)
        yield from batches

    def _judge_all(
        self, head_tree: Path, baseline: Baseline, batches: list[list[Case]]
    ) -> dict[str, Validation]:
        """Every batch's verdicts, split batches' halves judged in turn; up to `_parallel`
        runs at once."""
        verdicts: dict[str, Validation] = {}
        if self._parallel <= 1 or not batches:
            pending = list(reversed(batches))
            while pending:
                results, halves = self._judge(head_tree, baseline, pending.pop())
                verdicts.update(results)
                pending.extend(reversed(halves))
            return verdicts
        with ThreadPoolExecutor(self._parallel, thread_name_prefix="validate") as pool:
            running: set[Future[_Judged]] = {
                pool.submit(self._judge, head_tree, baseline, batch) for batch in batches
            }
            while running:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    results, halves = future.result()
                    verdicts.update(results)
                    running |= {pool.submit(self._judge, head_tree, baseline, h) for h in halves}
        return verdicts

    def _judge(self, head_tree: Path, baseline: Baseline, batch: list[Case]) -> _Judged:
        """The batch's verdicts, or (a candidate rejected in a shared run) its two halves."""
        tests = _in_order(baseline, frozenset().union(*(c.tests for c in batch)))
        self._say(Stage.VALIDATE, f"{len(batch)} candidate(s) against {len(tests)} test(s)")
        proof = self._prove(head_tree, baseline, batch, tests)
        results = {
            case.candidate.id: conclude(
                case,
                baseline,
                proof,
                judge_replay(case.replay, proof.replays, preserving=case.preserving)
                if case.replay is not None and not proof.error
                else None,
            )
            for case in batch
        }
        rejected = any(v.status is not ValidationStatus.PASSED for v in results.values())
        if rejected and len(batch) > 1:
            half = len(batch) // 2
            return {}, (batch[:half], batch[half:])
        return results, ()

    def _prove(
        self, head_tree: Path, baseline: Baseline, batch: list[Case], tests: tuple[str, ...]
    ) -> ProofRun:
        proof = self._proof_run(head_tree, baseline, batch, tests)
        if proof.error:
            return proof
        moved = {t for t in tests for h in proof.head if _differs(baseline.outcomes[t], h.get(t))}
        if moved:
            # selection changed an outcome: those tests with their whole modules, in order
            modules = frozenset(module_of(t) for t in moved)
            widened = _in_order(
                baseline,
                frozenset(tests) | {t for t in baseline.outcomes if module_of(t) in modules},
            )
            if widened == tests:
                return proof  # the modules were whole already: those tests are flaky at head
            self._say(Stage.VALIDATE, f"{len(moved)} test(s) behave otherwise alone; whole modules")
            again = self._proof_run(head_tree, baseline, batch, widened)
            return replace(again, duration_s=proof.duration_s + again.duration_s, widened=modules)
        if proof.head or not _disagrees(proof):
            return proof
        # the candidate's runs disagree among themselves: is head the same (state, flakiness)?
        head, seconds, error = self._head_runs(head_tree, tests)
        return replace(proof, head=head, duration_s=proof.duration_s + seconds, error=error)

    def _proof_run(
        self, head_tree: Path, baseline: Baseline, batch: list[Case], tests: tuple[str, ...]
    ) -> ProofRun:
        tree = self._scratch / f"tree-{next(self._trees)}"
        shutil.copytree(head_tree, tree, symlinks=True)
        head_versions: dict[str, str] = {}
        try:
            for path in sorted({c.candidate.path for c in batch}):
                target = tree / path
                text = target.read_text(encoding="utf-8")
                head_versions[path] = text
                mine = [c.candidate for c in batch if c.candidate.path == path]
                target.write_text(apply_candidates(text, mine), encoding="utf-8")
            specs = tuple(s for c in batch if c.replay is not None for s in c.replay.specs)
            # Head in this selection and order, only where the full run cannot stand in for it:
            # a selection that splits a module (order dependence) or holds a test that failed
            # (a fix is claimed against head's own runs). Cached per selection.
            cached = self._head_cache.get(tests)
            steps: list[Step] = []
            if cached is None and _needs_head(baseline, tests):
                steps.append(Step("head", tests, tree="head", repeats=self._repeats))
            steps.append(Step("candidate", tests, repeats=self._repeats, replay=specs or None))
            plan_run = self._runner.run_plan(tree, Plan(tuple(steps), head_versions))
        finally:
            shutil.rmtree(tree, ignore_errors=True)
        results: dict[str, ProbeResult] = {}
        for step in steps:
            run = plan_run.step(step.name)
            problem = _unusable(run, self._repeats)
            if problem or run.result is None:
                where = "at head" if step.tree == "head" else "with the candidate"
                return ProofRun(
                    tests, (), (), duration_s=plan_run.duration_s, error=f"{problem} ({where})"
                )
            results[step.name] = run.result
        if "head" in results:
            self._head_cache[tests] = results["head"].reps
        head = self._head_cache.get(tests, ())
        candidate = results["candidate"]
        return ProofRun(
            tests, head, candidate.reps, candidate.replays if specs else (), plan_run.duration_s
        )

    def _head_runs(
        self, head_tree: Path, tests: tuple[str, ...]
    ) -> tuple[tuple[Mapping[str, TestOutcome], ...], float, str]:
        plan_run = self._runner.run_plan(
            head_tree, Plan((Step("head", tests, repeats=self._repeats),))
        )
        run = plan_run.step("head")
        problem = _unusable(run, self._repeats)
        if problem or run.result is None:
            return (), plan_run.duration_s, f"{problem} (at head)"
        self._head_cache[tests] = run.result.reps
        return run.result.reps, plan_run.duration_s, ""


def _unusable(run: TestRun, repeats: int) -> str:
    if run.result is None or run.result.collect_errors:
        return run.detail or "no result"
    if len(run.result.reps) != repeats and run.result.collected:
        return f"invalid run: {len(run.result.reps)} of {repeats} runs reported"
    return ""


def _needs_head(baseline: Baseline, tests: tuple[str, ...]) -> bool:
    chosen = set(tests)
    modules = {module_of(t) for t in tests}
    split = any(module_of(t) in modules and t not in chosen for t in baseline.outcomes)
    failing = any(not baseline.outcomes[t].ok for t in tests if t in baseline.outcomes)
    return split or failing


def _disagrees(proof: ProofRun) -> bool:
    return any(
        len({run.get(t) is not None and run[t].ok for run in proof.runs}) > 1 for t in proof.tests
    )


def _in_order(baseline: Baseline, tests: frozenset[str]) -> tuple[str, ...]:
    """`tests` in the order the full run ran them (an order-dependent test keeps its context)."""
    order = baseline.coverage.order or tuple(baseline.outcomes)
    rank = {t: i for i, t in enumerate(order)}
    return tuple(sorted(tests, key=lambda t: (rank.get(t, len(rank)), t)))


def _differs(full: TestOutcome, alone: TestOutcome | None) -> bool:
    return alone is None or full.ok != alone.ok or full.genuine != alone.genuine


def _disjoint(a: Case, b: Case) -> bool:
    ca, cb = a.candidate, b.candidate
    if ca.path == cb.path and not (ca.end_line < cb.start_line or cb.end_line < ca.start_line):
        return False
    names_a = set(a.replay.recorded) if a.replay else set()
    names_b = set(b.replay.recorded) if b.replay else set()
    return ca.path != cb.path or not names_a & names_b
