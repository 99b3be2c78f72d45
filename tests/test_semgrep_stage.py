"""The semgrep stage against the real semgrep, with rules written by the tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from repo_support import MakeRepo

from provenfix.jobs.config import PipelineConfig
from provenfix.jobs.diff import compute_change, open_repo
from provenfix.jobs.errors import ToolFailure
from provenfix.jobs.factory import build_pipeline
from provenfix.jobs.fingerprint import Fingerprinter
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.semgrep_stage import SemgrepAnalyzer
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.snapshot import take_snapshot

EQ_NONE = """rules:
- id: test-eq-none
  pattern: $X == None
  fix: $X is None
  message: compare with `is None`
  languages: [python]
  severity: WARNING
  metadata: {category: defect}
"""
REPO_RULE = """rules:
- id: no-print
  pattern: print(...)
  message: use logging
  languages: [python]
  severity: INFO
  metadata: {category: maintainability}
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "eq-none.yaml").write_text(EQ_NONE)
    return folder


def run(repo_path: Path, rules: Path, **settings: object):  # type: ignore[no-untyped-def]
    config = PipelineConfig(validation="off", rules_dir=rules)
    pipeline = build_pipeline(AnalysisSettings(**settings), config)  # type: ignore[arg-type]
    return pipeline.run(AnalysisRequest(repo_path, "main", "pr"))


def test_only_findings_on_changed_lines_are_kept(make_repo: MakeRepo, rules_dir: Path) -> None:
    old = "def old(a):\n    return a == None\n"
    repo = make_repo({"m.py": old}, {"m.py": old + "\n\ndef new(b):\n    return b == None\n"})
    report = run(repo.path, rules_dir)
    (finding,) = report.findings
    assert (finding.rule_id, finding.start_line, finding.function) == ("test-eq-none", 6, "new")
    assert finding.fix in ("b is None", "(b is None)")  # semgrep may parenthesize


def test_fingerprint_is_stable_when_code_moves(make_repo: MakeRepo, rules_dir: Path) -> None:
    code = "def f(b):\n    return b == None\n"
    first = make_repo({"x.py": ""}, {"m.py": code}, name="one")
    second = make_repo({"x.py": ""}, {"m.py": "import os\n\n\n" + code}, name="two")
    (a,) = run(first.path, rules_dir).findings
    (b,) = run(second.path, rules_dir).findings
    assert a.start_line != b.start_line and a.id == b.id


def test_repository_rules_from_the_base_are_used(make_repo: MakeRepo, rules_dir: Path) -> None:
    repo = make_repo({".semgrep.yml": REPO_RULE}, {"m.py": "print(1 == None)\n"})
    assert {f.rule_id for f in run(repo.path, rules_dir).findings} == {"test-eq-none", "no-print"}


def test_invalid_repository_config_is_skipped_not_fatal(
    make_repo: MakeRepo, rules_dir: Path
) -> None:
    broken = "rules:\n- id: broken\n  pattern: print(\n  languages: [python]\n"
    repo = make_repo({".semgrep.yml": broken}, {"m.py": "x = 1 == None\n"})
    report = run(repo.path, rules_dir)
    assert [f.rule_id for f in report.findings] == ["test-eq-none"]
    (skip,) = [s for s in report.skipped if s.path == ".semgrep.yml"]
    assert "repository semgrep config is invalid" in skip.reason

    not_rules = make_repo({".semgrep.yml": "just: text\n"}, {"m.py": "x = 1\n"}, name="other")
    (skip,) = [s for s in run(not_rules.path, rules_dir).skipped if s.path == ".semgrep.yml"]
    assert "no `rules:` list" in skip.reason


def test_unreadable_files_are_skipped_with_a_reason(make_repo: MakeRepo, rules_dir: Path) -> None:
    repo = make_repo(
        {"ok.py": "a = 1\n"},
        {
            "broken.py": "def f(:\n",
            "latin.py": "# -*- coding: latin-1 -*-\nname = 'caf\xe9'\n".encode("latin-1"),
            "bad.py": b"x = '\xff\xfe'\n",
            "big.py": "x = 1\n" * 400,
            "notes.txt": "hello\n",
            "ok.py": "a = 1 == None\n",
        },
    )
    report = run(repo.path, rules_dir, max_file_bytes=1000)
    reasons = {s.path: s.reason for s in report.skipped}
    assert reasons["broken.py"].startswith("does not parse")
    assert "only UTF-8" in reasons["latin.py"]
    assert reasons["bad.py"].startswith("not valid UTF-8")
    assert reasons["big.py"].startswith("file too large")
    assert reasons["notes.txt"] == "not a Python file"
    assert [f.path for f in report.findings] == ["ok.py"]


def test_budget_on_files_and_lines(make_repo: MakeRepo, rules_dir: Path) -> None:
    repo = make_repo({"a.py": ""}, {f"f{i}.py": "x = 1 == None\n" for i in range(5)})
    report = run(repo.path, rules_dir, max_files=2)
    assert len(report.findings) == 2
    assert sum("diff too large" in s.reason for s in report.skipped) == 3


def test_disabled_rules_and_ignored_paths(make_repo: MakeRepo, rules_dir: Path) -> None:
    repo = make_repo({"a.py": ""}, {"gen/m.py": "x = 1 == None\n", "m.py": "y = 2 == None\n"})
    assert run(repo.path, rules_dir, disabled_rules=frozenset({"test-eq-none"})).findings == ()
    report = run(repo.path, rules_dir, ignored_paths=("gen/*",))
    assert [f.path for f in report.findings] == ["m.py"]


def test_broken_bundled_rules_are_an_internal_failure(make_repo: MakeRepo, tmp_path: Path) -> None:
    bad = tmp_path / "bad-rules"
    bad.mkdir()
    (bad / "r.yaml").write_text("rules:\n- id: x\n  pattern: f(\n  languages: [python]\n")
    repo = make_repo({"a.py": ""}, {"m.py": "x = 1\n"})
    change = compute_change(open_repo(repo.path), "main", "pr")
    snapshot = take_snapshot(change, AnalysisSettings(), tmp_path / "snap")
    with pytest.raises(ToolFailure, match="bundled semgrep rules rejected"):
        SemgrepAnalyzer(bad).analyze(snapshot, Fingerprinter())


def test_the_scan_started_before_the_snapshot_matches_it(
    make_repo: MakeRepo, rules_dir: Path
) -> None:
    # semgrep starts on a guess of the snapshot's files (jobs.early_scan): with one file
    # allowed, the guess is a.py, which does not parse, so the snapshot holds b.py instead.
    repo = make_repo({"x.py": ""}, {"a.py": "def f(:\n    x == None\n", "b.py": "y = 2 == None\n"})
    report = run(repo.path, rules_dir, max_files=1)
    assert [f.path for f in report.findings] == ["b.py"]
    (skip,) = [s for s in report.skipped if s.path == "a.py"]  # no semgrep error for it
    assert skip.reason.startswith("does not parse")
