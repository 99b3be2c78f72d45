"""The functions of a file that a change touched, found with `ast` (no libcst)."""

from __future__ import annotations

import ast
from collections.abc import Iterator

from provenfix.jobs.report import ChangedFile

Span = tuple[int, int, int, int]  # first line (decorators included), def line, last, column


def touched_spans(text: str, change: ChangedFile) -> dict[int, Span]:
    """By preorder index among the module's functions: the functions with an added line in
    their own code (not only in a function nested in them). Found with `ast` (C-fast);
    libcst's position metadata would render the whole module to compute the same."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError):
        return {}
    spans = [
        (
            min([node.lineno, *(d.lineno for d in node.decorator_list)]),
            node.lineno,
            node.end_lineno or node.lineno,
            node.col_offset,
        )
        for node in preorder_functions(tree)
    ]
    added = {line for r in change.added for line in range(r.start, r.end + 1)}
    touched: dict[int, Span] = {}
    for index, span in enumerate(spans):
        start, _, end, _ = span
        own = {line for line in added if start <= line <= end}
        for inner_start, _, inner_end, _ in spans:
            if own and start < inner_start <= end:  # a function nested in this one
                own -= set(range(inner_start, inner_end + 1))
        if own:
            touched[index] = span
    return touched


def preorder_functions(node: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
            yield child
        if not isinstance(child, ast.expr):  # expressions hold no `def` (handlers, cases do)
            yield from preorder_functions(child)
