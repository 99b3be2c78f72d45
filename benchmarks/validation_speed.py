"""What proving one candidate costs: next to the whole test suite, and next to the old proof.

Real libraries, fetched as sdists from PyPI (their tests ship in the sdist), each
replayed as a git repository whose `main` is the release tree. For each one, in
the hardened Docker sandbox the pipeline uses (the environment image is built
once per dependency fingerprint and then reused):

  start      `python -c pass` in the sandbox with the same hardening (median of 5,
             after one warm-up run); and the floor of one test run (one trivial test)
  survey     the whole suite once with per-test coverage, no call recording (what the
             baseline cost before the redesign; it also picks the candidates)
  baseline   the whole suite with per-test coverage AND call recording of every
             function the candidates edit (Validator.baseline with RecordTargets from
             jobs.validation.replay.record_targets): what the pipeline runs at head
  full       the whole suite without coverage, 5 times spread over the proofs
             (median): what proving a candidate would cost without test selection
  candidates N covered functions (seeded choice), each with three edits:
               refactor      `return EXPR` re-expressed through a temporary variable
                             (harmless: the verdict must be `passed`)
               optimization  the same edit proposed as an optimization, so its proof
                             also runs the micro-benchmark (must be `passed`; a
                             speed-up it claims is a false claim)
               mutation      a comparison or +/- operator flipped on a covered line,
                             kept only if a full-suite run with it fails a test (the
                             verdict must be `failed`, by the tests or by the replay;
                             a `passed` verdict is a miss)
             each proven alone as the pipeline does (select_tests, plan_replay,
             Validator.validate: ONE sandbox run: a session running the selected
             tests 3 times with the candidate then the replay, preceded by head's
             session where the selection splits a module or holds a failing test,
             cached per selection): its wall time over
             one full-suite run is the candidate's ratio. Interleaved with it (which
             goes first alternates), the same candidate is proven as before the
             redesign: ONE session of its selected tests with it applied, plus up to 2
             re-runs of the tests that failed there but passed at baseline (the old
             flaky rule). new/old is the cost of the new evidence. Whether the full
             suite detects a mutation is decided with --tb=line (unmeasured).

Targets: new/old median <= 1.5x, prove/full median <= 0.25, container start < 1 s,
0 mutations missed. Everything is measured by the same invocation; downloads,
repositories and scratch folders live in benchmarks/.work/ (git-ignored).

    .venv/bin/python benchmarks/validation_speed.py [--package toolz==1.2.0
        --package tabulate==0.10.0] [--functions 10] [--seed 1] [--full-runs 5]
        [--pytest-arg=--tb=native]

Exit status 0 whether the targets are met or not (the output says PASS or FAIL);
2 when the benchmark itself could not run (no Docker engine, install failure).
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import os
import random
import shutil
import statistics
import sys
import tarfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sdists
from sdists import BenchmarkError, git, say

from provenfix.jobs.diff import open_repo
from provenfix.jobs.errors import ProvenFixError
from provenfix.jobs.generation.edits import apply_candidates, line_candidate, parse_error
from provenfix.jobs.report import (
    Candidate,
    ChangedFile,
    SuggestionKind,
    Validation,
    ValidationStatus,
)
from provenfix.jobs.sandbox.env_image import ensure_env_image
from provenfix.jobs.sandbox.runner import DockerSandbox, sandbox_from_env
from provenfix.jobs.sandbox.workdir import prepare_workdir, remove_workdir
from provenfix.jobs.snapshot import FileVersions, Snapshot
from provenfix.jobs.source import parse
from provenfix.jobs.tree import export_tree
from provenfix.jobs.validation.probe import CoverageMap, TestOutcome
from provenfix.jobs.validation.replay import is_test_path, plan_replay, record_targets
from provenfix.jobs.validation.selection import select_tests
from provenfix.jobs.validation.testrun import Plan, PlanRun, SandboxTestRunner, run_tests
from provenfix.jobs.validation.validator import Baseline, Case, Validator

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work" / "validation"
DEFAULT_PACKAGES = ("toolz==1.2.0", "tabulate==0.10.0")
TARGET_COST = 1.5  # median wall time of the new proof / the old proof of the same candidate
TARGET_RATIO = 0.25  # median prove time of a candidate / one full-suite run
TARGET_START_S = 1.0  # container start: `python -c pass` in the sandbox
TARGET_MISSES = 0
SPEED_CLAIM = 1.1  # a speed-up is claimed when its interval's lower bound reaches this
OLD_MAX_RERUNS = 2  # the old flaky rule: failing tests re-run up to twice with the candidate
FULL_RUNS = 5  # spread over the proofs, so that both see the same machine load
START_RUNS = 5
MUTATION_TRIES = 2  # mutation sites tried per function before moving on
KINDS = ("refactor", "optimization", "mutation")
TEMP_NAME = "_pf_result"
COMPARE_FLIPS: dict[type[ast.cmpop], tuple[str, str]] = {
    ast.Eq: ("==", "!="),
    ast.NotEq: ("!=", "=="),
    ast.Lt: ("<", ">="),
    ast.LtE: ("<=", ">"),
    ast.Gt: (">", "<="),
    ast.GtE: (">=", "<"),
    ast.Is: ("is", "is not"),
    ast.IsNot: ("is not", "is"),
    ast.In: ("in", "not in"),
    ast.NotIn: ("not in", "in"),
}
BINOP_FLIPS: dict[type[ast.operator], tuple[str, str]] = {
    ast.Add: ("+", "-"),
    ast.Sub: ("-", "+"),
}
Func = ast.FunctionDef | ast.AsyncFunctionDef


# --- 1. the repository: an sdist from PyPI, committed as `main` -------------------------


def fetch_sdist(name: str, version: str) -> Path:
    """The sdist of name==version, from benchmarks/.work/validation/sdists/ or downloaded."""
    return sdists.fetch_sdist(WORK / "sdists", name, version)


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
    sdist = fetch_sdist(name, version)
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


# --- 2. runs, timed --------------------------------------------------------------------


@dataclass(frozen=True)
class Timed:
    wall_s: float  # on the host: copying the tree, the container, reading the result
    container_s: float  # the container's own wall time (start included)
    steps: Mapping[str, float]  # in-container time of each step, as the driver reported it


class TimedRunner:
    """A TestRunner that records the wall time of every sandbox run it makes."""

    def __init__(self, inner: SandboxTestRunner) -> None:
        self._inner = inner
        self.log: list[Timed] = []

    def run_plan(self, tree: Path, plan: Plan) -> PlanRun:
        started = time.perf_counter()
        run = self._inner.run_plan(tree, plan)
        steps = {name: result.duration for name, result in run.steps.items()}
        self.log.append(Timed(time.perf_counter() - started, run.duration_s, steps))
        return run


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> str:
    """`median (min-max, n=N)`"""
    if not values:
        return "n/a (n=0)"
    return f"{median(values):.2f}x (min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"


# --- 3. candidates: a harmless refactoring (also as an optimization) and a mutation -----


@dataclass(frozen=True)
class FunctionEdits:
    path: str
    qualname: str
    refactors: tuple[Candidate, ...]
    mutations: tuple[Candidate, ...]


def own_nodes(func: Func) -> Iterator[ast.AST]:
    """The nodes of `func`'s body, not those of functions, lambdas or classes inside it,
    nor those inside f-strings (whose positions are unreliable before Python 3.12)."""
    pending: list[ast.AST] = list(func.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(node, ast.JoinedStr):
            continue
        yield node
        pending.extend(ast.iter_child_nodes(node))


def functions_of(tree: ast.Module) -> Iterator[tuple[str, Func]]:
    def visit(node: ast.AST, prefix: str) -> Iterator[tuple[str, Func]]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                yield name, child
                yield from visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            else:
                yield from visit(child, prefix)

    yield from visit(tree, "")


class SourceText:
    """One file's text with byte offsets of its lines (AST columns are UTF-8 byte offsets)."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.data = text.encode()
        self.lines = self.data.splitlines(keepends=True)
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def line(self, lineno: int) -> bytes:
        return self.lines[lineno - 1].rstrip(b"\r\n")

    def offset(self, lineno: int, col: int) -> int:
        return self.starts[lineno - 1] + col

    def candidate(
        self, lineno: int, cols: tuple[int, int], fragment: str, kind: SuggestionKind, what: str
    ) -> Candidate | None:
        span = (self.offset(lineno, cols[0]), self.offset(lineno, cols[1]))
        cand = line_candidate(
            self.text,
            span,
            fragment,
            path=self.path,
            finding_ids=(),
            kind=kind,
            source="benchmark",
            description=what,
        )
        if parse_error(self.path, apply_candidates(self.text, [cand])) is not None:
            return None
        return cand


