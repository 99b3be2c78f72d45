"""Where a review comment may go, by GitHub's rules: on a line of the pull request's diff
(a range within one hunk), on a whole file, or at a (deprecated) diff position."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .gitdata import DiffFile, Hunk


def check_anchor(
    diff_files: Iterable[DiffFile], comment: dict[str, Any]
) -> tuple[str | None, Hunk | None, DiffFile | None]:
    """GitHub's checks on where a review comment goes; (error, hunk, file)."""
    files = {f.filename: f for f in diff_files}
    diff = files.get(comment["path"])
    if diff is None:
        return "Path could not be resolved", None, None
    if comment.get("subject_type") == "file":
        return None, None, diff
    if "line" not in comment:
        if "position" in comment:
            return check_position(diff, comment["position"]), None, diff
        return "pull_request_review_thread.line is required", None, diff
    side = comment.get("side", "RIGHT")
    line = comment["line"]
    hunk = diff.hunk_for(line, side)
    if hunk is None:
        return "pull_request_review_thread.line must be part of the diff", None, diff
    if "start_side" in comment and "start_line" not in comment:
        return "pull_request_review_thread.start_side requires start_line", None, diff
    if "start_line" in comment:
        start, start_side = comment["start_line"], comment.get("start_side", side)
        if start_side == "side":
            start_side = side
        if start_side == side and start >= line:
            return "pull_request_review_thread.start_line must precede the end line", None, diff
        if diff.hunk_for(start, start_side) is not hunk:
            return (
                "pull_request_review_thread.start_line must be part of the same hunk as the line.",
                None,
                diff,
            )
    return None, hunk, diff


def check_position(diff: DiffFile, position: int) -> str | None:
    total = sum(len(h.lines) for h in diff.hunks) - 1
    return None if 1 <= position <= total else "Position could not be resolved"


def diff_position(diff: DiffFile, line: int, side: str) -> int | None:
    """The diff position of `line` on `side` (GitHub counts hunk headers after the first)."""
    position = 0
    for n, hunk in enumerate(diff.hunks):
        left, right = hunk.left_start, hunk.right_start
        if n:
            position += 1  # a later hunk header counts
        for text in hunk.lines[1:]:
            if text.startswith("\\"):
                continue
            position += 1
            kind = text[:1]
            if side == "RIGHT" and kind != "-" and right == line:
                return position
            if side == "LEFT" and kind != "+" and left == line:
                return position
            if kind != "+":
                left += 1
            if kind != "-":
                right += 1
    return None
