"""The proven fixes as one unified patch that `git apply` accepts at the analyzed head.

Only committable suggestions (proven by the tests) are in it. Alternatives for the same
lines are resolved by reliability: the best one wins, and a suggestion that overlaps one
already taken is left out (and listed by `left_out`). The patch needs the head's file
contents for its context lines, so it is rendered with a reader of those files rather
than from the report alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from provenfix.jobs.report import Report, Suggestion

NO_NEWLINE = "\\ No newline at end of file\n"


@dataclass(frozen=True)
class Patch:
    text: str  # "" when there is nothing to apply
    applied: tuple[Suggestion, ...]
    left_out: tuple[tuple[Suggestion, str], ...]  # with the reason


def proven_patch(report: Report, read_head: Callable[[str], str]) -> Patch:
    """The patch of the proven suggestions; `read_head(path)` is the file at the head."""
    chosen: dict[str, list[Suggestion]] = {}
    left_out: list[tuple[Suggestion, str]] = []
    ranked = sorted(
        (s for s in report.suggestions if s.committable),
        key=lambda s: (-s.score.reliability, s.path, s.start_line, s.id),
    )
    for suggestion in ranked:
        taken = chosen.setdefault(suggestion.path, [])
        if any(_overlaps(suggestion, other) for other in taken):
            left_out.append((suggestion, "overlaps a more reliable proven fix of the same lines"))
            continue
        taken.append(suggestion)
    parts: list[str] = []
    applied: list[Suggestion] = []
    for path in sorted(chosen):
        old_text = read_head(path)
        old = old_text.splitlines(keepends=True)
        new = list(old)
        edits = sorted(chosen[path], key=lambda s: s.start_line, reverse=True)
        for suggestion in edits:  # bottom-up: earlier line numbers stay valid
            region = "".join(old[suggestion.start_line - 1 : suggestion.end_line])
            if region != suggestion.original:
                left_out.append((suggestion, "the file at head differs from what was analyzed"))
                continue
            new[suggestion.start_line - 1 : suggestion.end_line] = _lines(suggestion.replacement)
            applied.append(suggestion)
        if new != old:
            parts.append(_file_diff(path, old, new))
    applied.sort(key=lambda s: (s.path, s.start_line))
    return Patch("".join(parts), tuple(applied), tuple(left_out))


def _overlaps(a: Suggestion, b: Suggestion) -> bool:
    return a.start_line <= b.end_line and b.start_line <= a.end_line


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _file_diff(path: str, old: Sequence[str], new: Sequence[str]) -> str:
    out = [f"diff --git a/{path} b/{path}\n"]
    for line in difflib.unified_diff(old, new, fromfile=f"a/{path}", tofile=f"b/{path}", n=3):
        out.append(line)
        if not line.endswith("\n"):  # the file's last line has no newline: say so, as git does
            out[-1] = line + "\n" + NO_NEWLINE
    return "".join(out)


def change_lines(suggestion: Suggestion, *, limit: int = 40) -> list[str]:
    """The suggestion's own change as `-`/`+`/` ` lines (no headers), for the text and
    markdown reports; at most `limit` lines, then a line saying how many more."""
    old, new = _lines(suggestion.original), _lines(suggestion.replacement)
    body = [
        line.rstrip("\n")
        for line in difflib.unified_diff(old, new, n=max(len(old), len(new)))
        if not line.startswith(("---", "+++", "@@"))
    ]
    if len(body) > limit:
        body = [*body[:limit], f"… {len(body) - limit} more lines"]
    return body
