"""jobs.tree.export_tree: a revision written from git's objects, on real repositories:
modes and inner links kept, links out of the tree or looping left out, and the tree's own
.gitattributes (export-ignore, export-subst) never consulted."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from unittest.mock import patch

import git
import pytest
from repo_support import MakeRepo

from provenfix.jobs.tree import export_revision, export_tree


def test_exports_files_modes_and_inner_links(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo({"pkg/mod.py": "X = 1\n", "run.sh": "#!/bin/sh\necho hi\n"})
    (repo.path / "run.sh").chmod(0o755)
    os.symlink("pkg/mod.py", repo.path / "alias.py")
    sha = repo.commit({}, "exec bit and a link inside the tree")

    out = export_tree(git.Repo(repo.path), sha, tmp_path / "out")

    assert (out / "pkg/mod.py").read_text() == "X = 1\n"
    assert stat.S_IMODE((out / "run.sh").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "pkg/mod.py").stat().st_mode) & 0o022 == 0
    assert os.readlink(out / "alias.py") == "pkg/mod.py"
    assert not (out / ".git").exists()


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside", ".", "escape"])
def test_leaves_out_links_out_of_the_tree_and_loops(
    make_repo: MakeRepo, tmp_path: Path, target: str
) -> None:
    repo = make_repo({"ok.py": "pass\n"})
    os.symlink(target, repo.path / "escape")
    sha = repo.commit({}, "a link out of the tree, or a loop")

    exported = export_revision(git.Repo(repo.path), sha, tmp_path / "out")

    assert not os.path.lexists(exported.root / "escape")
    assert (exported.root / "ok.py").read_text() == "pass\n"
    ((path, reason),) = [(s.path, s.reason) for s in exported.left_out]
    assert path == "escape" and reason.endswith("not followed")
    assert not (tmp_path / "outside").exists()


def test_links_out_of_the_tree_are_left_out_even_if_the_listing_missed_them(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo({"ok.py": "pass\n"})
    os.symlink("../../elsewhere", repo.path / "escape")
    sha = repo.commit({}, "a link out of the tree")
    # as if jobs.links had missed it: the export's own check still leaves it out
    with patch("provenfix.jobs.tree.unsafe_links", return_value={}):
        exported = export_revision(git.Repo(repo.path), sha, tmp_path / "out")
    assert not os.path.lexists(exported.root / "escape")
    assert [s.path for s in exported.left_out] == ["escape"]


def test_the_trees_gitattributes_cannot_hide_or_rewrite_files(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    """A change could `export-ignore` its tests (no run would see them) or `export-subst` a
    file: the export is what was committed, whatever .gitattributes says."""
    attributes = "tests/** export-ignore\nversion.py export-subst\n"
    repo = make_repo(
        {
            ".gitattributes": attributes,
            "tests/test_x.py": "def test_x():\n    assert False\n",
            "version.py": "COMMIT = '$Format:%H$'\n",
        }
    )
    out = export_tree(git.Repo(repo.path), repo.git("rev-parse", "HEAD"), tmp_path / "out")
    assert (out / "tests/test_x.py").read_text() == "def test_x():\n    assert False\n"
    assert (out / "version.py").read_text() == "COMMIT = '$Format:%H$'\n"