def refactor_sites(src: SourceText, func: Func, covered: set[int]) -> list[Candidate]:
    """`return EXPR` -> `_pf_result = EXPR` + `return _pf_result`, on covered lines."""
    found: list[Candidate] = []
    for node in own_nodes(func):
        if not isinstance(node, ast.Return) or node.value is None:
            continue
        if node.lineno != node.end_lineno or node.lineno not in covered:
            continue
        if isinstance(node.value, ast.Yield | ast.YieldFrom | ast.NamedExpr):
            continue
        line = src.line(node.lineno)
        end = node.end_col_offset or 0
        before, after = line[: node.col_offset], line[end:].strip()
        if before.strip() or (after and not after.startswith(b"#")):
            continue  # not alone on its line (`if x: return y`, `a; return b`)
        value = line[node.value.col_offset : node.value.end_col_offset].decode()
        indent = before.decode()
        fragment = f"{TEMP_NAME} = {value}\n{indent}return {TEMP_NAME}"
        what = f"line {node.lineno}: return through a temporary variable"
        cand = src.candidate(
            node.lineno, (node.col_offset, end), fragment, SuggestionKind.REFACTOR, what
        )
        if cand is not None:
            found.append(cand)
    return sorted(found, key=lambda c: c.start_line)


def mutation_sites(src: SourceText, func: Func, covered: set[int]) -> list[Candidate]:
    """One comparison or +/- operator flipped, on a covered single-line expression."""
    found: list[Candidate] = []
    for node in own_nodes(func):
        if isinstance(node, ast.Compare) and len(node.ops) == 1:
            flip = COMPARE_FLIPS.get(type(node.ops[0]))
            left, right = node.left, node.comparators[0]
        elif isinstance(node, ast.BinOp):
            flip = BINOP_FLIPS.get(type(node.op))
            left, right = node.left, node.right
        else:
            continue
        if flip is None:
            continue
        if node.lineno != node.end_lineno or node.lineno not in covered:
            continue
        if node.lineno == func.lineno:
            continue
        line = src.line(node.lineno)
        gap_start, gap_end = left.end_col_offset or 0, right.col_offset
        gap = line[gap_start:gap_end].decode(errors="replace")
        core = gap.strip(" \t()")
        if core != flip[0]:
            continue  # a comment or a line continuation in between: leave it
        col = gap_start + len(gap) - len(gap.lstrip(" \t()"))  # the gap is ASCII here
        what = f"line {node.lineno}: `{flip[0]}` -> `{flip[1]}`"
        cand = src.candidate(
            node.lineno, (col, col + len(flip[0].encode())), flip[1], SuggestionKind.REPAIR, what
        )
        if cand is not None:
            found.append(cand)
    return sorted(found, key=lambda c: (c.start_line, c.original, c.replacement))


