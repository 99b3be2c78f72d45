"""Tests that run the code under test in another Python process are selected, and judge it.

The baseline's coverage reaches the Python processes a test starts (`subprocess` with
`sys.executable`, multiprocessing's spawn and fork): their lines count for the test that
started them (jobs/validation/probe_cover.py, probe_children.py). Real runs: the local runner
(no container) for most, the Docker sandbox for one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from repo_support import MakeRepo

from provenfix.jobs.diff import compute_change, open_repo
from provenfix.jobs.generation.edits import candidate_id
from provenfix.jobs.report import Candidate, SuggestionKind, Validation, ValidationStatus
from provenfix.jobs.sandbox.env_image import EnvImage
from provenfix.jobs.sandbox.runner import DockerSandbox
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.snapshot import Snapshot, take_snapshot
from provenfix.jobs.tree import export_tree
from provenfix.jobs.validation import probe_children, testrun
from provenfix.jobs.validation.local_runner import SubprocessTestRunner
from provenfix.jobs.validation.probe_cover import Session
from provenfix.jobs.validation.selection import select_tests
from provenfix.jobs.validation.validator import Case, Validator

OPS = """def triple(x):
    return x * 3


def square(x):
    return x * x


def halve(x):
    return x // 2


def negate(x):
    return -x
"""

OPS_TESTS = """import multiprocessing
import subprocess
import sys

from calc.ops import negate


def test_triple_in_a_subprocess():
    code = "from calc.ops import triple; print(triple(4))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout == "12\\n"
    assert out.stderr == ""  # measuring the child writes nothing there


def test_square_in_a_spawned_process():
    from calc.ops import square

    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.map(square, [3, 4]) == [9, 16]


def test_halve_in_a_forked_process():
    from calc.ops import halve

    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.map(halve, [8, 9]) == [4, 4]


def test_negate_beside_a_program_that_is_not_python():
    assert subprocess.run(["/bin/true"]).returncode == 0
    assert negate(2) == -2
"""

SUBPROCESS_TEST = "tests/test_ops.py::test_triple_in_a_subprocess"
SPAWN_TEST = "tests/test_ops.py::test_square_in_a_spawned_process"
FORK_TEST = "tests/test_ops.py::test_halve_in_a_forked_process"
PLAIN_TEST = "tests/test_ops.py::test_negate_beside_a_program_that_is_not_python"

# a process that outlives the test that started it: a module fixture's server
WORKER = """import sys


def main():
    for line in sys.stdin:
        sys.stdout.write(line.upper())
        sys.stdout.flush()


if __name__ == "__main__":
    main()
"""

WORKER_TESTS = """import subprocess
import sys

import pytest


