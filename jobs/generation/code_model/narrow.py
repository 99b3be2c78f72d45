"""Asking for the suspicious lines only, when the budget is short of a whole function.

A failing test's finding names the changed lines it runs, most suspicious first
(`Finding.suspects`, Ochiai). When a target's time is short of what a whole
rewritten function costs at the speed the model has shown, the model is asked to
rewrite just the most suspicious statement(s): a few tokens instead of the whole
function. The answer is spliced into the function, and from there it is an
answer like any other (parse.rewrite): the candidate still replaces whole lines.
"""

from __future__ import annotations

import ast
import textwrap
from typing import Literal

from provenfix.jobs.generation.code_model.context import find_def
from provenfix.jobs.generation.code_model.parse import code_blocks
from provenfix.jobs.generation.code_model.prompt import Target

Narrowing = Literal["auto", "always", "never"]
MAX_SPAN_LINES = 6
TOKENS_PER_LINE = 12  # what a line of Python costs a code model's tokenizer, roughly
SPAN_TOKENS = 32  # the fence and some room for an added line


def suspicious_span(target: Target) -> tuple[int, int] | None:
    """The most suspicious statement lines of the target's function (file lines, whole
    statements), or None: no suspect inside its body, or a span over MAX_SPAN_LINES."""
    ranked = sorted(
        (s for f in target.findings for s in f.suspects if s.path == target.path),
        key=lambda s: -s.score,
    )
    inside = [s for s in ranked if target.start < s.line <= target.end]
    if not inside:
        return None
    try:
        func = find_def(ast.parse(target.text), target.start, target.name)
    except SyntaxError:
        return None
    if func is None or func.body[0].lineno == func.lineno:
        return None  # a one-line function: the whole of it is the span
    body_start = func.body[0].lineno
    top = [s.line for s in inside if s.score == inside[0].score and s.line >= body_start]
    for lines in (top, top[:1]):
        if not lines:
            return None
        span = _whole_statements(func, min(lines), max(lines))
        if span[1] - span[0] + 1 <= MAX_SPAN_LINES:
            return span
    return None


def _whole_statements(
    func: ast.FunctionDef | ast.AsyncFunctionDef, first: int, last: int
) -> tuple[int, int]:
    """Widened until no statement is cut: a simple statement whole, a compound one's header."""
    changed = True
    while changed:
        changed = False
        for node in ast.walk(func):
            if not isinstance(node, ast.stmt) or node is func:
                continue
            body = getattr(node, "body", None)
            if isinstance(body, list) and body and body[0].lineno > node.lineno:
                end = body[0].lineno - 1  # a compound statement: its header
            else:
                end = node.end_lineno or node.lineno
            if node.lineno <= last and first <= end and (node.lineno < first or end > last):
                first, last, changed = min(first, node.lineno), max(last, end), True
    return first, last


def narrow(
    policy: Narrowing,
    target: Target,
    share_s: float,
    seconds_per_token: float | None,
) -> tuple[int, int] | None:
    """The lines to ask for instead of the whole function, or None for the whole function.
    "auto": only when `share_s` is short of a whole answer at the measured speed."""
    if policy == "never" or target.mode != "repair":
        return None
    span = suspicious_span(target)
    if span is None or policy == "always":
        return span
    if seconds_per_token is None:
        return None  # no measure yet: the whole function
    whole = (target.end - target.start + 1) * TOKENS_PER_LINE * seconds_per_token
    return span if share_s < whole else None


def span_tokens(span: tuple[int, int], max_new_tokens: int) -> int:
    return min(max_new_tokens, (span[1] - span[0] + 1) * 2 * TOKENS_PER_LINE + SPAN_TOKENS)


def splice(answer: str, target: Target, span: tuple[int, int]) -> str:
    """The answer to a lines-only request as an answer holding the whole function (for
    parse.rewrite). An answer that holds the whole function anyway is taken as it is."""
    blocks = code_blocks(answer)
    if not blocks:
        return answer
    block = textwrap.dedent(blocks[0]).strip("\n")
    first_code = next((line.strip() for line in block.splitlines() if line.strip()), "")
    if first_code.startswith(("def ", "async def ", "@")):
        return answer
    lines = target.text.splitlines()
    original = [line for line in lines[span[0] - 1 : span[1]] if line.strip()]
    indent = min((line[: len(line) - len(line.lstrip())] for line in original), key=len)
    new = [indent + line if line.strip() else "" for line in block.splitlines()]
    try:
        func = find_def(ast.parse(target.text), target.start, target.name)
    except SyntaxError:
        return answer
    first = min([target.start, *(d.lineno for d in func.decorator_list)]) if func else target.start
    function = [*lines[first - 1 : span[0] - 1], *new, *lines[span[1] : target.end]]
    return "```python\n" + textwrap.dedent("\n".join(function)) + "\n```"