def plan_edits(head_tree: Path, coverage: CoverageMap, seed: int) -> list[FunctionEdits]:
    """Every covered library function with both kinds of sites, in a seeded order."""
    plans: list[FunctionEdits] = []
    for path in sorted(coverage.lines):
        if is_test_path(path) or not path.endswith(".py"):
            continue
        covered = {line for line, tests in coverage.lines[path].items() if tests}
        try:
            text = (head_tree / path).read_text(encoding="utf-8")
            tree = ast.parse(text, filename=path)
        except (OSError, UnicodeDecodeError, SyntaxError, ValueError):
            continue
        src = SourceText(path, text)
        for qualname, func in functions_of(tree):
            refactors = refactor_sites(src, func, covered)
            mutations = mutation_sites(src, func, covered)
            if refactors and mutations:
                plans.append(FunctionEdits(path, qualname, tuple(refactors), tuple(mutations)))
    random.Random(seed).shuffle(plans)
    return plans


def snapshot_for(head_tree: Path, candidates: Sequence[Candidate], root: Path) -> Snapshot:
    """The snapshot the pipeline would hold if the candidates' files were the change."""
    files: list[FileVersions] = []
    for path in sorted({c.path for c in candidates}):
        lines = [c.lines for c in candidates if c.path == path]
        head = parse(path, (head_tree / path).read_bytes())
        files.append(FileVersions(ChangedFile(path, path, tuple(lines), tuple(lines)), head, head))
    return Snapshot(root=root, files=tuple(files), skipped=())


def apply_to_copy(head_tree: Path, cand: Candidate, dest: Path) -> Path:
    shutil.copytree(head_tree, dest, symlinks=True)
    target = dest / cand.path
    target.write_text(apply_candidates(target.read_text(encoding="utf-8"), [cand]), "utf-8")
    return dest


# --- 4. one library --------------------------------------------------------------------


@dataclass(frozen=True)
class Split:
    """Where a proof's wall time went."""

    host_s: float  # on the host: snapshot, selection, replay plan, tree copies, verdict
    fixed_s: float  # per container run: the container, the driver, forks, everything
    # around the pytest sessions (summed over the proof's runs)
    steps_s: float  # the pytest sessions (and replay steps) as the driver timed them

    @classmethod
    def of(cls, prove_s: float, runs: Sequence[Timed]) -> Split:
        wall = sum(r.wall_s for r in runs)
        steps = sum(sum(r.steps.values()) for r in runs)
        return cls(prove_s - wall, wall - steps, steps)


@dataclass(frozen=True)
class OldProof:
    """The candidate proven as before the redesign: one session, re-runs of its failures."""

    status: str  # passed | failed | error | no_tests
    runs: int  # container runs: the session and the re-runs
    prove_s: float  # host wall time, selection included
    detail: str = ""
    split: Split | None = None


@dataclass(frozen=True)
class Proof:
    function: str
    kind: str  # refactor | optimization | mutation
    what: str
    selected: int
    runs: int  # container runs of the new proof (2 when selection widened to modules)
    prove_s: float  # host wall time of the new proof: selection, replay plan, validate
    status: str
    old: OldProof
    steps: tuple[Mapping[str, float], ...] = ()  # in-container step times of its runs
    split: Split | None = None
    replayed: int = 0  # recorded calls replayed on both sides
    generated: int = 0  # hypothesis inputs replayed
    changed: int = 0  # calls whose behaviour differed between head and the candidate
    speedup: str = ""  # optimization: the micro-benchmark's interval
    false_claim: bool = False  # optimization: claims a speed-up it cannot have
    full_failures: int = 0  # mutation: tests the full suite failed with it
    unselected: tuple[str, ...] = ()  # ... of which selection did not pick
    detail: str = ""  # the verdict's detail

    @property
    def unselected_failures(self) -> int:
        return len(self.unselected)

    @property
    def expected(self) -> bool:
        wanted = "failed" if self.kind == "mutation" else "passed"
        return self.status == wanted

    @property
    def cost(self) -> float | None:
        """new/old; None when the old proof ran nothing (no test selected)."""
        return self.prove_s / self.old.prove_s if self.old.runs else None

    @property
    def caught_by(self) -> str:
        """For a rejected mutation: which evidence rejected it."""
        if self.status != "failed":
            return ""
        return "replay" if self.detail.startswith("changes behaviour") else "tests"


