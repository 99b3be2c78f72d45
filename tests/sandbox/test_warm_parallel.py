"""Candidates proven in parallel on warm sandboxes get the verdicts of one run after another.

The reference is the Validator with today's one-shot containers (SandboxTestRunner), one
candidate at a time; the same candidates (a right and a wrong repair, a breaking refactoring,
a wrong fix that only an order-dependent test catches, a harmless one) are then proven three
at a time, one per warm container, and with shared runs whose rejection splits them into
halves judged in parallel.
"""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
from sandbox_support import write_tree

from provenfix.jobs.diff import compute_change, open_repo
from provenfix.jobs.report import Candidate, SuggestionKind
from provenfix.jobs.sandbox.env_image import EnvImage
from provenfix.jobs.sandbox.runner import DockerSandbox
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.snapshot import take_snapshot
from provenfix.jobs.tree import export_tree
from provenfix.jobs.validation import testrun
from provenfix.jobs.validation.selection import select_tests
from provenfix.jobs.validation.testrun import SandboxTestRunner, close_runner
from provenfix.jobs.validation.validator import Case, Validator
from provenfix.jobs.validation.warm_runner import WarmTestRunner

pytestmark = pytest.mark.docker

OPS = """def add(a, b):
    return a - b


def clamp(x, lo, hi):
    if x < lo:
        return lo
    return x


def inc(x):
    return x + 1
"""
TESTS = {
    "calc/__init__.py": "",
    "calc/ops.py": OPS,
    "tests/test_ops.py": textwrap.dedent(
        """\
        from calc.ops import add, clamp

        def test_add():
            assert add(2, 3) == 5

        def test_clamp_low():
            assert clamp(-5, 0, 10) == 0

        def test_clamp_inside():
            assert clamp(5, 0, 10) == 5
        """
    ),
    # order-dependent: the check of inc only runs after the first test of the module
    "tests/test_order.py": textwrap.dedent(
        """\
        from calc.ops import inc

        STATE = {}

        def test_a_prepares():
            STATE["ready"] = True
            assert STATE

        def test_b_checks():
            if STATE.get("ready"):
                assert inc(1) == 2
        """
    ),
}


def edit(line: int, new: str, kind: SuggestionKind) -> Candidate:
    original = OPS.splitlines(keepends=True)[line - 1]
    return Candidate(
        id=f"{line}-{new.strip()}",
        finding_ids=(),
        kind=kind,
        source="test",
        path="calc/ops.py",
        start_line=line,
        end_line=line,
        original=original,
        replacement=new + "\n",
        description="test edit",
    )


def test_candidates_proven_in_parallel_get_the_verdicts_of_one_by_one(
    sandbox: DockerSandbox, plain_env: EnvImage, tmp_path: Path
) -> None:
    repo = write_tree(tmp_path / "repo", TESTS)
    for args in (["init", "-q", "-b", "main"], ["add", "."]):
        _git(repo, *args)
    _git(repo, "commit", "-qm", "base")
    _git(repo, "checkout", "-qb", "pr")
    (repo / "calc/ops.py").write_text(OPS + "\n\ndef extra(x):\n    return x\n")
    _git(repo, "commit", "-qam", "pr")
    change = compute_change(open_repo(repo), "main", "pr")
    snapshot = take_snapshot(change, AnalysisSettings(), tmp_path / "snap")
    tree = export_tree(open_repo(repo), change.head_sha, tmp_path / "head")
    candidates = [
        edit(2, "    return a + b", SuggestionKind.REPAIR),  # right
        edit(2, "    return a * b", SuggestionKind.REPAIR),  # wrong
        edit(7, "        return hi", SuggestionKind.REFACTOR),  # breaks test_clamp_low
        edit(12, "    return x + 2", SuggestionKind.REFACTOR),  # caught only in order
        edit(8, "    return x if x >= lo else lo", SuggestionKind.REFACTOR),  # harmless
    ]
    target = frozenset({"tests/test_ops.py::test_add"})
    targets = {c.id: target for c in candidates[:2]}

    def verdicts(runner: testrun.TestRunner, name: str, combine: bool) -> dict[str, object]:
        (tmp_path / name).mkdir()
        try:
            return validate(Validator(runner, tmp_path / name, combine=combine))
        finally:
            close_runner(runner)

    def validate(validator: Validator) -> dict[str, object]:
        baseline = validator.baseline(tree)
        selected = select_tests(candidates, snapshot, baseline.coverage)
        cases = [
            Case(c, selected.get(c.id, frozenset()), targets.get(c.id, frozenset()))
            for c in candidates
        ]
        found = validator.validate(tree, baseline, cases)
        return {
            k: (v.status, v.new_failures, v.fixed_tests, v.tests_selected, v.passing_tests)
            for k, v in found.items()
        }

    def runner(name: str, parallel: int) -> WarmTestRunner:
        return WarmTestRunner(sandbox, plain_env.tag, tmp_path / f"runs-{name}", parallel=parallel)

    (tmp_path / "runs-c").mkdir()
    today = SandboxTestRunner(sandbox, plain_env.tag, tmp_path / "runs-c")
    one_by_one = verdicts(today, "c", False)
    parallel = runner("p", 3)
    assert verdicts(parallel, "p", False) == one_by_one
    assert parallel.containers_started == 3  # the five candidates ran three at a time
    assert verdicts(runner("q", 2), "q", True) == one_by_one  # shared runs, split halves
    statuses = [one_by_one[c.id][0].value for c in candidates]  # type: ignore[index]
    assert statuses == ["passed", "failed", "failed", "failed", "passed"]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@example.org",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@example.org",
            "PATH": "/usr/bin:/bin",
        },
    )
