"""The validation protocol on the real Docker sandbox and a real repository."""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_support import GitRepo, MakeRepo

from provenfix.jobs.diff import compute_change, open_repo
from provenfix.jobs.generation.edits import candidate_id
from provenfix.jobs.report import Candidate, SuggestionKind, Validation, ValidationStatus
from provenfix.jobs.sandbox.runner import DockerSandbox
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.snapshot import take_snapshot
from provenfix.jobs.tree import export_tree
from provenfix.jobs.validation.failures import failure_findings
from provenfix.jobs.validation.replay import ReplayPlan
from provenfix.jobs.validation.selection import select_tests
from provenfix.jobs.validation.testrun import RecordTarget, ReplaySpec, SandboxTestRunner
from provenfix.jobs.validation.validator import Baseline, Case, Validator

OPS = """def add(a, b):
    return a + b


def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x


def double(x):
    return x * 2


def untested(x):
    return x - 1
"""

TESTS = """from calc.ops import add, clamp, double


def test_add():
    assert add(2, 3) == 5


def test_clamp_low():
    assert clamp(-5, 0, 10) == 0


def test_clamp_high():
    assert clamp(50, 0, 10) == 10


def test_clamp_inside():
    assert clamp(5, 0, 10) == 5


def test_double():
    assert double(4) == 8
"""


def cand(text: str, path: str, line: int, new_line: str, kind: SuggestionKind) -> Candidate:
    original = text.splitlines(keepends=True)[line - 1]
    replacement = new_line + "\n"
    return Candidate(
        id=candidate_id(path, line, original, replacement, "test"),
        finding_ids=(),
        kind=kind,
        source="test",
        path=path,
        start_line=line,
        end_line=line,
        original=original,
        replacement=replacement,
        description="test edit",
    )


@pytest.fixture
def broken_pr(make_repo: MakeRepo) -> GitRepo:
    """The PR turns `a + b` into `a - b`: test_add fails at head."""
    return make_repo(
        {"calc/__init__.py": "", "calc/ops.py": OPS, "tests/test_ops.py": TESTS},
        {"calc/ops.py": OPS.replace("return a + b", "return a - b")},
    )


@pytest.fixture
def head(broken_pr: GitRepo, tmp_path: Path):  # type: ignore[no-untyped-def]
    repo = open_repo(broken_pr.path)
    change = compute_change(repo, "main", "pr")
    snapshot = take_snapshot(change, AnalysisSettings(), tmp_path / "snap")
    tree = export_tree(repo, change.head_sha, tmp_path / "head")
    return change, snapshot, tree


def validator_for(sandbox: DockerSandbox, image: str, tmp_path: Path, **kw: object) -> Validator:
    runs = tmp_path / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    (tmp_path / "trees").mkdir(exist_ok=True)
    return Validator(SandboxTestRunner(sandbox, image, runs), tmp_path / "trees", **kw)  # type: ignore[arg-type]


def validate(
    validator: Validator,
    tree: Path,
    baseline: Baseline,
    candidates: list[Candidate],
    selected: dict[str, frozenset[str]],
    targets: dict[str, frozenset[str]] | None = None,
) -> dict[str, Validation]:
    cases = [
        Case(c, selected.get(c.id, frozenset()), (targets or {}).get(c.id, frozenset()))
        for c in candidates
    ]
    return validator.validate(tree, baseline, cases)