@dataclass
class LibraryResult:
    name: str
    version: str
    tests: int = 0
    unchecked: int = 0  # tests passing at head whose checks the probe does not see
    image: str = ""
    image_note: str = ""
    survey_s: float = 0.0  # the whole suite with coverage, no recording
    baseline_s: float = 0.0  # ... with coverage and call recording
    record_targets: int = 0  # functions recorded
    recorded_functions: int = 0  # ... that the tests called
    recorded_calls: int = 0  # calls kept for replay
    full_s: list[float] = field(default_factory=list)
    full_container_s: list[float] = field(default_factory=list)
    start_s: list[float] = field(default_factory=list)
    floor_s: list[float] = field(default_factory=list)
    floor_container_s: list[float] = field(default_factory=list)
    proofs: list[Proof] = field(default_factory=list)
    survivors: int = 0  # mutations the full suite did not detect (not used)
    import_breakers: int = 0  # mutations that broke collection (not used)
    full_median_s: float = 0.0

    def ratio(self, proof: Proof) -> float:
        return proof.prove_s / self.full_median_s

    def old_ratio(self, proof: Proof) -> float:
        return proof.old.prove_s / self.full_median_s

    def costs(self, kind: str | None = None) -> list[float]:
        found = (p.cost for p in self.proofs if kind is None or p.kind == kind)
        return [c for c in found if c is not None]


@dataclass(frozen=True)
class Options:
    functions: int = 10  # per library
    seed: int = 1  # which functions and mutation sites
    full_runs: int = FULL_RUNS
    pytest_args: tuple[str, ...] = ()  # what a repository config's pytest_args would add


Chosen = list[tuple[str, list[tuple[str, Candidate, set[str]]]]]


