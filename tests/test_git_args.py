"""No argument injection where jobs/ runs git: one test per call site with hostile values.

Each hostile value is something git would read as an option that writes a file or runs a
command. The call must end in a UsageError that says why, before git runs with the value,
and nothing may be written.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import git
import pytest
from repo_support import GitRepo, MakeRepo

from provenfix.jobs.config import PipelineConfig
from provenfix.jobs.diff import compute_change, open_repo, resolve
from provenfix.jobs.errors import UnknownRevision, UnsafeRevision, UsageError
from provenfix.jobs.factory import build_pipeline
from provenfix.jobs.gitrefs import check_object_id, check_revision, resolve_commit
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.tree import export_revision, export_tree, unsafe_links_at


@pytest.fixture
def pwned(tmp_path: Path) -> Path:
    return tmp_path / "pwned"


@pytest.fixture
def hostile(pwned: Path) -> list[str]:
    return [
        f"--upload-pack=touch {pwned}",
        f"--exec=touch {pwned}",
        "-o",
        f"--output={pwned}",
        f"-o{pwned}",
        "-",
        "",
        f"main\n--output={pwned}",
        "main\x00--output",
        "main\x1b[31m",
    ]


@pytest.fixture
def repo(make_repo: MakeRepo) -> GitRepo:
    return make_repo({"a.py": "a = 1\n"}, {"a.py": "a = 2\n"})


@pytest.fixture
def git_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[list[str]]]:
    """Every command line GitPython runs while the test does."""
    calls: list[list[str]] = []
    execute = git.cmd.Git.execute

    def recording(self: git.cmd.Git, command: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append([str(part) for part in command])
        return execute(self, command, *args, **kwargs)

    monkeypatch.setattr(git.cmd.Git, "execute", recording)
    yield calls


def assert_refused(
    call: Callable[[str], object], values: list[str], calls: list[list[str]], pwned: Path
) -> None:
    for value in values:
        with pytest.raises(UsageError) as raised:
            call(value)
        assert isinstance(raised.value, UnsafeRevision), (value, raised.value)
        assert "ProvenFix will pass to git" in str(raised.value)
        assert "\n" not in str(raised.value) and "\x00" not in str(raised.value)
        ran_with_value = [c for c in calls if value in c or f"{value}^{{commit}}" in c]
        assert ran_with_value == [], value
    assert not pwned.exists()


def test_check_revision_and_object_id(hostile: list[str], pwned: Path) -> None:
    for value in hostile:
        with pytest.raises(UnsafeRevision):
            check_revision(value)
        with pytest.raises(UnsafeRevision):
            check_object_id(value)
    with pytest.raises(UnsafeRevision, match="longer than"):
        check_revision("a" * 2000)
    assert check_revision("HEAD~1") == "HEAD~1" and check_revision("v1.0^") == "v1.0^"
    with pytest.raises(UnsafeRevision, match="40 or 64 hex"):
        check_object_id("HEAD")


def test_resolve(
    repo: GitRepo, hostile: list[str], git_calls: list[list[str]], pwned: Path
) -> None:
    r = open_repo(repo.path)
    assert_refused(lambda rev: resolve(r, rev), hostile, git_calls, pwned)
    assert_refused(lambda rev: resolve_commit(r, rev), hostile, git_calls, pwned)
    # the ordinary spellings still work, and git is told where options end
    assert resolve(r, "pr~1") == resolve(r, "main") == repo.git("rev-parse", "main")
    assert any("--end-of-options" in c for c in git_calls)
    with pytest.raises(UnknownRevision):
        resolve(r, "main:a.py")  # a blob, not a commit


@pytest.mark.parametrize("side", ["base", "head"])
def test_compute_change(
    repo: GitRepo, hostile: list[str], git_calls: list[list[str]], pwned: Path, side: str
) -> None:
    r = open_repo(repo.path)

    def change(rev: str) -> object:
        return compute_change(r, rev, "pr") if side == "base" else compute_change(r, "main", rev)

    assert_refused(change, hostile, git_calls, pwned)


@pytest.mark.parametrize(
    "export", [export_tree, export_revision], ids=["export_tree", "export_revision"]
)
def test_tree_export(
    repo: GitRepo,
    hostile: list[str],
    git_calls: list[list[str]],
    pwned: Path,
    tmp_path: Path,
    export: Callable[[git.Repo, str, Path], object],
) -> None:
    r = open_repo(repo.path)
    dest = tmp_path / "out"
    assert_refused(lambda sha: export(r, sha, dest), [*hostile, "main", "HEAD"], git_calls, pwned)
    assert not dest.exists()


def test_link_listing(
    repo: GitRepo, hostile: list[str], git_calls: list[list[str]], pwned: Path
) -> None:
    r = open_repo(repo.path)
    assert_refused(lambda sha: unsafe_links_at(r, sha), [*hostile, "main"], git_calls, pwned)


def test_blob_reads(repo: GitRepo, git_calls: list[list[str]], pwned: Path) -> None:
    change = compute_change(open_repo(repo.path), "main", "pr")
    hostile_change = type(change)(
        repo=change.repo,
        base_sha=f"--output={pwned}",
        head_sha=f"--output={pwned}",
        files=change.files,
        skipped=change.skipped,
    )
    for read in (hostile_change.head_blob, hostile_change.base_blob):
        with pytest.raises(UnsafeRevision):
            read("a.py")
    assert not [c for c in git_calls if f"--output={pwned}" in c]
    # a hostile path is looked up in the tree by GitPython, never handed to git
    with pytest.raises(KeyError):
        change.head_blob(f"--output={pwned}")
    assert not pwned.exists()


@pytest.mark.parametrize("field", ["base", "head"])
def test_pipeline_request(
    repo: GitRepo,
    hostile: list[str],
    git_calls: list[list[str]],
    pwned: Path,
    field: str,
) -> None:
    pipeline = build_pipeline(AnalysisSettings(), PipelineConfig(validation="off"))

    def run(rev: str) -> object:
        request = AnalysisRequest(repo.path, base=rev if field == "base" else "main")
        if field == "head":
            request = AnalysisRequest(repo.path, base="main", head=rev)
        return pipeline.run(request)

    assert_refused(run, hostile[:4], git_calls, pwned)


def test_the_command_line_exits_2_with_the_reason(repo: GitRepo, pwned: Path) -> None:
    for flag in (f"--base=--output={pwned}", f"--head=--upload-pack=touch {pwned}"):
        command = [str(Path(sys.executable).parent / "provenfix"), "analyze", "--no-validate"]
        proc = subprocess.run(
            [*command, "--quiet", "--repo", str(repo.path), "--base=main", "--head=pr", flag],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 2, proc.stderr
        assert "git would read it as an option" in proc.stderr
    assert not pwned.exists()