def test_baseline_records_outcomes_and_per_test_coverage(
    head,
    sandbox: DockerSandbox,
    plain_env,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    _, _, tree = head
    baseline = validator_for(sandbox, plain_env.tag, tmp_path).baseline(tree)
    outcomes = {k: v.outcome for k, v in baseline.outcomes.items()}
    assert outcomes == {
        "tests/test_ops.py::test_add": "failed",
        "tests/test_ops.py::test_clamp_low": "passed",
        "tests/test_ops.py::test_clamp_high": "passed",
        "tests/test_ops.py::test_clamp_inside": "passed",
        "tests/test_ops.py::test_double": "passed",
    }
    covering = baseline.coverage.tests_covering("calc/ops.py", [7])  # `return lo`
    assert covering == {"tests/test_ops.py::test_clamp_low"}
    assert baseline.coverage.tests_covering("calc/ops.py", [18]) == frozenset()  # untested
    assert "assert -1 == 5" in baseline.outcomes["tests/test_ops.py::test_add"].message


def test_failing_test_becomes_a_finding_at_the_changed_line(
    head,
    sandbox: DockerSandbox,
    plain_env,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    _, snapshot, tree = head
    baseline = validator_for(sandbox, plain_env.tag, tmp_path).baseline(tree)
    (finding,) = failure_findings(
        baseline.failing, snapshot, baseline.coverage, lambda ids: set(), lambda p: None
    )
    assert (finding.path, finding.start_line, finding.function) == ("calc/ops.py", 2, "add")
    assert finding.test == "tests/test_ops.py::test_add"
    assert finding.category.value == "test-failure" and "assert -1 == 5" in finding.message


def test_verdicts_with_per_test_evidence(
    head,
    sandbox: DockerSandbox,
    plain_env,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    _, snapshot, tree = head
    text = (tree / "calc/ops.py").read_text()
    repair = cand(text, "calc/ops.py", 2, "    return a + b", SuggestionKind.REPAIR)
    wrong_repair = cand(text, "calc/ops.py", 2, "    return a * b", SuggestionKind.REPAIR)
    breaking = cand(text, "calc/ops.py", 7, "        return hi", SuggestionKind.REFACTOR)
    harmless = cand(text, "calc/ops.py", 14, "    return x + x", SuggestionKind.OPTIMIZATION)
    uncovered = cand(text, "calc/ops.py", 18, "    return x + -1", SuggestionKind.REFACTOR)
    garbage = cand(text, "calc/ops.py", 14, "    return x +", SuggestionKind.REFACTOR)
    candidates = [repair, wrong_repair, breaking, harmless, uncovered, garbage]
    validator = validator_for(sandbox, plain_env.tag, tmp_path)
    baseline = validator.baseline(tree)
    selected = select_tests(candidates, snapshot, baseline.coverage)
    target = frozenset({"tests/test_ops.py::test_add"})
    verdicts = validate(
        validator,
        tree,
        baseline,
        candidates,
        selected,
        {repair.id: target, wrong_repair.id: target},
    )

    assert verdicts[repair.id].status is ValidationStatus.PASSED
    assert verdicts[repair.id].fixed_tests == ("tests/test_ops.py::test_add",)
    assert verdicts[repair.id].runs == 3
    assert "tests/test_ops.py::test_add" in verdicts[repair.id].passing_tests
    assert verdicts[wrong_repair.id].status is ValidationStatus.FAILED
    assert "does not make the failing test" in verdicts[wrong_repair.id].detail
    assert verdicts[breaking.id].status is ValidationStatus.FAILED
    assert verdicts[breaking.id].new_failures == ("tests/test_ops.py::test_clamp_low",)
    assert verdicts[breaking.id].tests_selected == 1  # only the test that runs line 7
    assert verdicts[harmless.id].status is ValidationStatus.PASSED
    assert verdicts[harmless.id].tests_run == 1 and verdicts[harmless.id].tests_failed == 0
    assert verdicts[harmless.id].passing_tests == ("tests/test_ops.py::test_double",)
    assert verdicts[uncovered.id].status is ValidationStatus.NO_TESTS
    assert verdicts[garbage.id].status is ValidationStatus.FAILED
    assert verdicts[garbage.id].detail.startswith("does not parse")
    return None


def test_combined_runs_give_the_same_verdicts_as_one_by_one(
    head,
    sandbox: DockerSandbox,
    plain_env,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    _, snapshot, tree = head
    text = (tree / "calc/ops.py").read_text()
    candidates = [
        cand(text, "calc/ops.py", 2, "    return b + a", SuggestionKind.REPAIR),
        cand(text, "calc/ops.py", 7, "        return hi", SuggestionKind.REFACTOR),  # breaks
        cand(text, "calc/ops.py", 9, "        return max(hi, lo)", SuggestionKind.REFACTOR),
        cand(text, "calc/ops.py", 14, "    return x + x", SuggestionKind.OPTIMIZATION),
    ]
    results = []
    for combine in (True, False):
        validator = validator_for(sandbox, plain_env.tag, tmp_path / str(combine), combine=combine)
        baseline = validator.baseline(tree)
        selected = select_tests(candidates, snapshot, baseline.coverage)
        verdicts = validate(validator, tree, baseline, candidates, selected)
        results.append(
            {
                k: (v.status, v.new_failures, v.fixed_tests, v.tests_selected)
                for k, v in verdicts.items()
            }
        )
    assert results[0] == results[1]
    assert [results[0][c.id][0] for c in candidates] == [
        ValidationStatus.PASSED,
        ValidationStatus.FAILED,
        ValidationStatus.PASSED,
        ValidationStatus.PASSED,
    ]


def test_a_suite_that_cannot_run_makes_every_candidate_an_error(
    make_repo: MakeRepo,
    sandbox: DockerSandbox,
    plain_env,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    repo = make_repo({"m.py": "x = 1\n", "tests/test_m.py": "import nowhere_to_be_found\n"})
    tree = export_tree(open_repo(repo.path), repo.git("rev-parse", "HEAD"), tmp_path / "t")
    validator = validator_for(sandbox, plain_env.tag, tmp_path)
    baseline = validator.baseline(tree)
    assert baseline.run.detail.startswith("collection error")
    c = cand("x = 1\n", "m.py", 1, "x = 2", SuggestionKind.REFACTOR)
    (verdict,) = validate(validator, tree, baseline, [c], {c.id: frozenset()}).values()
    assert verdict.status in {ValidationStatus.NO_TESTS, ValidationStatus.ERROR}


SLOW = """def common(a, b):
    out = []
    for x in a:
        if x in b:
            out.append(x)
    return out
"""
SLOW_TEST = """from slow import common


def test_common():
    a = list(range(3000))
    b = list(range(1500, 4500))
    assert common(a, b) == list(range(1500, 3000))
"""


def test_a_real_speed_up_is_measured_on_replayed_calls_with_an_interval(
    make_repo: MakeRepo,
    sandbox: DockerSandbox,
    plain_env,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    repo = make_repo({"slow.py": SLOW, "tests/test_slow.py": SLOW_TEST})
    tree = export_tree(open_repo(repo.path), repo.git("rev-parse", "HEAD"), tmp_path / "t")
    original = "".join(SLOW.splitlines(keepends=True)[2:4])
    faster = Candidate(
        id="set-lookup",
        finding_ids=(),
        kind=SuggestionKind.OPTIMIZATION,
        source="test",
        path="slow.py",
        start_line=3,
        end_line=4,
        original=original,
        replacement="    b = set(b)\n    for x in a:\n        if x in b:\n",
        description="looks up in a set",
    )
    validator = validator_for(sandbox, plain_env.tag, tmp_path)
    baseline = validator.baseline(tree, [RecordTarget("slow.py", "common", 1, 6)])
    (recorded,) = baseline.recorded
    assert (recorded.module, recorded.total, len(recorded.calls)) == ("slow", 1, 1)
    assert recorded.calls[0]["result"] == list(range(1500, 3000))
    plan = ReplayPlan(
        specs=(
            ReplaySpec("slow.py", "common", "slow", (recorded.calls[0]["args"],), bench_rounds=15),
        ),
        recorded={"common": recorded},
        generated={},
    )
    test = frozenset({"tests/test_slow.py::test_common"})
    (verdict,) = validator.validate(tree, baseline, [Case(faster, test, replay=plan)]).values()
    assert verdict.status is ValidationStatus.PASSED, verdict.detail
    assert verdict.replay is not None and verdict.replay.calls_replayed == 1
    assert verdict.replay.calls_changed == 0
    speed = verdict.speed
    assert speed is not None and speed.rounds >= 3 and speed.calls == 1
    assert speed.significant and speed.low > 3  # quadratic scan against set lookups


REGISTRY = """HANDLERS = {}


def register(name):
    def wrap(fn):
        HANDLERS[name] = fn
        return fn
    return wrap


@register("upper")
def upper(text):
    return text.upper()
"""
REGISTRY_TESTS = """from registry import HANDLERS, upper


def test_upper():
    assert upper("a") == "A"


def test_registered():
    assert "upper" in HANDLERS
"""


def test_code_run_at_import_is_judged_by_the_whole_suite(
    make_repo: MakeRepo,
    sandbox: DockerSandbox,
    plain_env,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    repo = make_repo(
        {"registry.py": "x = 1\n"}, {"registry.py": REGISTRY, "tests/test_r.py": REGISTRY_TESTS}
    )
    repo_obj = open_repo(repo.path)
    change = compute_change(repo_obj, "main", "pr")
    snapshot = take_snapshot(change, AnalysisSettings(), tmp_path / "snap")
    tree = export_tree(repo_obj, change.head_sha, tmp_path / "head")
    # the decorator line runs at import: no test's context covers it
    decorator = cand(REGISTRY, "registry.py", 11, '@register("UPPER")', SuggestionKind.REFACTOR)
    body = cand(REGISTRY, "registry.py", 13, "    return str.upper(text)", SuggestionKind.REFACTOR)
    validator = validator_for(sandbox, plain_env.tag, tmp_path)
    baseline = validator.baseline(tree)
    selected = select_tests([decorator, body], snapshot, baseline.coverage)
    assert selected[decorator.id] == frozenset(baseline.outcomes)
    assert selected[body.id] == {"tests/test_r.py::test_upper"}
    verdicts = validate(validator, tree, baseline, [decorator, body], selected)
    assert verdicts[decorator.id].new_failures == ("tests/test_r.py::test_registered",)
    assert verdicts[body.id].status is ValidationStatus.PASSED
