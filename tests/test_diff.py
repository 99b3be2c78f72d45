from __future__ import annotations

import pytest
from repo_support import MakeRepo

from provenfix.jobs.diff import compute_change, open_repo
from provenfix.jobs.errors import NoCommonAncestor, NotAGitRepository, UnknownRevision
from provenfix.jobs.report import LineRange


def test_added_lines_and_hunks_on_the_head_side(make_repo: MakeRepo) -> None:
    base = "".join(f"line{i}\n" for i in range(1, 21))
    head = base.replace("line3\n", "LINE3\n").replace("line15\n", "line15\nnew16\nnew17\n")
    repo = make_repo({"a.py": base}, {"a.py": head})
    change = compute_change(open_repo(repo.path), "main", "pr")
    (changed,) = change.files
    assert changed.path == "a.py" and changed.old_path == "a.py"
    assert changed.added == (LineRange(3, 3), LineRange(16, 17))
    # GitHub shows three lines of context: these are where comments can be anchored
    assert changed.hunks == (LineRange(1, 6), LineRange(13, 20))
    assert changed.lines_added == 3


def test_new_renamed_deleted_and_binary_files(make_repo: MakeRepo) -> None:
    body = "".join(f"x{i} = {i}\n" for i in range(30))
    repo = make_repo(
        {"old.py": body, "gone.py": "x = 1\n", "logo.png": b"\x89PNG\x00\x01"},
        {
            "old.py": None,
            "renamed.py": body.replace("x29 = 29", "x29 = 30"),
            "gone.py": None,
            "logo.png": b"\x89PNG\x00\x02",
            "fresh.py": "y = 2\n",
        },
    )
    change = compute_change(open_repo(repo.path), "main", "pr")
    by_path = {f.path: f for f in change.files}
    assert set(by_path) == {"renamed.py", "fresh.py"}
    assert by_path["renamed.py"].old_path == "old.py"
    assert by_path["renamed.py"].added == (LineRange(30, 30),)
    assert by_path["fresh.py"].is_new
    reasons = {s.path: s.reason for s in change.skipped}
    assert reasons == {"gone.py": "deleted in this change", "logo.png": "binary file"}


def test_change_is_measured_from_the_merge_base(make_repo: MakeRepo) -> None:
    repo = make_repo({"a.py": "a = 1\n"}, {"b.py": "b = 2\n"})
    repo.checkout("main")
    repo.commit({"c.py": "c = 3\n"}, "main moved on after the PR branched")
    change = compute_change(open_repo(repo.path), "main", "pr")
    assert [f.path for f in change.files] == ["b.py"]
    assert change.base_sha == repo.git("merge-base", "main", "pr")


def test_empty_diff(make_repo: MakeRepo) -> None:
    repo = make_repo({"a.py": "a = 1\n"})
    change = compute_change(open_repo(repo.path), "main", "main")
    assert change.files == () and change.skipped == ()


def test_bad_input_gives_named_errors(make_repo: MakeRepo, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotAGitRepository, match="not a git repository"):
        open_repo(tmp_path / "nowhere")
    repo = make_repo({"a.py": "a = 1\n"})
    with pytest.raises(UnknownRevision, match="no-such-branch"):
        compute_change(open_repo(repo.path), "no-such-branch", "main")
    repo.git("checkout", "-q", "--orphan", "unrelated")
    repo.commit({"z.py": "z = 1\n"}, "unrelated history")
    with pytest.raises(NoCommonAncestor):
        compute_change(open_repo(repo.path), "main", "unrelated")
