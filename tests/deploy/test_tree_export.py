"""jobs.tree.export_tree on Pythons with and without tarfile extraction filters.

The image built from the local base runs Debian 12's Python 3.11.2, which predates
`extractall(filter=...)` (3.11.4); export_tree then applies the same checks by hand.
Both paths run here, on real repositories, whatever Python runs the tests.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

import git
import pytest
from repo_support import MakeRepo

from jobs.tree import export_tree


@pytest.fixture(params=["with-filters", "without-filters"])
def filters(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "without-filters":
        monkeypatch.delattr(tarfile, "data_filter")
    return str(request.param)


def test_exports_files_modes_and_inner_links(
    filters: str, make_repo: MakeRepo, tmp_path: Path
) -> None:
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


@pytest.mark.parametrize("target", ["/etc/passwd", "../../outside"])
def test_refuses_links_out_of_the_tree(
    filters: str, make_repo: MakeRepo, tmp_path: Path, target: str
) -> None:
    repo = make_repo({"ok.py": "pass\n"})
    os.symlink(target, repo.path / "escape")
    sha = repo.commit({}, "a link out of the tree")

    with pytest.raises(tarfile.TarError):
        export_tree(git.Repo(repo.path), sha, tmp_path / "out")
    assert not (tmp_path / "outside").exists()
