"""Turning an edit of a file into a candidate over whole lines, and back."""

from __future__ import annotations

import ast
import hashlib

from provenfix.jobs.report import Candidate, SuggestionKind


class EditError(ValueError):
    """A candidate does not apply to the text it was made for."""


def candidate_id(path: str, start: int, original: str, replacement: str, source: str) -> str:
    key = "\x1f".join((path, str(start), original, replacement, source))
    return "cand-" + hashlib.sha256(key.encode()).hexdigest()[:16]


def line_candidate(
    text: str,
    byte_span: tuple[int, int],
    new_fragment: str,
    *,
    path: str,
    finding_ids: tuple[str, ...],
    kind: SuggestionKind,
    source: str,
    description: str,
) -> Candidate:
    """Replace bytes [start, end) of `text` and express it as whole-line replacement."""
    data = text.encode()
    start, end = byte_span
    if not (0 <= start <= end <= len(data)):
        raise EditError(f"span {start}..{end} is outside the file")
    line_start = data.rfind(b"\n", 0, start) + 1
    newline_after = data.find(b"\n", max(end - 1, start))
    line_end = len(data) if newline_after < 0 else newline_after + 1
    original = data[line_start:line_end].decode()
    replacement = (data[line_start:start] + new_fragment.encode() + data[end:line_end]).decode()
    first_line = data.count(b"\n", 0, line_start) + 1
    last_line = first_line + original.count("\n") - (1 if original.endswith("\n") else 0)
    return Candidate(
        id=candidate_id(path, first_line, original, replacement, source),
        finding_ids=finding_ids,
        kind=kind,
        source=source,
        path=path,
        start_line=first_line,
        end_line=last_line,
        original=original,
        replacement=replacement,
        description=description,
    )


def apply_candidates(text: str, candidates: list[Candidate]) -> str:
    """Apply non-overlapping candidates to one file's text, bottom-up."""
    lines = text.splitlines(keepends=True)
    for cand in sorted(candidates, key=lambda c: c.start_line, reverse=True):
        current = "".join(lines[cand.start_line - 1 : cand.end_line])
        if current != cand.original:
            raise EditError(
                f"{cand.path}:{cand.start_line}-{cand.end_line} no longer holds the original text"
            )
        lines[cand.start_line - 1 : cand.end_line] = cand.replacement.splitlines(keepends=True)
    return "".join(lines)


def parse_error(path: str, text: str) -> str | None:
    """Why `text` does not parse as Python, or None when it does."""
    if not path.endswith(".py"):
        return None
    try:
        ast.parse(text, filename=path)
    except SyntaxError as exc:
        return f"does not parse: {exc.msg} at line {exc.lineno}"
    except (ValueError, RecursionError) as exc:
        return f"does not parse: {exc}"
    return None
