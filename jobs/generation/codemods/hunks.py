"""The smallest whole-lines candidate that turns one text into another."""

from __future__ import annotations

from collections.abc import Sequence

from provenfix.jobs.generation.edits import candidate_id
from provenfix.jobs.report import Candidate, Finding, LineRange, SuggestionKind


def changed_lines(before: list[str], after: list[str]) -> tuple[int, int, int] | None:
    """(first, end_before, end_after): lines [first, end) differ, 0-based; None if equal."""
    limit = min(len(before), len(after))
    first = 0
    while first < limit and before[first] == after[first]:
        first += 1
    if first == len(before) == len(after):
        return None
    tail = 0
    while tail < limit - first and before[-1 - tail] == after[-1 - tail]:
        tail += 1
    end_before, end_after = len(before) - tail, len(after) - tail
    if first == end_before:  # a pure insertion: a candidate replaces at least one line
        if first > 0:
            first -= 1
        else:
            end_before, end_after = end_before + 1, end_after + 1
    return first, end_before, end_after


def minimal_candidate(
    path: str,
    before_text: str,
    after_text: str,
    *,
    kind: SuggestionKind,
    source: str,
    description: str,
    findings: Sequence[Finding] = (),
    first_line: int = 1,
) -> Candidate | None:
    """One candidate covering the smallest run of lines containing every change.

    `before_text` starts at line `first_line` of the file at `path` (a whole file
    by default). Findings of that file whose lines overlap the candidate's are
    linked to it. None when the two texts are the same.
    """
    before = before_text.splitlines(keepends=True)
    after = after_text.splitlines(keepends=True)
    span = changed_lines(before, after)
    if span is None:
        return None
    first, end_before, end_after = span
    if end_before > len(before):  # inserting into an empty text: nothing to anchor on
        return None
    original = "".join(before[first:end_before])
    replacement = "".join(after[first:end_after])
    start = first_line + first
    end = first_line + end_before - 1
    return Candidate(
        id=candidate_id(path, start, original, replacement, source),
        finding_ids=linked_findings(path, LineRange(start, end), findings),
        kind=kind,
        source=source,
        path=path,
        start_line=start,
        end_line=end,
        original=original,
        replacement=replacement,
        description=description,
    )


def linked_findings(path: str, lines: LineRange, findings: Sequence[Finding]) -> tuple[str, ...]:
    """The findings of the file at `path` whose lines overlap `lines`, in their order."""
    return tuple(
        f.id
        for f in findings
        if f.path == path and lines.overlaps(LineRange(f.start_line, max(f.start_line, f.end_line)))
    )
