"""What proving candidates costs next to the whole test suite, on real libraries (issue 17).

Real libraries whose whole suite takes 3-30 s in the sandbox, fetched as sdists from
PyPI (their tests ship in the sdist), each replayed as a git repository whose `main`
is the release tree. The runner is the pipeline's own: what
`DockerTestEnvironment(...).prepare(head, base, scratch)` returns (the environment
image is built once per dependency fingerprint, then reused). Per library:

  full       the whole suite through that runner, no coverage, 5 times spread over
             the proofs (median): what proving a candidate would cost without test
             selection. Its median must lie in the 3-30 s window.
  floor      one trivial test through the runner: no proof can cost less
  survey     the whole suite with per-test coverage: picks the candidates
  candidates N covered functions (seeded choice), each with
               refactor      `return EXPR` through a temporary variable (a smell fix:
                             harmless, the verdict must be `passed`)
               optimization  the same edit proposed as an optimization: its proof
                             also runs the micro-benchmark (`passed`, and no claimed
                             speed-up)
               mutation      a comparison or +/- operator flipped on a covered line,
                             kept only if a full-suite run with it fails a test that
                             passes at the release (unmeasured, --tb=line); proposed
                             against the release, its verdict must be `failed`: a
                             `passed` one is a failure the full suite sees and the
                             proof missed
             and R repairs: a head holding R of those mutations (disjoint failures),
             each candidate restoring one original line, with the tests its mutation
             breaks as the failing tests it must fix (the verdict must be `passed`)
  proofs     each candidate alone: one Validator.validate call with its one Case,
             built as BaselineSession.validate builds them (select_tests,
             plan_replay), against the pipeline's baseline of its head (coverage
             and call recording); a fresh Validator each, so no head run is shared.
             Its wall time over the median full run is the candidate's ratio.
  together   all the cases of one head in ONE Validator.validate call, as the
             pipeline proves a change's candidates (batches, splits, the runner's
             parallel runs), before and after the one-by-one proofs (mean), over the
             sum of the same cases proven one by one; verdicts that differ are named.
  analysis   benchmarks/analyze_vs_semgrep.py on the library's previous release ->
             this one (fewer rounds): `provenfix analyze --no-validate` (candidates
             generated, not validated) over a bare semgrep run of the same rules.

Goals: proof/full median <= 0.25x on every library, 0 mutations missed, analysis
<= 1.10x bare semgrep. Downloads, repositories and scratch folders live in
benchmarks/.work/ (git-ignored).

    .venv/bin/python benchmarks/validation_speed.py [--package boltons==26.2.0,26.1.0 ...]
        [--functions 4] [--repairs 3] [--seed 1] [--full-runs 5] [--analysis-rounds 3]
        [--pytest-arg=--tb=native]

Exit status 0 whether the goals are met or not (the output says PASS or FAIL);
2 when the benchmark itself could not run (no Docker engine, install failure).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tarfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import analyze_vs_semgrep
import sdists
import validation_edits as edits
from sdists import BenchmarkError, git, say

from provenfix.jobs.diff import open_repo
from provenfix.jobs.errors import ProvenFixError
from provenfix.jobs.progress import ProgressEvent
from provenfix.jobs.report import Candidate, SuggestionKind, Validation
from provenfix.jobs.sandbox.runner import DockerSandbox, sandbox_from_env
from provenfix.jobs.sandbox.workdir import remove_workdir
from provenfix.jobs.snapshot import Snapshot
from provenfix.jobs.tree import export_tree
from provenfix.jobs.validation.probe import CoverageMap
from provenfix.jobs.validation.replay import plan_replay, record_targets
from provenfix.jobs.validation.selection import select_tests
from provenfix.jobs.validation.stage import DockerTestEnvironment
from provenfix.jobs.validation.testrun import TestRunner, run_tests
from provenfix.jobs.validation.validator import Baseline, Case, Validator

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "validation"
# NAME==VERSION,PREVIOUS: the release proven, and the one before it (for the analysis ratio)
DEFAULT_PACKAGES = (
    "boltons==26.2.0,26.1.0",
    "more-itertools==10.5.0,10.4.0",
    "jinja2==3.1.6,3.1.5",
)
# As a repository's `install_command` would: jinja2's requirements/dev.txt installs Sphinx,
# which installs jinja2 from PyPI over the editable install, and the tests would then run
# that copy, not the repository's.
INSTALL_COMMANDS = {"jinja2": "pip install -e . -r requirements/tests.txt"}
TARGET_RATIO = 0.25  # median proof of one candidate / one full-suite run, on every library
TARGET_MISSES = 0
TARGET_ANALYSIS = analyze_vs_semgrep.TARGET_RATIO
SUITE_WINDOW_S = (3.0, 30.0)
SPEED_CLAIM = 1.1  # a speed-up is claimed when its interval's lower bound reaches this
FULL_RUNS = 5
FLOOR_RUNS = 3
ANALYSIS_ROUNDS = 3
MUTATION_TRIES = 2  # mutation sites tried per function before moving on
KINDS = ("refactor", "optimization", "mutation", "repair")


# --- the repository: an sdist from PyPI, committed as `main` ----------------------------


def build_repo(name: str, version: str) -> Path:
    """benchmarks/.work/validation/NAME-VERSION/repo: a git repository, main = the release."""
    repo = WORK / f"{name}-{version}" / "repo"
    if (repo / ".git").is_dir():
        try:
            git(repo, "rev-parse", "--verify", "--quiet", "main^{commit}")
            return repo
        except BenchmarkError:
            shutil.rmtree(repo)
    elif repo.exists():
        shutil.rmtree(repo)
    sdist = sdists.fetch_sdist(WORK / "sdists", name, version)
    repo.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        members = tar.getmembers()
        tops = {m.name.split("/", 1)[0] for m in members}
        if len(tops) != 1:
            raise BenchmarkError(f"{sdist.name}: expected one top-level folder, found {tops}")
        top = tops.pop()
        for member in members:
            member.name = member.name[len(top) :].lstrip("/")
            if member.islnk():  # hard links name their target by its path in the archive
                member.linkname = member.linkname[len(top) :].lstrip("/")
        tar.extractall(repo, members=[m for m in members if m.name], filter="data")
    git(repo, "init", "--quiet", "--initial-branch=main")
    git(repo, "add", "--all", "--force")
    git(repo, "commit", "--quiet", "--no-verify", "-m", f"{name} {version}")
    return repo


def close_runner(runner: TestRunner) -> None:
    """Stops what the runner holds (a warm runner's containers), if anything."""
    close = getattr(runner, "close", None)
    if callable(close):
        close()


def describe_runner(runner: TestRunner) -> str:
    parallel = getattr(runner, "parallelism", 1)
    return f"{type(runner).__name__} ({parallel} run(s) at once)"


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> str:
    """`median x (min, max, n)`"""
    if not values:
        return "n/a (n=0)"
    return f"{median(values):.2f}x (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Chosen:
    """A covered function and its edits against the release."""

    function: str  # path::qualname
    refactor: Candidate
    mutation: Candidate
    failures: frozenset[str]  # tests passing at the release that fail with the mutation


@dataclass(frozen=True)
class Proof:
    function: str
    kind: str  # refactor | optimization | mutation | repair
    what: str
    selected: int  # tests the proof runs (selection and targets)
    seconds: float  # one Validator.validate call holding this case alone
    status: str
    detail: str = ""
    replayed: int = 0  # recorded calls replayed on both sides
    generated: int = 0  # hypothesis inputs replayed
    changed: int = 0  # calls whose behaviour differed between head and the candidate
    speedup: str = ""  # optimization: the micro-benchmark's interval
    false_claim: bool = False  # optimization: claims a speed-up it cannot have
    full_failures: int = 0  # mutation, repair: tests the full suite fails with the mutation
    unselected: tuple[str, ...] = ()  # ... of which the proof did not run

    @property
    def expected(self) -> bool:
        return self.status == ("failed" if self.kind == "mutation" else "passed")


@dataclass(frozen=True)
class Together:
    """The cases of one head proven in one validate call, against one by one."""

    head: str  # "release" | "with N mutations"
    cases: int
    seconds: tuple[float, ...]  # each together run
    alone_s: float  # the one-by-one proofs of the same cases, summed
    disagreements: tuple[str, ...]  # candidates whose verdict differs from their own proof

    @property
    def ratio(self) -> float:
        return statistics.mean(self.seconds) / self.alone_s if self.alone_s else float("nan")


@dataclass
class LibraryResult:
    name: str
    version: str
    previous: str | None
    runner: str = ""
    image_note: str = ""
    tests: int = 0
    full_s: list[float] = field(default_factory=list)
    floor_s: list[float] = field(default_factory=list)
    survey_s: float = 0.0
    baselines: dict[str, float] = field(default_factory=dict)  # head -> seconds
    proofs: list[Proof] = field(default_factory=list)
    together: list[Together] = field(default_factory=list)
    survivors: int = 0  # mutations the full suite did not detect (not used)
    import_breakers: int = 0  # mutations that broke collection (not used)
    repairs_left_out: list[str] = field(default_factory=list)
    analysis: analyze_vs_semgrep.Comparison | None = None
    analysis_note: str = ""
    seconds: float = 0.0

    @property
    def full_median_s(self) -> float:
        return median(self.full_s)

    def ratios(self, kind: str | None = None) -> list[float]:
        full = self.full_median_s
        return [p.seconds / full for p in self.proofs if kind is None or p.kind == kind]

    @property
    def in_window(self) -> bool:
        return SUITE_WINDOW_S[0] <= self.full_median_s <= SUITE_WINDOW_S[1]

    @property
    def misses(self) -> list[Proof]:
        return [p for p in self.proofs if p.kind == "mutation" and p.status != "failed"]


@dataclass(frozen=True)
class Options:
    functions: int = 4  # per library
    repairs: int = 3  # per library
    seed: int = 1  # which functions and mutation sites
    full_runs: int = FULL_RUNS
    analysis_rounds: int = ANALYSIS_ROUNDS
    pytest_args: tuple[str, ...] = ()  # what a repository config's pytest_args would add


# --- one library -----------------------------------------------------------------------


@dataclass(frozen=True)
class Head:
    """A head tree, the pipeline's baseline of it, and its candidates as Cases."""

    name: str
    tree: Path
    baseline: Baseline
    cases: tuple[Case, ...]
    labels: dict[str, tuple[str, str, frozenset[str]]]  # id -> function, kind, full failures


class LibraryBench:
    def __init__(
        self, sandbox: DockerSandbox, name: str, version: str, previous: str | None, opts: Options
    ) -> None:
        self.sandbox = sandbox
        self.options = opts
        self.result = LibraryResult(name, version, previous)
        self.scratch = WORK / f"{name}-{version}" / "scratch"
        self._validators = 0

    def run(self) -> LibraryResult:
        started = time.perf_counter()
        res = self.result
        repo_path = build_repo(res.name, res.version)
        if self.scratch.exists():
            remove_workdir(self.scratch)
        self.scratch.mkdir(parents=True)
        repo = open_repo(repo_path)
        head_tree = export_tree(repo, repo.commit("main").hexsha, self.scratch / "head-tree")
        args = self.options.pytest_args
        install = INSTALL_COMMANDS.get(res.name)
        runner = DockerTestEnvironment(
            self.sandbox, install_command=install, pytest_args=args, progress=self._progress
        ).prepare(head_tree, head_tree, self.scratch / "runs")
        # Whether the full suite detects a mutation is not measured: one-line tracebacks
        # make those runs several times faster when many tests fail.
        truth = DockerTestEnvironment(
            self.sandbox, install_command=install, pytest_args=(*args, "--tb=line")
        ).prepare(head_tree, head_tree, self.scratch / "truth")
        res.runner = describe_runner(runner)
        try:
            self.runner, self.truth = runner, truth
            self._measure(head_tree)
        finally:
            close_runner(runner)
            close_runner(truth)
        remove_workdir(self.scratch)
        if res.previous:
            self._analysis()
        res.seconds = time.perf_counter() - started
        return res

    def _progress(self, event: ProgressEvent) -> None:
        if "environment image" in event.text:
            self.result.image_note = event.text
        if "candidate(s) against" not in event.text:  # one per proof: noise
            say(f"[{self.result.name}] {event.text}")

    def _validator(self) -> Validator:
        """A fresh one: no head run cached by an earlier proof."""
        self._validators += 1
        trees = self.scratch / "trees" / str(self._validators)
        trees.mkdir(parents=True)
        return Validator(self.runner, trees, progress=self._progress)

    def _measure(self, head_tree: Path) -> None:
        res = self.result
        self._floor()
        say(f"[{res.name}] survey: the whole suite with per-test coverage")
        started = time.perf_counter()
        survey = self._validator().baseline(head_tree)
        res.survey_s = time.perf_counter() - started
        if survey.run.result is None or survey.run.result.collect_errors:
            raise BenchmarkError(f"{res.name}: the suite does not run: {survey.run.detail}")
        passing = frozenset(t for t, o in survey.outcomes.items() if o.ok)
        res.tests = len(survey.outcomes)
        chosen = self._choose(head_tree, survey.coverage, passing)
        self._full_run(head_tree)
        heads = [self._release_head(head_tree, chosen)]
        buggy = self._buggy_head(head_tree, chosen)
        if buggy is not None:
            heads.append(buggy)
        self._prove(heads, head_tree)
        while len(res.full_s) < self.options.full_runs:
            self._full_run(head_tree)

    def _floor(self) -> None:
        tiny = self.scratch / "floor-src"
        tiny.mkdir()
        (tiny / "test_floor.py").write_text("def test_nothing():\n    pass\n", encoding="utf-8")
        for _ in range(FLOOR_RUNS):
            started = time.perf_counter()
            run = run_tests(self.runner, tiny, ["test_floor.py::test_nothing"])
            if run.result is None:
                raise BenchmarkError(f"a one-test run failed in the sandbox: {run.detail}")
            self.result.floor_s.append(time.perf_counter() - started)

    def _full_run(self, head_tree: Path) -> None:
        res = self.result
        started = time.perf_counter()
        run = run_tests(self.runner, head_tree, None)
        seconds = time.perf_counter() - started
        if run.result is None:
            raise BenchmarkError(f"{res.name}: a full-suite run failed: {run.detail}")
        res.full_s.append(seconds)
        say(f"[{res.name}] full suite: {seconds:.2f} s")

    def _choose(
        self, head_tree: Path, coverage: CoverageMap, passing: frozenset[str]
    ) -> list[Chosen]:
        """N functions, each with a refactoring and a mutation the full suite detects."""
        res = self.result
        plans = edits.plan_edits(head_tree, coverage, self.options.seed)
        say(f"[{res.name}] {len(plans)} covered function(s) with both kinds of edit sites")
        if not plans:
            raise BenchmarkError(
                f"{res.name}: the tests cover no function of the repository's own code (do "
                "they import another copy of the package, installed from the index?)"
            )
        chosen: list[Chosen] = []
        budget = 3 * self.options.functions  # full-suite runs spent on finding mutations
        rng = random.Random(self.options.seed)
        for plan in plans:
            if len(chosen) == self.options.functions or budget <= 0:
                break
            sites = list(plan.mutations)
            rng.shuffle(sites)
            for mutation in sites[:MUTATION_TRIES]:
                if budget <= 0:
                    break
                budget -= 1
                failures = self._failures(head_tree, [mutation], passing)
                if failures is None:
                    res.import_breakers += 1
                elif not failures:
                    res.survivors += 1
                else:
                    refactor = plan.refactors[len(plan.refactors) // 2]
                    label = f"{plan.path}::{plan.qualname}"
                    chosen.append(Chosen(label, refactor, mutation, failures))
                    break
        if len(chosen) < self.options.functions:
            say(f"[{res.name}] only {len(chosen)} function(s) with a detected mutation")
        return chosen

    def _failures(
        self, head_tree: Path, candidates: Sequence[Candidate], passing: frozenset[str]
    ) -> frozenset[str] | None:
        """Tests passing at the release that fail with `candidates`; None: no collection."""
        tree = edits.apply_all(head_tree, candidates, self.scratch / "mutant")
        try:
            run = run_tests(self.truth, tree, None)
        finally:
            shutil.rmtree(tree)
        if run.result is None or run.result.collect_errors:
            return None
        tests = run.result.tests
        return frozenset(t for t in passing if not (o := tests.get(t)) or not o.ok)

    def _release_head(self, head_tree: Path, chosen: Sequence[Chosen]) -> Head:
        """Refactors, optimizations and mutations, against the release."""
        labels: dict[str, tuple[str, str, frozenset[str]]] = {}
        candidates: list[Candidate] = []
        for c in chosen:
            optimization = edits.as_optimization(c.refactor)
            for kind, cand, failures in (
                ("refactor", c.refactor, frozenset[str]()),
                ("optimization", optimization, frozenset[str]()),
                ("mutation", c.mutation, c.failures),
            ):
                candidates.append(cand)
                labels[cand.id] = (c.function, kind, failures)
        return self._head("release", head_tree, candidates, labels, {})

    def _buggy_head(self, head_tree: Path, chosen: Sequence[Chosen]) -> Head | None:
        """A head holding up to R detected mutations whose failing tests do not overlap,
        and the candidates that repair each."""
        res = self.result
        picked: list[Chosen] = []
        for c in chosen:
            if len(picked) < self.options.repairs and all(
                not (c.failures & p.failures) for p in picked
            ):
                picked.append(c)
        if not picked:
            return None
        tree = edits.apply_all(head_tree, [c.mutation for c in picked], self.scratch / "buggy-tree")
        labels: dict[str, tuple[str, str, frozenset[str]]] = {}
        repairs: list[Candidate] = []
        targets: dict[str, frozenset[str]] = {}
        for c in picked:
            repair = edits.repair_of(c.mutation)
            repairs.append(repair)
            labels[repair.id] = (c.function, "repair", c.failures)
            targets[repair.id] = c.failures
        head = self._head(f"with {len(picked)} mutation(s)", tree, repairs, labels, targets)
        # the tests each mutation breaks alone, that fail at this head: what its repair fixes
        failing = frozenset(t for t, o in head.baseline.outcomes.items() if not o.ok)
        cases: list[Case] = []
        for case in head.cases:
            if case.targets & failing:
                cases.append(Case(case.candidate, case.tests, case.targets & failing, case.replay))
            else:
                res.repairs_left_out.append(labels[case.candidate.id][0])
        return Head(head.name, tree, head.baseline, tuple(cases), labels) if cases else None

    def _head(
        self,
        name: str,
        tree: Path,
        candidates: Sequence[Candidate],
        labels: dict[str, tuple[str, str, frozenset[str]]],
        targets: dict[str, frozenset[str]],
    ) -> Head:
        """The pipeline's baseline of `tree` (coverage, calls into every function the
        candidates edit) and the candidates' cases, as BaselineSession.validate makes them."""
        res = self.result
        snapshot = edits.snapshot_for(tree, candidates, self.scratch / "snapshot")
        record = record_targets(snapshot)
        say(f"[{res.name}] baseline {name}: coverage, calls into {len(record)} function(s)")
        started = time.perf_counter()
        baseline = self._validator().baseline(tree, record)
        res.baselines[name] = time.perf_counter() - started
        if baseline.run.result is None or baseline.run.result.collect_errors:
            raise BenchmarkError(f"{res.name}: the baseline does not run: {baseline.run.detail}")
        return Head(name, tree, baseline, _cases(candidates, snapshot, baseline, targets), labels)

    def _prove(self, heads: Sequence[Head], head_tree: Path) -> None:
        """Together, each alone (full runs spread among them), together again."""
        res = self.result
        first = {h.name: self._together(h) for h in heads}
        alone: dict[str, tuple[Validation, float]] = {}
        every = [(h, case) for h in heads for case in h.cases]
        later = max(self.options.full_runs - 1, 0)
        after = {round((k + 1) * len(every) / later) - 1 for k in range(later)} if later else set()
        say(f"[{res.name}] proving {len(every)} candidate(s) one by one")
        for i, (head, case) in enumerate(every):
            alone[case.candidate.id] = self._alone(head, case)
            if i in after:
                self._full_run(head_tree)
        for head in heads:
            again_s, again = self._together(head)
            ids = [case.candidate.id for case in head.cases]
            differ = sorted(
                {
                    f"{head.labels[i][0]} ({head.labels[i][1]}): alone "
                    f"{alone[i][0].status.value}, together {verdicts[i].status.value}"
                    for verdicts in (first[head.name][1], again)
                    for i in ids
                    if verdicts[i].status is not alone[i][0].status
                }
            )
            res.together.append(
                Together(
                    head.name,
                    len(ids),
                    (first[head.name][0], again_s),
                    sum(alone[i][1] for i in ids),
                    tuple(differ),
                )
            )

    def _together(self, head: Head) -> tuple[float, dict[str, Validation]]:
        say(f"[{self.result.name}] {len(head.cases)} candidate(s) {head.name}, together")
        validator = self._validator()
        started = time.perf_counter()
        verdicts = validator.validate(head.tree, head.baseline, list(head.cases))
        return time.perf_counter() - started, verdicts

    def _alone(self, head: Head, case: Case) -> tuple[Validation, float]:
        cand = case.candidate
        function, kind, failures = head.labels[cand.id]
        validator = self._validator()
        started = time.perf_counter()
        result = validator.validate(head.tree, head.baseline, [case])[cand.id]
        seconds = time.perf_counter() - started
        replay, speed = result.replay, result.speed
        proof = Proof(
            function=function,
            kind=kind,
            what=cand.description,
            selected=len(case.tests | case.targets),
            seconds=seconds,
            status=result.status.value,
            detail=result.detail,
            replayed=replay.calls_replayed if replay else 0,
            generated=replay.inputs_generated if replay else 0,
            changed=replay.calls_changed if replay else 0,
            speedup=f"{speed.speedup:.2f}x [{speed.low:.2f}, {speed.high:.2f}]" if speed else "",
            false_claim=speed is not None and speed.low >= SPEED_CLAIM,
            full_failures=len(failures),
            unselected=tuple(sorted(failures - case.tests - case.targets)),
        )
        self.result.proofs.append(proof)
        if not proof.expected:
            say(f"[{self.result.name}] {kind} {function} {cand.description}: {result.detail}")
        return result, seconds

    def _analysis(self) -> None:
        res = self.result
        assert res.previous is not None
        try:
            res.analysis = analyze_vs_semgrep.compare(
                res.name,
                res.previous,
                res.version,
                rounds=self.options.analysis_rounds,
                log=lambda line: say(f"[{res.name}] analysis: {line.strip()}"),
            )
        except (analyze_vs_semgrep.BenchmarkError, ProvenFixError) as exc:
            res.analysis_note = f"not measured: {exc}"


def _cases(
    candidates: Sequence[Candidate],
    snapshot: Snapshot,
    baseline: Baseline,
    targets: dict[str, frozenset[str]],
) -> tuple[Case, ...]:
    selected = select_tests(candidates, snapshot, baseline.coverage)
    return tuple(
        Case(
            cand,
            selected.get(cand.id, frozenset()),
            targets.get(cand.id, frozenset()),
            plan_replay(
                cand,
                snapshot,
                baseline.recorded,
                preserving=not targets.get(cand.id),
                bench=cand.kind is SuggestionKind.OPTIMIZATION,
            ),
        )
        for cand in candidates
    )


# --- the report ------------------------------------------------------------------------


def print_library(res: LibraryResult) -> None:
    full = res.full_median_s
    window = f"{SUITE_WINDOW_S[0]:g}-{SUITE_WINDOW_S[1]:g} s"
    print(
        f"\n## {res.name} {res.version}: {res.tests} tests; runner {res.runner}; {res.image_note}"
    )
    if res.name in INSTALL_COMMANDS:
        print(f"install command (as a repository config's): {INSTALL_COMMANDS[res.name]}")
    print(
        f"full suite through the runner, no coverage: {full:.2f} s median of {len(res.full_s)} "
        f"({', '.join(f'{s:.2f}' for s in res.full_s)}); in the {window} window: "
        f"{'yes' if res.in_window else 'NO'}"
    )
    print(
        f"one trivial test through the runner: {median(res.floor_s):.2f} s = "
        f"{median(res.floor_s) / full:.2f}x of a full run (the floor of any proof); "
        f"survey (coverage only) {res.survey_s:.2f} s; baselines (coverage + recording): "
        + ", ".join(f"{name} {s:.2f} s" for name, s in res.baselines.items())
    )
    if res.survivors or res.import_breakers or res.repairs_left_out:
        print(
            f"set aside: {res.survivors} mutation(s) the full suite does not detect, "
            f"{res.import_breakers} that broke collection; repairs whose tests pass anyway "
            f"with the other mutations: {res.repairs_left_out or 'none'}"
        )
    header = (
        f"{'function':<42} {'edit':<12} {'sel':>4} {'verdict':<8} {'s':>6} {'/full':>6} "
        f"{'replay':>9}  full-suite failures (not run)"
    )
    print(header)
    print("-" * len(header))
    for p in res.proofs:
        name = p.function if len(p.function) <= 42 else "..." + p.function[-39:]
        flag = "" if p.expected else "  <-- unexpected"
        failures = f"{p.full_failures} ({len(p.unselected)})" if p.full_failures else ""
        replay = f"{p.replayed}+{p.generated}" + (f" !{p.changed}" if p.changed else "")
        print(
            f"{name:<42} {p.kind:<12} {p.selected:>4} {p.status:<8} {p.seconds:>6.2f} "
            f"{p.seconds / full:>6.2f} {replay:>9}  {failures}{flag}"
        )
    print("(replay: recorded calls replayed + generated inputs, !N calls that behaved differently)")
    by_kind = ", ".join(f"{k}s {median(res.ratios(k)):.2f}x" for k in KINDS if res.ratios(k))
    print(f"proof of one candidate / full suite: {spread(res.ratios())}; {by_kind}")
    for t in res.together:
        runs = ", ".join(f"{s:.2f}" for s in t.seconds)
        print(
            f"together, {t.cases} candidate(s) {t.head}: {statistics.mean(t.seconds):.2f} s "
            f"(runs {runs}) / {t.alone_s:.2f} s one by one = {t.ratio:.2f}x"
        )
        for line in t.disagreements:
            print(f"  verdict differs: {line}")
    for p in res.proofs:
        if p.kind == "optimization" and p.speedup:
            claim = "  <-- claims a speed-up" if p.false_claim else ""
            print(f"  optimization in {p.function}: micro-benchmark {p.speedup}{claim}")
        if not p.expected:
            print(f"  {p.kind} in {p.function}, {p.what}: {p.status}: {p.detail}")
        if p.unselected:
            print(
                f"  {p.kind} in {p.function}: failing in the full suite, not run by the proof: "
                + ", ".join(p.unselected[:3])
                + (" ..." if len(p.unselected) > 3 else "")
            )
    print(f"analysis vs bare semgrep: {analysis_line(res)}")


def analysis_line(res: LibraryResult) -> str:
    if res.analysis is None:
        return res.analysis_note or "not measured (no previous release given)"
    a = res.analysis
    rounds = a.round_ratios()
    return (
        f"{res.previous} -> {res.version} ({len(a.target.targets)} Python files): "
        f"{a.wall_ratio:.2f}x wall (medians; rounds {min(rounds):.2f}-{max(rounds):.2f}, "
        f"n={len(rounds)}), {a.cpu_ratio:.2f}x cpu; same findings: "
        f"{'yes' if a.findings_match() else 'NO'}: {verdict(a.wall_ratio <= TARGET_ANALYSIS)}"
    )


def summarize(results: Sequence[LibraryResult]) -> None:
    print("\n## Summary (ratios of wall times; proofs over one full-suite run of the library)")
    print(
        f"{'library':<24} {'full s':>7} {'proof/full median (min-max, n)':<34} "
        f"{'together/alone':>14} {'missed':>7} {'analysis':>9}"
    )
    for res in results:
        ratios = res.ratios()
        alone = sum(t.alone_s for t in res.together)
        together = sum(statistics.mean(t.seconds) for t in res.together)
        mutations = [p for p in res.proofs if p.kind == "mutation"]
        analysis = f"{res.analysis.wall_ratio:.2f}x" if res.analysis else "n/a"
        cell = (
            f"{median(ratios):.2f}x ({min(ratios):.2f}-{max(ratios):.2f}, {len(ratios)}) "
            f"{verdict(median(ratios) <= TARGET_RATIO)}"
            if ratios
            else "n/a"
        )
        print(
            f"{res.name + ' ' + res.version:<24} {res.full_median_s:>7.2f} {cell:<34} "
            f"{together / alone if alone else float('nan'):>13.2f}x "
            f"{len(res.misses)}/{len(mutations):<5} {analysis:>9}"
        )
    proofs = [p for res in results for p in res.proofs]
    mutations = [p for p in proofs if p.kind == "mutation"]
    misses = [p for res in results for p in res.misses]
    unrun = sum(len(p.unselected) for p in mutations)
    harmless = [p for p in proofs if p.kind in ("refactor", "optimization")]
    repairs = [p for p in proofs if p.kind == "repair"]
    claims = [p for p in proofs if p.false_claim]
    every = all(median(res.ratios()) <= TARGET_RATIO for res in results if res.ratios())
    analyses = [res.analysis for res in results if res.analysis is not None]
    print()
    print(
        f"suites in the {SUITE_WINDOW_S[0]:g}-{SUITE_WINDOW_S[1]:g} s window: "
        f"{sum(res.in_window for res in results)}/{len(results)}"
    )
    print(
        f"proof of one candidate / full suite, median on every library <= {TARGET_RATIO}x: "
        f"{verdict(every and bool(proofs))}"
    )
    print(
        f"failures the full suite sees that the proofs missed (mutations proven `passed`): "
        f"{len(misses)}/{len(mutations)} (goal {TARGET_MISSES}): "
        f"{verdict(len(misses) <= TARGET_MISSES and bool(mutations))}; failing tests the "
        f"proofs did not run: {unrun}"
    )
    print(
        f"repairs not proven `passed`: {sum(not p.expected for p in repairs)}/{len(repairs)}; "
        f"smell fixes and optimizations not proven `passed`: "
        f"{sum(not p.expected for p in harmless)}/{len(harmless)}; optimizations claiming a "
        f"speed-up (lower bound >= {SPEED_CLAIM}x) they cannot have: {len(claims)}"
    )
    if analyses:
        worst = max(a.wall_ratio for a in analyses)
        print(
            f"analysis / bare semgrep, median wall ratio on every library <= "
            f"{TARGET_ANALYSIS:.2f}x: {verdict(worst <= TARGET_ANALYSIS)} (worst {worst:.2f}x)"
        )


# --- main ------------------------------------------------------------------------------


def parse_packages(specs: Sequence[str]) -> list[tuple[str, str, str | None]]:
    packages: list[tuple[str, str, str | None]] = []
    for spec in specs:
        name, sep, versions = spec.partition("==")
        version, _, previous = versions.partition(",")
        if not sep or not name or not version:
            raise BenchmarkError(f"--package {spec!r}: write NAME==VERSION[,PREVIOUS]")
        packages.append((name, version, previous or None))
    return packages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--package",
        action="append",
        metavar="NAME==VERSION[,PREVIOUS]",
        help="a library whose sdist ships its tests, and the release before it for the "
        f"analysis ratio (repeatable; default {', '.join(DEFAULT_PACKAGES)})",
    )
    parser.add_argument("--functions", type=int, default=4, help="functions per library")
    parser.add_argument("--repairs", type=int, default=3, help="repairs per library")
    parser.add_argument("--seed", type=int, default=1, help="which functions and sites")
    parser.add_argument("--full-runs", type=int, default=FULL_RUNS, help="full-suite runs")
    parser.add_argument(
        "--analysis-rounds",
        type=int,
        default=ANALYSIS_ROUNDS,
        help="rounds of benchmarks/analyze_vs_semgrep.py per library (0: skip it)",
    )
    parser.add_argument(
        "--pytest-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra pytest argument of every run, as a repository config's pytest_args "
        "(repeatable; e.g. --pytest-arg=--tb=native)",
    )
    args = parser.parse_args(argv)
    if args.functions < 1 or args.full_runs < 1 or args.repairs < 0 or args.analysis_rounds < 0:
        parser.error("--functions and --full-runs must be at least 1, the others at least 0")
    options = Options(
        args.functions,
        args.repairs,
        args.seed,
        args.full_runs,
        args.analysis_rounds,
        tuple(args.pytest_arg),
    )
    started = time.perf_counter()
    load_before = os.getloadavg()
    try:
        packages = parse_packages(args.package or DEFAULT_PACKAGES)
        sandbox = sandbox_from_env(os.environ)
        results: list[LibraryResult] = []
        for name, version, previous in packages:
            previous = previous if options.analysis_rounds else None
            results.append(LibraryBench(sandbox, name, version, previous, options).run())
            print_library(results[-1])
    except (BenchmarkError, ProvenFixError) as exc:
        say(f"benchmark failed: {exc}")
        return 2
    summarize(results)
    load = ", ".join(
        f"{a:.1f} -> {b:.1f}" for a, b in zip(load_before, os.getloadavg(), strict=True)
    )
    print(
        f"\n(total {time.perf_counter() - started:.0f} s ("
        + ", ".join(f"{r.name} {r.seconds:.0f} s" for r in results)
        + f") on {os.cpu_count()} CPUs; load average 1/5/15 min before -> after: {load}; "
        f"each sandbox run gets {sandbox.settings.limits.cpus:g} CPU)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
