"""Progress on a real terminal (a pty): each stage with its time, colour unless NO_COLOR;
plain lines in a pipe."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from repo_support import GitRepo, MakeRepo

PROVENFIX = str(Path(sys.executable).parent / "provenfix")
COLOUR = re.compile(r"\x1b\[(?:\d+;)*3\d(?:;\d+)*m")  # a foreground colour (SGR 30-39)


@pytest.fixture
def repo(make_repo: MakeRepo) -> GitRepo:
    return make_repo(
        {"a.py": "def f(x):\n    return x\n"}, {"a.py": "def f(x=[]):\n    return x\n"}
    )


def on_a_terminal(repo: GitRepo, **env: str) -> tuple[int, str]:
    """Run analyze with stderr on a pty; stdout (the report) stays a pipe."""
    leader, follower = pty.openpty()
    command = [PROVENFIX, "analyze", "--repo", str(repo.path), "--base", "main", "--head", "pr"]
    proc = subprocess.Popen(
        [*command, "--no-validate"],
        stdout=subprocess.PIPE,
        stderr=follower,
        env={"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env},
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.stdout is not None
    report = proc.stdout.read().decode()
    code = proc.wait(timeout=120)
    os.close(leader)
    screen = b"".join(chunks).decode("utf-8", errors="replace")
    assert "findings," in report and "findings," not in screen  # the report stays on stdout
    return code, screen


def test_stages_show_with_their_time_and_colour(repo: GitRepo) -> None:
    code, screen = on_a_terminal(repo, TERM="xterm-256color")
    assert code == 0
    assert re.search(r"✓.*diff.*1 files changed.*\(\d+\.\d s\)", screen)
    assert re.search(r"✓.*analyze.*\(\d+\.\d s\)", screen) and "done in" in screen
    assert COLOUR.search(screen) and "[provenfix]" not in screen


def test_no_color_is_honoured(repo: GitRepo) -> None:
    code, screen = on_a_terminal(repo, TERM="xterm-256color", NO_COLOR="1")
    assert code == 0 and "diff" in screen and not COLOUR.search(screen)


def test_a_pipe_gets_plain_lines(repo: GitRepo) -> None:
    proc = subprocess.run(
        [
            PROVENFIX,
            "analyze",
            "--repo",
            str(repo.path),
            "--base",
            "main",
            "--head",
            "pr",
            "--no-validate",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0
    assert "[provenfix] diff: 1 files changed" in proc.stderr and "\x1b[" not in proc.stderr
