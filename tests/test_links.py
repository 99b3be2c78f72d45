"""jobs.links: which links leave a tree or loop, decided from a listing; and every copy of a
tree the tests run on (the sandbox's work directory, the `--sandbox none` copy, the probe's
collection) leaves those links out."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from provenfix.jobs.links import (
    ABSOLUTE,
    CYCLE,
    LOOP,
    MAX_DIRECTORY_LINKS,
    OUTSIDE,
    TOO_MANY,
    TreeListing,
    scan_folder,
    unsafe_links,
)
from provenfix.jobs.sandbox.workdir import copy_tree, prepare_workdir
from provenfix.jobs.validation.probe_plugin import _looping_links


def listing(dirs: str, **links: str) -> TreeListing:
    return TreeListing(frozenset(dirs.split()), {k.replace("__", "/"): v for k, v in links.items()})


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        (listing("", escape="/etc/passwd"), {"escape": ABSOLUTE}),
        (listing("", up="../../outside"), {"up": OUTSIDE}),
        (listing("pkg", pkg__up="../../x"), {"pkg__up": OUTSIDE}),
        # through a folder that does not exist (yet): lexically out all the same
        (listing("", far="missing/../../x"), {"far": OUTSIDE}),
        # through another link that leaves
        (listing("", etc="/etc", pw="etc/passwd"), {"etc": ABSOLUTE, "pw": ABSOLUTE}),
        (listing("d", d__out="../d/../.."), {"d__out": OUTSIDE}),
        (listing("", a="b", b="a"), {"a": LOOP, "b": LOOP}),
        (listing("", me="me"), {"me": LOOP}),
        (listing("", loop="."), {"loop": CYCLE}),
        (listing("sub", sub__back=".."), {"sub__back": CYCLE}),
        (listing("sub sub/deep", sub__deep__top="../.."), {"sub__deep__top": CYCLE}),
        # two folders linking to each other: the second link closes the cycle
        (listing("a b", a__x="../b", b__y="../a"), {"b__y": CYCLE}),
    ],
)
def test_links_that_leave_or_loop(tree: TreeListing, expected: dict[str, str]) -> None:
    assert unsafe_links(tree) == {k.replace("__", "/"): v for k, v in expected.items()}


def test_links_inside_the_tree_are_kept() -> None:
    tree = listing(
        "pkg data tests",
        alias="pkg/mod.py",  # a file
        tests__fixtures="../data",  # a sibling folder
        shortcut="tests/fixtures",  # through another kept link
        dangling="nowhere/at/all",  # nothing to follow
        pkg__self_file="./mod.py",
    )
    assert unsafe_links(tree) == {}


def test_folder_links_beyond_the_budget_are_not_followed() -> None:
    dirs = " ".join(f"d{i}" for i in range(MAX_DIRECTORY_LINKS + 2))
    links = {f"l{i}": f"d{i}" for i in range(MAX_DIRECTORY_LINKS + 2)}
    unsafe = unsafe_links(TreeListing(frozenset(dirs.split()), links))
    assert len(unsafe) == 2 and set(unsafe.values()) == {TOO_MANY}


def hostile_folder(root: Path) -> Path:
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("X = 1\n")
    (root / "data").mkdir()
    (root / "data" / "v.txt").write_text("42\n")
    for name, target in {
        "escape": "/etc/passwd",
        "up": "../../outside",
        "loop": ".",
        "pkg/back": "..",
        "a": "b",
        "b": "a",
        "alias.py": "pkg/mod.py",
        "pkg/data": "../data",
    }.items():
        os.symlink(target, root / name)
    return root


UNSAFE = {"escape", "up", "loop", "pkg/back", "a", "b"}


def test_scan_folder_lists_links_without_following_them(tmp_path: Path) -> None:
    root = hostile_folder(tmp_path / "src")
    tree = scan_folder(root)
    assert tree.dirs == {"pkg", "data"}
    assert tree.links["loop"] == "." and tree.links["escape"] == "/etc/passwd"
    assert set(unsafe_links(tree)) == UNSAFE


@pytest.mark.parametrize("for_sandbox", [True, False])
def test_copies_for_test_runs_leave_unsafe_links_out(tmp_path: Path, for_sandbox: bool) -> None:
    src = hostile_folder(tmp_path / "src")
    if for_sandbox:
        dst = prepare_workdir(src, tmp_path / "dst")
    else:
        dst = copy_tree(src, tmp_path / "dst")
    for name in UNSAFE:
        assert not os.path.lexists(dst / name), name
    assert os.readlink(dst / "alias.py") == "pkg/mod.py"
    assert (dst / "pkg" / "data" / "v.txt").read_text() == "42\n"


def test_the_probe_ignores_folder_links_that_loop_or_leave(tmp_path: Path) -> None:
    root = hostile_folder(tmp_path / "src")
    os.symlink(str(tmp_path), root / "host")  # a folder outside
    ignored = sorted(os.path.relpath(a.split("=", 1)[1], root) for a in _looping_links(str(root)))
    assert ignored == ["host", "loop", "pkg/back"]  # links to files never get collected as dirs
