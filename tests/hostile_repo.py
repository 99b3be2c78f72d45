"""The `stats` repository (tests/stats_repo.py) with hostile links on both sides.

The base branch already holds links out of the tree and loops; the pull request adds
more, next to its `== None` change in stats.py. Links that stay inside the tree are on
the base branch too, and the tests read through them: if they broke, `test_missing`
would fail at head.
"""

from __future__ import annotations

import os
from typing import Any

from repo_support import GitRepo, MakeRepo
from stats_repo import BASE, HEAD

from provenfix.jobs.links import ABSOLUTE, CYCLE, LOOP, OUTSIDE
from provenfix.jobs.report import Report, ValidationStatus

TESTS = """import pathlib

from stats import is_missing, mean

HERE = pathlib.Path(__file__).parent


def test_mean():
    assert mean([1, 2, 3]) == 2


def test_missing():
    # links that stay inside the tree work as ever
    assert (HERE / "fixtures" / "value.txt").read_text() == "42\\n"
    assert (HERE.parent / "alias.py").read_text().startswith("def mean")
    assert is_missing(None) and not is_missing(0)
"""

INSIDE_LINKS = {"alias.py": "stats.py", "tests/fixtures": "../data"}
BASE_LINKS = {
    "escape": "/etc/passwd",  # a file, absolute
    "host_etc": "/etc",  # a folder, absolute
    "up": "../../outside",  # out of the tree with ../
    "loop": ".",  # dir -> .
    "tests/again": "..",  # a loop through the tests folder
    "a": "b",  # a -> b -> a
    "b": "a",
}
HEAD_LINKS = {
    "leak.txt": "/etc/shadow",
    "parent": "..",
    "tests/deeper": ".",
}
# what the report's `skipped` says about each hostile link
EXPECTED = {
    "escape": ABSOLUTE,
    "host_etc": ABSOLUTE,
    "up": OUTSIDE,
    "loop": CYCLE,
    "tests/again": CYCLE,
    "a": LOOP,
    "b": LOOP,
    "leak.txt": ABSOLUTE,
    "parent": OUTSIDE,
    "tests/deeper": CYCLE,
}


def link(repo: GitRepo, links: dict[str, str]) -> None:
    for name, target in links.items():
        path = repo.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)


def make_stats_repo(make_repo: MakeRepo, *, hostile: bool, name: str = "repo") -> GitRepo:
    repo = make_repo(
        {"stats.py": BASE, "tests/test_stats.py": TESTS, "data/value.txt": "42\n"}, name=name
    )
    link(repo, {**INSIDE_LINKS, **(BASE_LINKS if hostile else {})})
    repo.commit({}, "links")
    repo.branch("pr")
    if hostile:
        link(repo, HEAD_LINKS)
    repo.commit({"stats.py": HEAD}, "pull request")
    return repo


def outcome(report: Report) -> dict[str, Any]:
    """What the normal files' analysis came to."""
    return {
        "findings": [(f.rule_id, f.path, f.start_line, f.end_line) for f in report.findings],
        "suggestions": [
            (
                s.path,
                s.start_line,
                s.end_line,
                s.validation.status,
                s.validation.tests_selected,
                s.validation.tests_run,
                s.validation.passing_tests,
                s.committable,
            )
            for s in report.suggestions
        ],
    }


def check_hostile_report(report: Report) -> None:
    skipped = {s.path: s.reason for s in report.skipped}
    for path, reason in EXPECTED.items():
        assert skipped.get(path) == reason, (path, skipped.get(path))
    assert not {"(test environment)", "(test suite)"} & set(skipped), skipped
    assert [f for f in report.findings if f.source.value == "tests"] == []
    (eq_none,) = [s for s in report.suggestions if s.path == "stats.py"]
    assert eq_none.validation.status is ValidationStatus.PASSED, eq_none.validation
    # one covering test, once: not again through `loop/`, `tests/again/`, `tests/deeper/`
    assert eq_none.validation.tests_selected == 1
    assert eq_none.validation.passing_tests == ("tests/test_stats.py::test_missing",)
    assert eq_none.committable