@pytest.fixture(scope="module")
def worker():
    proc = subprocess.Popen(
        [sys.executable, "-m", "calc.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    yield proc
    proc.stdin.close()
    proc.wait()


def ask(worker, text):
    worker.stdin.write(text + "\\n")
    worker.stdin.flush()
    return worker.stdout.readline()


def test_first(worker):
    assert ask(worker, "a") == "A\\n"


def test_second(worker):
    assert ask(worker, "b") == "B\\n"


def test_unrelated():
    assert True
"""


def cand(text: str, path: str, line: int, new_line: str) -> Candidate:
    original = text.splitlines(keepends=True)[line - 1]
    replacement = new_line + "\n"
    return Candidate(
        id=candidate_id(path, line, original, replacement, "test"),
        finding_ids=(),
        kind=SuggestionKind.REFACTOR,
        source="test",
        path=path,
        start_line=line,
        end_line=line,
        original=original,
        replacement=replacement,
        description="test edit",
    )


def pull_request(
    make_repo: MakeRepo, tmp_path: Path, files: dict[str, str]
) -> tuple[Snapshot, Path]:
    repo = make_repo({"README.md": "calc\n"}, {"calc/__init__.py": "", **files})
    opened = open_repo(repo.path)
    change = compute_change(opened, "main", "pr")
    snapshot = take_snapshot(change, AnalysisSettings(), tmp_path / "snap")
    return snapshot, export_tree(opened, change.head_sha, tmp_path / "head")


def local_runner(tmp_path: Path) -> SubprocessTestRunner:
    runs = tmp_path / "runs"
    runs.mkdir()
    return SubprocessTestRunner(runs, environ={"PATH": os.defpath})


def judge(
    runner: testrun.TestRunner,
    tmp_path: Path,
    snapshot: Snapshot,
    tree: Path,
    candidates: list[Candidate],
    judged: int | None = None,  # the first ones validated; the others are only selected
) -> tuple[dict[str, frozenset[str]], dict[str, Validation]]:
    (tmp_path / "trees").mkdir()
    # one run (not three), one candidate a run: what is selected and how it ends is the point
    validator = Validator(runner, tmp_path / "trees", repeats=1, combine=False)
    baseline = validator.baseline(tree)
    assert baseline.run.result is not None, baseline.run.detail
    assert all(o.outcome == "passed" for o in baseline.outcomes.values()), baseline.outcomes
    selected = select_tests(candidates, snapshot, baseline.coverage)
    cases = [Case(c, selected[c.id]) for c in candidates[:judged]]
    return selected, dict(validator.validate(tree, baseline, cases))


def check_children_judge(
    runner: testrun.TestRunner, tmp_path: Path, snapshot: Snapshot, tree: Path
) -> None:
    wrong_triple = cand(OPS, "calc/ops.py", 2, "    return x * 4")
    same_triple = cand(OPS, "calc/ops.py", 2, "    return x + x + x")
    wrong_square = cand(OPS, "calc/ops.py", 6, "    return x + x")
    wrong_halve = cand(OPS, "calc/ops.py", 10, "    return x // 4")
    wrong_negate = cand(OPS, "calc/ops.py", 14, "    return x")
    candidates = [wrong_triple, same_triple, wrong_square, wrong_halve, wrong_negate]
    selected, verdicts = judge(runner, tmp_path, snapshot, tree, candidates, judged=3)

    # without the children's coverage, the first three would select nothing at all
    assert selected[wrong_triple.id] == selected[same_triple.id] == {SUBPROCESS_TEST}
    assert selected[wrong_square.id] == {SPAWN_TEST}
    assert selected[wrong_halve.id] == {FORK_TEST}
    assert selected[wrong_negate.id] == {PLAIN_TEST}  # /bin/true beside it changes nothing
    for wrong, test in [(wrong_triple, SUBPROCESS_TEST), (wrong_square, SPAWN_TEST)]:
        assert verdicts[wrong.id].status is ValidationStatus.FAILED, verdicts[wrong.id]
        assert verdicts[wrong.id].new_failures == (test,)
    proven = verdicts[same_triple.id]
    assert proven.status is ValidationStatus.PASSED, proven
    assert proven.passing_tests == (SUBPROCESS_TEST,)


def test_tests_that_run_the_code_in_child_processes_are_selected_and_reject_wrong_candidates(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    snapshot, tree = pull_request(
        make_repo, tmp_path, {"calc/ops.py": OPS, "tests/test_ops.py": OPS_TESTS}
    )
    check_children_judge(local_runner(tmp_path), tmp_path, snapshot, tree)


def test_a_process_that_outlives_its_test_sends_its_code_to_the_whole_suite(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    snapshot, tree = pull_request(
        make_repo, tmp_path, {"calc/worker.py": WORKER, "tests/test_worker.py": WORKER_TESTS}
    )
    # the worker serves both tests but was started by the first one: its lines arrive when
    # the module's fixture ends it, after that test, so no single test may claim them
    wrong = cand(WORKER, "calc/worker.py", 6, "        sys.stdout.write(line.lower())")
    selected, verdicts = judge(local_runner(tmp_path), tmp_path, snapshot, tree, [wrong])
    assert len(selected[wrong.id]) == 3  # the whole suite, test_unrelated included
    assert verdicts[wrong.id].status is ValidationStatus.FAILED


# --- the session and the hook, without pytest around them ------------------------------------

MODULE = "def f(x):\n    return x + 1\n\n\ndef g(x):\n    return x - 1\n"


def child(
    code: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[Session, Path]]:
    root = tmp_path / "root"
    root.mkdir()
    (root / "mod.py").write_text(MODULE, encoding="utf-8")
    probe_dir = os.path.realpath(root / ".provenfix_probe")
    os.mkdir(probe_dir)  # as in a run: the hook lives in the probe's folder, left out
    opened = Session(os.path.realpath(root), [probe_dir], lambda: None, probe_dir)
    try:
        yield opened, root
    finally:
        opened.finish()


def test_each_way_out_of_a_child_leaves_its_lines_with_the_test(
    session: tuple[Session, Path],
) -> None:
    opened, root = session
    opened.enter()
    assert child("import mod; mod.f(1)", root).returncode == 0
    assert child("import mod, os; mod.g(1); os._exit(3)", root).returncode == 3
    opened.leave("t::exits")
    opened.enter()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import mod, sys, time; mod.f(2); print('up', flush=True); time.sleep(60)",
        ],
        cwd=root,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "up\n"
    proc.terminate()
    assert proc.wait(timeout=30) == -signal.SIGTERM  # still ends by the signal
    proc.stdout.close()
    opened.leave("t::terminated")
    assert opened.lines.tests["t::exits"] == {"mod.py": {1, 2, 5, 6}}
    assert opened.lines.tests["t::terminated"] == {"mod.py": {1, 2, 5}}


def test_a_child_that_runs_no_repository_code_starts_no_measurement(
    session: tuple[Session, Path],
) -> None:
    opened, root = session
    opened.enter()
    out = child("import json, sys; print('coverage' in sys.modules)", root)
    assert (out.stdout, out.stderr) == ("False\n", "")
    assert child("import mod, sys; print('coverage' in sys.modules)", root).stdout == "True\n"
    assert subprocess.run(["/bin/true"], check=False).returncode == 0
    opened.leave("t")
    assert opened.lines.tests["t"] == {"mod.py": {1, 5}}  # the import: defs only


def test_the_sitecustomize_it_shadows_still_runs(
    session: tuple[Session, Path], tmp_path: Path
) -> None:
    opened, root = session
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "sitecustomize.py").write_text("import sys\nsys.their_site = True\n")
    opened.enter()
    env = {**os.environ, "PYTHONPATH": os.environ["PYTHONPATH"] + os.pathsep + str(theirs)}
    code = "import sys, mod; mod.f(0); print(sys.their_site, 'coverage' in sys.modules)"
    assert child(code, root, env).stdout == "True True\n"
    opened.leave("t")
    assert opened.lines.tests["t"] == {"mod.py": {1, 2, 5}}


def test_files_that_are_not_records_count_for_nothing_and_late_ones_for_outside(
    session: tuple[Session, Path],
) -> None:
    opened, root = session
    opened.enter()
    folder = Path(os.environ[probe_children.DIR_VAR])
    folder.mkdir()
    forged = {"../up.py": [1], "/abs.py": [1], "a//b.py": [1], "ok.py": [1, "2", -3, True]}
    (folder / "1.json").write_text(json.dumps({"lines": forged}), encoding="utf-8")
    (folder / "2.json").write_text("not json")
    opened.leave("t")
    assert opened.lines.tests["t"] == {"ok.py": {1}}
    assert (
        child(
            "import mod; mod.g(0)", root, env={**os.environ, probe_children.DIR_VAR: str(folder)}
        ).returncode
        == 0
    )
    lines = opened.finish()
    assert lines.outside == {"mod.py": {1, 5, 6}}  # written after its test ended
    assert probe_children.DIR_VAR not in os.environ and not Path(opened.base).exists()


@pytest.mark.docker
def test_in_the_sandbox(
    make_repo: MakeRepo,
    sandbox: DockerSandbox,
    plain_env: EnvImage,
    tmp_path: Path,
) -> None:
    snapshot, tree = pull_request(
        make_repo, tmp_path, {"calc/ops.py": OPS, "tests/test_ops.py": OPS_TESTS}
    )
    runs = tmp_path / "runs"
    runs.mkdir()
    runner = testrun.SandboxTestRunner(sandbox, plain_env.tag, runs)
    check_children_judge(runner, tmp_path, snapshot, tree)
