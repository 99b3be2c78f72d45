"""The validation protocol: prove candidates against the repository's own tests.

1. A baseline session of the whole suite at head records each test's outcome,
   which tests execute which lines, and the calls the tests make into the
   changed functions. A test that ends the session (`pytest.exit`, `os._exit`)
   is left out and the baseline run again, so one rogue test cannot hide the rest.
2. Each candidate is applied to a copy of head and parse-checked. Its proof is
   ONE sandbox run of the selected tests (in the full run's order): once with
   head's version of the changed file laid back (once per selection: it does not
   depend on the candidate), three times with the candidate, once more at head
   when a selected test fails at head, then a replay of the recorded calls
   against head and the candidate (see jobs.validation.replay). Selection must
   not change an outcome:
   a test that behaves otherwise alone than in the full run brings its whole
   module, and a test whose head outcomes still disagree is flaky at head.
3. Only a test whose call phase passed and checked something, in every run with
   the candidate, is evidence. Skips, xfails, xpasses, assertion-free tests and
   tests that failed already are not; a candidate with no evidence is
   `no_tests`, never `passed`. A test that passed at head and fails in any run
   with the candidate is a regression unless it was flaky at head. An invalid
   session (interrupted, killed, counts that do not add up) is an error.
4. Candidates touching disjoint lines and functions share one run; a run with
   any rejected candidate is split in halves until each verdict comes from a run
   its candidate can be blamed for. Optimizations run alone (they are timed).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jobs.generation.edits import EditError, apply_candidates, parse_error
from jobs.model import Candidate, SuggestionKind, Validation, ValidationStatus
from jobs.validation.probe import CoverageMap, RecordedFunction, ReplayResult, TestOutcome
from jobs.validation.replay import ReplayPlan, judge_replay
from jobs.validation.testrun import Plan, RecordTarget, Step, TestRun, TestRunner
from jobs.validation.verdicts import conclude, module_of

REPEATS = 3  # sessions with the candidate; any failure rejects
MAX_ENDING_TESTS = 3  # tests that end the baseline session, left out one by one


@dataclass(frozen=True)
class Baseline:
    run: TestRun
    outcomes: Mapping[str, TestOutcome]
    coverage: CoverageMap
    recorded: tuple[RecordedFunction, ...] = ()
    left_out: tuple[str, ...] = ()  # tests that ended the session, with why

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


@dataclass(frozen=True)
class ProofRun:
    tests: tuple[str, ...]
    head: Mapping[str, TestOutcome]
    runs: tuple[Mapping[str, TestOutcome], ...]  # one per repeat, with the candidate(s)
    head_after: Mapping[str, TestOutcome] = field(default_factory=dict)  # head again, last
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
        progress: Callable[[str], None] = lambda _m: None,
    ) -> None:
        self._runner = runner
        self._scratch = scratch
        self._repeats = max(1, repeats)
        self._combine = combine
        self._progress = progress
        self._trees = 0
        self._head_cache: dict[tuple[str, ...], Mapping[str, TestOutcome]] = {}

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
            self._progress(f"validate: {raw.unfinished[0]} ended the session; left out")
        result = run.result
        return Baseline(
            run=run,
            outcomes=dict(result.tests) if result else {},
            coverage=(result.coverage if result else None) or CoverageMap(),
            recorded=result.recorded if result else (),
            left_out=tuple(left_out),
        )

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
        for batch in self._batches(runnable):
            self._judge(head_tree, baseline, batch, verdicts)
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

    def _judge(
        self,
        head_tree: Path,
        baseline: Baseline,
        batch: list[Case],
        verdicts: dict[str, Validation],
    ) -> None:
        tests = _in_order(baseline, frozenset().union(*(c.tests for c in batch)))
        self._progress(f"validate: {len(batch)} candidate(s) against {len(tests)} test(s)")
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
            self._judge(head_tree, baseline, batch[:half], verdicts)
            self._judge(head_tree, baseline, batch[half:], verdicts)
            return
        verdicts.update(results)

    def _prove(
        self, head_tree: Path, baseline: Baseline, batch: list[Case], tests: tuple[str, ...]
    ) -> ProofRun:
        proof = self._proof_run(head_tree, baseline, batch, tests)
        if proof.error:
            return proof
        moved = {
            t
            for t in tests
            if _differs(baseline.outcomes[t], proof.head.get(t))
            or _differs(baseline.outcomes[t], proof.head_after.get(t))
        }
        if not moved:
            return proof
        # selection changed an outcome: run those tests with their whole modules, in order
        modules = frozenset(module_of(t) for t in moved)
        widened = _in_order(
            baseline, frozenset(tests) | {t for t in baseline.outcomes if module_of(t) in modules}
        )
        if widened == tests:
            return proof  # the modules were whole already: those tests are flaky at head
        self._progress(f"validate: {len(moved)} test(s) behave otherwise alone; whole modules")
        again = self._proof_run(head_tree, baseline, batch, widened)
        return ProofRun(
            again.tests,
            again.head,
            again.runs,
            again.head_after,
            again.replays,
            proof.duration_s + again.duration_s,
            again.error,
            modules,
        )

    def _proof_run(
        self, head_tree: Path, baseline: Baseline, batch: list[Case], tests: tuple[str, ...]
    ) -> ProofRun:
        tree = self._scratch / f"tree-{self._trees}"
        self._trees += 1
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
            # Head alone in this selection and order: cached per selection (it does not
            # depend on the candidate). Head again after the candidate's runs when a selected
            # test fails at head: state a test leaves behind (a marker file) then shows up as
            # head disagreeing with itself, never as a fix.
            cached = self._head_cache.get(tests)
            steps = [] if cached is not None else [Step("head", tests, tree="head")]
            steps += [Step(f"run-{i + 1}", tests) for i in range(self._repeats)]
            again = any(not baseline.outcomes[t].ok for t in tests if t in baseline.outcomes)
            if again:
                steps.append(Step("head-again", tests, tree="head"))
            if specs:
                steps.append(Step("replay", tests, replay=specs))
            plan_run = self._runner.run_plan(tree, Plan(tuple(steps), head_versions))
        finally:
            shutil.rmtree(tree, ignore_errors=True)
        named = [plan_run.step(s.name) for s in steps]
        for step, run in zip(steps, named, strict=True):
            if run.result is None or run.result.collect_errors:
                where = "at head" if step.tree == "head" else f"in {step.name}"
                return ProofRun(
                    tests,
                    {},
                    (),
                    duration_s=plan_run.duration_s,
                    error=f"{run.detail or 'no result'} ({where})",
                )
        results = {s.name: run.result for s, run in zip(steps, named, strict=True) if run.result}
        head = cached if cached is not None else results["head"].tests
        self._head_cache[tests] = head
        return ProofRun(
            tests,
            head,
            tuple(results[f"run-{i + 1}"].tests for i in range(self._repeats)),
            results["head-again"].tests if again else head,
            results["replay"].replays if specs else (),
            plan_run.duration_s,
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