class LibraryBench:
    def __init__(self, sandbox: DockerSandbox, name: str, version: str, options: Options):
        self.sandbox = sandbox
        self.result = LibraryResult(name, version)
        self.functions = options.functions
        self.seed = options.seed
        self.options = options
        self.scratch = WORK / f"{name}-{version}" / "scratch"
        self._proofs = 0

    def run(self) -> LibraryResult:
        res = self.result
        repo_path = build_repo(res.name, res.version)
        if self.scratch.exists():
            remove_workdir(self.scratch)
        self.scratch.mkdir(parents=True)
        repo = open_repo(repo_path)
        head_tree = export_tree(repo, repo.commit("main").hexsha, self.scratch / "head-tree")

        image = ensure_env_image(self.sandbox.client, self.sandbox.settings, head_tree)
        res.image = image.tag
        res.image_note = f"built in {image.duration_s:.0f} s" if image.built else "reused"
        say(f"[{res.name}] environment image {image.tag}: {res.image_note}")
        args = self.options.pytest_args
        inner = SandboxTestRunner(self.sandbox, image.tag, self.scratch / "runs", pytest_args=args)
        # Deciding whether the full suite detects a mutation is not measured: one-line
        # tracebacks make those runs several times faster when many tests fail.
        self.truth = SandboxTestRunner(
            self.sandbox, image.tag, self.scratch / "truth", pytest_args=(*args, "--tb=line")
        )
        for name in ("runs", "truth", "trees", "survey-trees"):
            (self.scratch / name).mkdir()
        self.runner = TimedRunner(inner)

        self.measure_start(image.tag, inner)
        say(f"[{res.name}] survey: the whole suite with per-test coverage, no recording")
        surveyor = Validator(self.runner, self.scratch / "survey-trees")
        started = time.perf_counter()
        survey = surveyor.baseline(head_tree)
        res.survey_s = time.perf_counter() - started
        if survey.run.result is None or survey.run.result.collect_errors:
            raise BenchmarkError(f"{res.name}: the suite does not run: {survey.run.detail}")
        passing = {t for t, o in survey.outcomes.items() if o.ok}
        edits = self.choose_edits(head_tree, survey, passing)

        # The pipeline's baseline: coverage and the calls into every function the change
        # edits, here every function holding one of the chosen candidates.
        every = [cand for _fn, trio in edits for _kind, cand, _f in trio]
        targets = record_targets(snapshot_for(head_tree, every, self.scratch / "snapshot"))
        res.record_targets = len(targets)
        say(f"[{res.name}] baseline: coverage and call recording of {len(targets)} function(s)")
        self.validator = Validator(self.runner, self.scratch / "trees", progress=self._progress)
        started = time.perf_counter()
        baseline = self.validator.baseline(head_tree, targets)
        res.baseline_s = time.perf_counter() - started
        if baseline.run.result is None or baseline.run.result.collect_errors:
            raise BenchmarkError(f"{res.name}: the baseline does not run: {baseline.run.detail}")
        if baseline.left_out:
            say(f"[{res.name}] warning: tests left out of the baseline: {baseline.left_out}")
        res.tests = len(baseline.outcomes)
        res.unchecked = sum(
            1 for o in baseline.outcomes.values() if o.outcome == "passed" and not o.genuine
        )
        res.recorded_functions = sum(1 for f in baseline.recorded if f.calls)
        res.recorded_calls = sum(len(f.calls) for f in baseline.recorded)
        moved = [t for t, o in baseline.outcomes.items() if o.ok != (t in passing)]
        if moved:
            say(f"[{res.name}] warning: recording changed outcomes: {moved[:3]}")

        self.full_run(head_tree, baseline)  # the others are spread over the proofs
        say(f"[{res.name}] proving {sum(len(e) for _f, e in edits)} candidate(s) one by one")
        later = max(self.options.full_runs - 1, 0)
        after = {round((k + 1) * len(edits) / later) - 1 for k in range(later)} if later else set()
        for i, (fn, trio) in enumerate(edits):
            for kind, cand, failures in trio:
                self.prove(head_tree, baseline, fn, kind, cand, failures)
            if i in after:
                self.full_run(head_tree, baseline)
        while len(res.full_s) < self.options.full_runs:
            self.full_run(head_tree, baseline)
        res.full_median_s = median(res.full_s)
        remove_workdir(self.scratch)
        return res

    def _progress(self, message: str) -> None:
        if "candidate(s) against" not in message:  # one per proof: noise
            say(f"[{self.result.name}] {message}")

    def measure_start(self, image: str, inner: SandboxTestRunner) -> None:
        """`python -c pass` with the test runs' hardening; one trivial test through the probe."""
        res = self.result
        empty = prepare_workdir(self._empty_dir("start-src"), self.scratch / "start")
        for i in range(START_RUNS + 1):
            outcome = self.sandbox.run(image, ["python", "-c", "pass"], empty)
            if not outcome.ok:
                raise BenchmarkError(f"python -c pass failed in the sandbox: {outcome.reason}")
            if i:  # the first run warms the engine's caches up
                res.start_s.append(outcome.duration_s)
        tiny = self._empty_dir("floor-src")
        (tiny / "test_floor.py").write_text("def test_nothing():\n    pass\n", encoding="utf-8")
        for _ in range(3):
            started = time.perf_counter()
            run = run_tests(inner, tiny, ["test_floor.py::test_nothing"])
            if run.result is None:
                raise BenchmarkError(f"a one-test run failed in the sandbox: {run.detail}")
            res.floor_s.append(time.perf_counter() - started)
            res.floor_container_s.append(run.duration_s)

    def _empty_dir(self, name: str) -> Path:
        path = self.scratch / name
        path.mkdir()
        return path

    def full_run(self, head_tree: Path, baseline: Baseline) -> None:
        res = self.result
        run = run_tests(self.runner, head_tree, None)
        timed = self.runner.log[-1]
        if run.result is None:
            raise BenchmarkError(f"{res.name}: a full-suite run failed: {run.detail}")
        changed = [
            t
            for t, o in run.result.tests.items()
            if t in baseline.outcomes and o.ok != baseline.outcomes[t].ok
        ]
        if changed:
            say(f"[{res.name}] warning: full run disagrees with the baseline on {changed[:3]}")
        res.full_s.append(timed.wall_s)
        res.full_container_s.append(timed.container_s)
        say(f"[{res.name}] full suite: {timed.wall_s:.2f} s")

    def choose_edits(self, head_tree: Path, survey: Baseline, passing: set[str]) -> Chosen:
        """N functions, each with a refactoring, the same as an optimization, and a
        mutation the full suite detects."""
        res = self.result
        chosen: Chosen = []
        plans = plan_edits(head_tree, survey.coverage, self.seed)
        say(f"[{res.name}] {len(plans)} covered function(s) with both kinds of edit sites")
        budget = 3 * self.functions  # full-suite runs spent on finding detected mutations
        rng = random.Random(self.seed)
        for plan in plans:
            if len(chosen) == self.functions or budget <= 0:
                break
            sites = list(plan.mutations)
            rng.shuffle(sites)
            for mutation in sites[:MUTATION_TRIES]:
                if budget <= 0:
                    break
                budget -= 1
                failures = self.full_suite_failures(head_tree, mutation, passing)
                if failures is None:
                    res.import_breakers += 1
                elif not failures:
                    res.survivors += 1
                else:
                    refactor = plan.refactors[len(plan.refactors) // 2]
                    optimization = dataclasses.replace(
                        refactor,
                        id=f"{refactor.id}-opt",
                        kind=SuggestionKind.OPTIMIZATION,
                        description=refactor.description + " (as an optimization)",
                    )
                    label = f"{plan.path}::{plan.qualname}"
                    trio = [
                        ("refactor", refactor, set[str]()),
                        ("optimization", optimization, set[str]()),
                        ("mutation", mutation, failures),
                    ]
                    chosen.append((label, trio))
                    break
        if len(chosen) < self.functions:
            say(f"[{res.name}] only {len(chosen)} function(s) with a detected mutation")
        return chosen

    def full_suite_failures(
        self, head_tree: Path, cand: Candidate, passing: set[str]
    ) -> set[str] | None:
        """Tests passing at head that fail with `cand`; None when the suite cannot run."""
        tree = apply_to_copy(head_tree, cand, self.scratch / "mutant")
        try:
            run = run_tests(self.truth, tree, None)
        finally:
            shutil.rmtree(tree)
        if run.result is None or run.result.collect_errors:
            return None
        return {t for t in passing if not (o := run.result.tests.get(t)) or not o.ok}

    def prove(
        self,
        head_tree: Path,
        baseline: Baseline,
        function: str,
        kind: str,
        cand: Candidate,
        failures: set[str],
    ) -> None:
        """The new proof and the old one of the same candidate, in alternating order."""
        res = self.result
        self._proofs += 1
        new: tuple[Validation, frozenset[str], float, list[Timed]] | None = None
        old: OldProof | None = None
        first_new = self._proofs % 2 == 0
        for which in ("new", "old") if first_new else ("old", "new"):
            if which == "new":
                new = self.prove_new(head_tree, baseline, cand)
            else:
                old = self.prove_old(head_tree, baseline, cand)
        assert new is not None and old is not None
        verdict, chosen, prove_s, runs = new
        replay, speed = verdict.replay, verdict.speed
        proof = Proof(
            function=function,
            kind=kind,
            what=cand.description,
            selected=len(chosen),
            runs=len(runs),
            prove_s=prove_s,
            status=verdict.status.value,
            old=old,
            steps=tuple(r.steps for r in runs),
            split=Split.of(prove_s, runs),
            replayed=replay.calls_replayed if replay else 0,
            generated=replay.inputs_generated if replay else 0,
            changed=replay.calls_changed if replay else 0,
            speedup=f"{speed.speedup:.2f}x [{speed.low:.2f}, {speed.high:.2f}]" if speed else "",
            false_claim=speed is not None and speed.low >= SPEED_CLAIM,
            full_failures=len(failures),
            unselected=tuple(sorted(failures - chosen)),
            detail=verdict.detail,
        )
        res.proofs.append(proof)
        if verdict.status == ValidationStatus.ERROR or not proof.expected:
            say(f"[{res.name}] {kind} {function} {cand.description}: {verdict.detail}")

    def prove_new(
        self, head_tree: Path, baseline: Baseline, cand: Candidate
    ) -> tuple[Validation, frozenset[str], float, list[Timed]]:
        """As BaselineSession.validate: selection, the replay plan, one Validator call."""
        before = len(self.runner.log)
        started = time.perf_counter()
        snapshot = snapshot_for(head_tree, [cand], self.scratch / "snapshot")
        selected = select_tests([cand], snapshot, baseline.coverage)
        chosen = selected.get(cand.id, frozenset())
        case = Case(
            cand,
            chosen,
            frozenset(),
            plan_replay(
                cand,
                snapshot,
                baseline.recorded,
                preserving=True,
                bench=cand.kind is SuggestionKind.OPTIMIZATION,
            ),
        )
        verdict = self.validator.validate(head_tree, baseline, [case])[cand.id]
        return verdict, chosen, time.perf_counter() - started, self.runner.log[before:]

    def prove_old(self, head_tree: Path, baseline: Baseline, cand: Candidate) -> OldProof:
        """As before the redesign: the selected tests once with the candidate; tests that
        passed at baseline and failed there re-run (up to twice) with it: passing then
        makes them flaky, neither a regression nor evidence."""
        before = len(self.runner.log)
        started = time.perf_counter()
        snapshot = snapshot_for(head_tree, [cand], self.scratch / "snapshot")
        chosen = select_tests([cand], snapshot, baseline.coverage).get(cand.id, frozenset())
        if not chosen:
            return OldProof("no_tests", 0, time.perf_counter() - started)
        tree = apply_to_copy(head_tree, cand, self.scratch / "old-tree")
        try:
            run = run_tests(self.runner, tree, sorted(chosen))
            runs = 1
            if run.result is None or run.result.collect_errors:
                prove_s = time.perf_counter() - started
                split = Split.of(prove_s, self.runner.log[before:])
                return OldProof("error", runs, prove_s, run.detail, split)
            regressions = {
                t
                for t in chosen
                if (o := baseline.outcomes.get(t)) and o.ok and not _ok(run.result.tests, t)
            }
            remaining = set(regressions)
            for _ in range(OLD_MAX_RERUNS):
                if not remaining:
                    break
                rerun = run_tests(self.runner, tree, sorted(remaining))
                runs += 1
                if rerun.result is None:
                    break
                remaining -= {t for t in remaining if _ok(rerun.result.tests, t)}
        finally:
            shutil.rmtree(tree, ignore_errors=True)
        prove_s = time.perf_counter() - started
        status = "failed" if remaining else "passed"
        detail = f"breaks {len(remaining)} test(s)" if remaining else ""
        return OldProof(status, runs, prove_s, detail, Split.of(prove_s, self.runner.log[before:]))


def _ok(outcomes: Mapping[str, TestOutcome], test: str) -> bool:
    outcome = outcomes.get(test)
    return outcome is not None and outcome.ok


# --- 5. the report ---------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def step_times(proofs: Sequence[Proof]) -> str:
    """Median in-container seconds of each kind of step of the new proofs' runs."""
    kinds: dict[str, list[float]] = {"head": [], "candidate": []}
    for p in proofs:
        for steps in p.steps:
            for name, seconds in steps.items():
                kinds.setdefault(name, []).append(seconds)
    parts = [
        f"{name} {median(values):.2f} s (x{len(values)})"
        for name, values in kinds.items()
        if values
    ]
    return ", ".join(parts) or "none"


def time_split(proofs: Sequence[Proof]) -> str:
    """Median host / fixed-per-container / pytest-step seconds, new proof vs old proof."""
    parts = []
    for label, splits, runs in (
        ("new", [p.split for p in proofs], [p.runs for p in proofs]),
        ("old", [p.old.split for p in proofs], [p.old.runs for p in proofs]),
    ):
        found = [s for s in splits if s is not None]
        parts.append(
            f"{label}: host {median([s.host_s for s in found]):.2f} + containers "
            f"{median([s.fixed_s for s in found]):.2f} ({median([float(r) for r in runs]):g} "
            f"run(s)) + steps {median([s.steps_s for s in found]):.2f}"
        )
    return "; ".join(parts)


def print_library(res: LibraryResult) -> None:
    full = res.full_median_s
    print(
        f"\n## {res.name} {res.version}: {res.tests} tests ({res.unchecked} pass at head "
        f"without a check the probe sees: never evidence), environment image {res.image_note}"
    )
    print(
        f"full suite, no coverage: {full:.2f} s median of {len(res.full_s)} "
        f"({', '.join(f'{s:.2f}' for s in res.full_s)}; container alone "
        f"{median(res.full_container_s):.2f} s)"
    )
    print(
        f"baseline: coverage only {res.survey_s:.2f} s; coverage + call recording of "
        f"{res.record_targets} function(s) {res.baseline_s:.2f} s "
        f"({res.baseline_s / res.survey_s:.2f}x; {res.recorded_functions} called, "
        f"{res.recorded_calls} distinct call(s) kept for replay)"
    )
    print(
        f"sandbox start (python -c pass): {median(res.start_s):.2f} s median of "
        f"{len(res.start_s)}; one trivial test through the probe: {median(res.floor_s):.2f} s "
        f"(container alone {median(res.floor_container_s):.2f} s) "
        f"= {median(res.floor_s) / full:.2f}x of a full run, the floor of any proof"
    )
    if res.survivors or res.import_breakers:
        print(
            f"mutations set aside: {res.survivors} not detected by the full suite, "
            f"{res.import_breakers} broke test collection"
        )
    header = (
        f"{'function':<40} {'edit':<8} {'sel':>4} {'verdict':<7} {'new s':>6} "
        f"{'old s':>6} {'old':<9} {'new/old':>7} {'/full':>5} {'replay':>9}  "
        "full-suite failures (not selected)"
    )
    print(header)
    print("-" * len(header))
    for p in res.proofs:
        name = p.function if len(p.function) <= 40 else "..." + p.function[-37:]
        flag = "" if p.expected else "  <-- unexpected"
        caught = f"{p.full_failures} ({p.unselected_failures})" if p.kind == "mutation" else ""
        if p.kind == "mutation" and p.caught_by:
            caught += f" by {p.caught_by}"
        cost = f"{p.cost:.2f}" if p.cost is not None else "n/a"
        old = f"{p.old.status}/{p.old.runs}"
        replay = f"{p.replayed}+{p.generated}" + (f" !{p.changed}" if p.changed else "")
        print(
            f"{name:<40} {p.kind[:8]:<8} {p.selected:>4} {p.status:<7} {p.prove_s:>6.2f} "
            f"{p.old.prove_s:>6.2f} {old:<9} {cost:>7} {res.ratio(p):>5.2f} {replay:>9}  "
            f"{caught}{flag}"
        )
    print(
        "(old: the old protocol's verdict/container runs; replay: recorded calls replayed + "
        "generated inputs, !N calls that behaved differently)"
    )
    print(f"new proofs, in-container step times (median, count): {step_times(res.proofs)}")
    print(f"where the time goes (median s): {time_split(res.proofs)}")
    for p in res.proofs:
        if p.kind == "optimization" and p.speedup:
            claim = "  <-- claims a speed-up" if p.false_claim else ""
            print(f"  optimization in {p.function}: micro-benchmark {p.speedup}{claim}")
    for p in res.proofs:
        if not p.expected or p.status == "error":
            print(f"  {p.kind} in {p.function}, {p.what}: {p.status}: {p.detail}")
            if p.unselected:
                print(f"    failing in the full suite, not selected: {', '.join(p.unselected[:4])}")
        elif p.caught_by == "replay":
            print(f"  {p.kind} in {p.function}, {p.what}: caught by the replay: {p.detail}")
        elif p.unselected:
            print(
                f"  {p.kind} in {p.function}, {p.what}: failing but not selected: "
                f"{', '.join(p.unselected[:3])}" + (" ..." if len(p.unselected) > 3 else "")
            )


def summarize(results: Sequence[LibraryResult]) -> None:
    print("\n## Cost of the new evidence (wall time: new proof / old proof of the same candidate)")
    all_costs: list[float] = []
    for res in results:
        costs = res.costs()
        all_costs += costs
        kinds = "; ".join(f"{kind}s {median(res.costs(kind)):.2f}x" for kind in KINDS)
        new_s = median([p.prove_s for p in res.proofs if p.cost is not None])
        old_s = median([p.old.prove_s for p in res.proofs if p.cost is not None])
        print(
            f"{res.name:<10} new/old median {spread(costs)}: "
            f"{verdict(median(costs) <= TARGET_COST)}; median new {new_s:.2f} s, old "
            f"{old_s:.2f} s; {kinds}"
        )
    proofs = [p for res in results for p in res.proofs]
    timed = [p for p in proofs if p.cost is not None]
    cost = median(all_costs)
    print(
        f"overall    new/old median {spread(all_costs)} (target <= {TARGET_COST}x): "
        f"{verdict(cost <= TARGET_COST)}; median new {median([p.prove_s for p in timed]):.2f} s, "
        f"old {median([p.old.prove_s for p in timed]):.2f} s"
    )
    by_kind = "; ".join(
        f"{kind}s {median([c for res in results for c in res.costs(kind)]):.2f}x" for kind in KINDS
    )
    print(f"           by edit: {by_kind}")

    print("\n## Summary (ratios: wall time / one full-suite run of the same library)")
    all_ratios: list[float] = []
    for res in results:
        ratios = [res.ratio(p) for p in res.proofs]
        all_ratios += ratios
        kinds = ", ".join(
            f"{kind}s {median([res.ratio(p) for p in res.proofs if p.kind == kind]):.2f}x"
            for kind in KINDS
        )
        old = median([res.old_ratio(p) for p in res.proofs])
        print(
            f"{res.name:<10} prove/full median {median(ratios):.2f}x ({kinds}; max "
            f"{max(ratios, default=0):.2f}x; the old proof {old:.2f}x); "
            f"{sum(r <= TARGET_RATIO for r in ratios)}/{len(ratios)} within {TARGET_RATIO}x"
        )
    mutations = [p for p in proofs if p.kind == "mutation"]
    harmless = [p for p in proofs if p.kind != "mutation"]
    misses = [p for p in mutations if p.status != "failed"]
    old_misses = [p for p in mutations if p.old.status != "failed"]
    by_replay = [p for p in mutations if p.caught_by == "replay"]
    replay_saw = [p for p in mutations if p.changed]
    unselected = sum(p.unselected_failures for p in mutations)
    false_alarms = [p for p in harmless if p.status != "passed"]
    claims = [p for p in proofs if p.false_claim]
    start = median([s for res in results for s in res.start_s])
    ratio = median(all_ratios)
    floor = median([median(res.floor_s) / res.full_median_s for res in results])
    old_ratio = median([res.old_ratio(p) for res in results for p in res.proofs])
    print()
    print(
        f"prove one candidate / full suite: median {ratio:.2f}x over {len(all_ratios)} "
        f"candidates (target <= {TARGET_RATIO}x): {verdict(ratio <= TARGET_RATIO)}; "
        f"the old proof {old_ratio:.2f}x; floor (one trivial test) {floor:.2f}x"
    )
    print(
        f"sandbox start, python -c pass: median {start:.2f} s "
        f"(target < {TARGET_START_S:g} s): {verdict(start < TARGET_START_S)}"
    )
    print(
        f"mutations the full suite detects but the proof passes: {len(misses)}/"
        f"{len(mutations)} (target {TARGET_MISSES}): {verdict(len(misses) <= TARGET_MISSES)}; "
        f"rejected by the replay rather than the tests: {len(by_replay)} (the replay saw "
        f"a difference on {len(replay_saw)}); missed by the old "
        f"proof: {len(old_misses)}; failing tests selection left out: {unselected}"
    )
    print(
        f"harmless edits (refactors, optimizations) not proven `passed`: "
        f"{len(false_alarms)}/{len(harmless)}; optimizations claiming a speed-up "
        f"(lower bound >= {SPEED_CLAIM}x) they cannot have: {len(claims)}"
    )


def parse_packages(specs: Sequence[str]) -> list[tuple[str, str]]:
    packages: list[tuple[str, str]] = []
    for spec in specs:
        name, sep, version = spec.partition("==")
        if not sep or not name or not version:
            raise BenchmarkError(f"--package {spec!r}: write NAME==VERSION")
        packages.append((name, version))
    return packages


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--package",
        action="append",
        metavar="NAME==VERSION",
        help=f"a library whose sdist ships its tests (repeatable; default {DEFAULT_PACKAGES})",
    )
    parser.add_argument("--functions", type=int, default=10, help="functions per library")
    parser.add_argument("--seed", type=int, default=1, help="which functions and sites")
    parser.add_argument(
        "--full-runs", type=int, default=FULL_RUNS, help="full-suite runs per library (median)"
    )
    parser.add_argument(
        "--pytest-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra pytest argument of every measured run, as a repository config's "
        "pytest_args (repeatable; e.g. --pytest-arg=--tb=native)",
    )
    args = parser.parse_args(argv)
    if args.functions < 1 or args.full_runs < 1:
        parser.error("--functions and --full-runs must be at least 1")
    options = Options(args.functions, args.seed, args.full_runs, tuple(args.pytest_arg))
    started = time.perf_counter()
    load_before = os.getloadavg()
    try:
        packages = parse_packages(args.package or DEFAULT_PACKAGES)
        sandbox = sandbox_from_env(os.environ)
        results: list[LibraryResult] = []
        for name, version in packages:
            bench = LibraryBench(sandbox, name, version, options)
            results.append(bench.run())
            print_library(results[-1])
    except (BenchmarkError, ProvenFixError) as exc:
        say(f"benchmark failed: {exc}")
        return 2
    summarize(results)
    load = ", ".join(
        f"{a:.1f} -> {b:.1f}" for a, b in zip(load_before, os.getloadavg(), strict=True)
    )
    print(
        f"\n(total {time.perf_counter() - started:.0f} s on {os.cpu_count()} CPUs; load average "
        f"1/5/15 min before -> after: {load}; each sandbox run gets "
        f"{sandbox.settings.limits.cpus:g} CPU)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
