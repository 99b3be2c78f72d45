"""`provenfix analyze` as a developer uses it on a clone: the proven fixes as a patch that
`git apply` takes, `--apply`, discovery from a subfolder, the default base, shallow
clones, and every mistake answered with one line and exit 2 before any work."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from repo_support import GitRepo, MakeRepo

from provenfix.bot.cli import main

MODULE = "def label(value):\n    if value == None:\n        return 'none'\n    return str(value)\n"
BASE = {
    "stats.py": "def label(value):\n    return str(value)\n",
    "tests/test_stats.py": (
        "from stats import label\n\n\n"
        "def test_none():\n    assert label(None) == 'none'\n\n\n"
        "def test_number():\n    assert label(3) == '3'\n"
    ),
}


@pytest.fixture
def repo(make_repo: MakeRepo) -> GitRepo:
    """`pr` changes label() with `== None`, which the eq-none rule fixes and the tests prove."""
    return make_repo(BASE, {"stats.py": MODULE})


def analyze(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["analyze", "--quiet", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_diff_format_is_a_patch_git_applies_at_head(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--repo", str(repo.path), "--base", "main", "--head", "pr", "--sandbox", "none"]
    code, patch, _ = analyze(capsys, *args, "--format", "diff")
    assert code == 0
    assert patch.startswith("diff --git a/stats.py b/stats.py\n")
    assert "-    if value == None:\n+    if value is None:\n" in patch
    repo.checkout("pr")
    subprocess.run(
        ["git", "apply", "--check", "-"], cwd=repo.path, input=patch, text=True, check=True
    )
    code, text, _ = analyze(capsys, *args)  # the text report shows each suggestion's change
    assert code == 0 and "-    if value == None:" in text and "+    if value is None:" in text


def test_apply_writes_the_proven_fixes_into_a_clean_tree_only(
    repo: GitRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.checkout("pr")
    (repo.path / "notes.txt").write_text("untracked files do not count\n")
    (repo.path / "tests" / "test_stats.py").write_text("# edited\n", encoding="utf-8")
    args = ["--repo", str(repo.path), "--base", "main", "--sandbox", "none", "--apply"]
    code, _, err = analyze(capsys, *args)
    assert code == 2 and "uncommitted changes" in err and "--force" in err
    repo.git("checkout", "--", "tests/test_stats.py")
    code, _, err = analyze(capsys, *args, "--head", "main")
    assert code == 2 and "not at main" in err
    code, _, _ = analyze(capsys, *args)
    assert code == 0
    assert "if value is None:" in (repo.path / "stats.py").read_text()
    assert repo.git("status", "--porcelain", "--untracked-files=no") == "M stats.py"


def test_runs_from_a_subfolder_against_the_remotes_default_branch(
    repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.checkout("main")  # the remote's HEAD, its default branch
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--branch", "pr", str(repo.path), str(clone)], check=True)
    code, out, _ = analyze(capsys, "--repo", str(clone / "tests"), "--no-validate")
    assert code == 0 and "stats.py:2" in out and "comparison-to-none-eq" in out


def test_a_clone_without_a_default_branch_asks_for_base(
    make_repo: MakeRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    lone = make_repo({"a.py": "x = 1\n"})
    lone.git("branch", "-m", "main", "feature")
    code, _, err = analyze(capsys, "--repo", str(lone.path), "--no-validate")
    assert code == 2 and "pass --base" in err and err.count("\n") == 1


def test_a_shallow_clone_is_named_with_the_command_that_fixes_it(
    repo: GitRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo.git("checkout", "-q", "main")
    repo.commit({"other.py": "y = 2\n"}, "main moves on")
    shallow = tmp_path / "shallow"
    subprocess.run(
        [
            "git",
            "clone",
            "-q",
            "--depth",
            "1",
            "--no-single-branch",
            repo.path.as_uri(),
            str(shallow),
        ],
        check=True,
    )
    subprocess.run(["git", "-C", str(shallow), "checkout", "-q", "pr"], check=True)
    code, _, err = analyze(capsys, "--repo", str(shallow), "--base", "origin/main", "--no-validate")
    assert code == 2 and "shallow" in err and "git fetch --unshallow" in err


def test_bad_outputs_and_a_missing_docker_stop_before_any_work(
    repo: GitRepo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    args = ["--repo", str(repo.path), "--base", "main", "--head", "pr"]
    code, _, err = analyze(capsys, *args, "--no-validate", "--output", str(tmp_path))
    assert code == 2 and "is a folder" in err and err.count("\n") == 1
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    code, _, err = analyze(capsys, *args, "--sandbox", "docker")
    assert code == 2 and "Docker" in err and "--sandbox none" in err and "--no-validate" in err
    code, out, err = analyze(capsys, *args, "--format", "json")  # auto: unproven, said so
    assert code == 0 and "Docker is not available" in err and '"status": "not_run"' in out
