"""Links out of the tree and link loops, on the base branch and added by a pull request:
reported as skipped, never followed, never a crash; the normal files' results stand.

The pipeline runs for real here with `--sandbox none` (tests/validation/
test_hostile_trees_docker.py runs the same repository in the sandbox).
"""

from __future__ import annotations

import os
from pathlib import Path

from hostile_repo import (
    BASE_LINKS,
    EXPECTED,
    HEAD_LINKS,
    INSIDE_LINKS,
    check_hostile_report,
    make_stats_repo,
    outcome,
)
from repo_support import MakeRepo

from provenfix.jobs.config import PipelineConfig
from provenfix.jobs.diff import compute_change, open_repo
from provenfix.jobs.factory import build_pipeline
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.tree import export_revision


def test_the_diff_reports_every_hostile_link_with_its_reason(make_repo: MakeRepo) -> None:
    repo = make_stats_repo(make_repo, hostile=True)
    change = compute_change(open_repo(repo.path), "main", "pr")
    assert [f.path for f in change.files] == ["stats.py"]
    assert {s.path: s.reason for s in change.skipped} == EXPECTED


def test_exported_trees_leave_them_out(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_stats_repo(make_repo, hostile=True)
    change = compute_change(open_repo(repo.path), "main", "pr")
    for sha, links in (
        (change.head_sha, {**BASE_LINKS, **HEAD_LINKS}),
        (change.base_sha, BASE_LINKS),
    ):
        exported = export_revision(change.repo, sha, tmp_path / sha)
        assert {s.path: s.reason for s in exported.left_out} == {p: EXPECTED[p] for p in links}
        for path in links:
            assert not os.path.lexists(exported.root / path), path
        for path, target in INSIDE_LINKS.items():
            assert os.readlink(exported.root / path) == target
        assert (exported.root / "tests" / "fixtures" / "value.txt").read_text() == "42\n"


def test_the_pipeline_without_a_sandbox(make_repo: MakeRepo) -> None:
    pipeline = build_pipeline(AnalysisSettings(), PipelineConfig(validation="none"))
    hostile = pipeline.run(
        AnalysisRequest(make_stats_repo(make_repo, hostile=True).path, "main", "pr")
    )
    check_hostile_report(hostile)
    control = pipeline.run(
        AnalysisRequest(
            make_stats_repo(make_repo, hostile=False, name="control").path, "main", "pr"
        )
    )
    assert outcome(hostile) == outcome(control)
    assert {s.path for s in control.skipped}.isdisjoint(EXPECTED)


def test_the_pipeline_with_validation_off_reports_them_too(make_repo: MakeRepo) -> None:
    report = build_pipeline(AnalysisSettings(), PipelineConfig(validation="off")).run(
        AnalysisRequest(make_stats_repo(make_repo, hostile=True).path, "main", "pr")
    )
    skipped = {s.path: s.reason for s in report.skipped}
    assert {p: skipped.get(p) for p in EXPECTED} == EXPECTED
    assert [f.rule_id for f in report.findings] == ["comparison-to-none-eq"]
