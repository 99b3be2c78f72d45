"""The parts of a module a function leans on, for the prompt: imports, the enclosing
class headers, the module constants and the signatures of the helpers it uses."""

from __future__ import annotations

import ast

_MAX_CONTEXT_LINES = 40


def find_def(
    tree: ast.AST, lineno: int, name: str
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            and node.lineno == lineno
            and node.name == name
        ):
            return node
    return None


def module_context(
    tree: ast.Module, lines: list[str], func: ast.FunctionDef | ast.AsyncFunctionDef, qualname: str
) -> str:
    """Imports, enclosing class headers, and the module names the function uses."""
    used = {n.id for n in ast.walk(func) if isinstance(n, ast.Name)}
    used |= {
        n.attr
        for n in ast.walk(func)
        if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "self"
    }
    out: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            out.extend(_segment(lines, node, 2))
        elif isinstance(node, ast.Assign | ast.AnnAssign) and used & _targets(node):
            out.extend(_segment(lines, node, 3))
        elif (
            isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            and node.name in used
            and node is not func
        ):
            out.extend(_header(lines, node))
    out.extend(_class_context(tree, func, qualname, lines, used))
    if len(out) > _MAX_CONTEXT_LINES:
        out = [*out[:_MAX_CONTEXT_LINES], "# ..."]
    return "\n".join(out)


def _class_context(
    tree: ast.Module,
    func: ast.AST,
    qualname: str,
    lines: list[str],
    used: set[str],
) -> list[str]:
    out: list[str] = []
    node: ast.AST = tree
    for name in qualname.split(".")[:-1]:
        inner = next(
            (
                c
                for c in ast.iter_child_nodes(node)
                if isinstance(c, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                and c.name == name
            ),
            None,
        )
        if not isinstance(inner, ast.ClassDef):
            return out
        out.extend(_header(lines, inner, with_docstring=False))
        for member in inner.body:
            if isinstance(member, ast.Assign | ast.AnnAssign):
                out.extend(_segment(lines, member, 2))
            elif (
                isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef)
                and member.name in used
                and member is not func
            ):
                out.extend(_header(lines, member))
        node = inner
    return out


def _targets(node: ast.Assign | ast.AnnAssign) -> set[str]:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _segment(lines: list[str], node: ast.stmt, limit: int) -> list[str]:
    end = node.end_lineno or node.lineno
    chunk = lines[node.lineno - 1 : min(end, node.lineno - 1 + limit)]
    return [*chunk, "    ..."] if end - node.lineno + 1 > limit else chunk


def _header(
    lines: list[str],
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
    *,
    with_docstring: bool = True,
) -> list[str]:
    """A definition's decorators and signature, then `...`: how it is called, not its body."""
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    body_line = node.body[0].lineno
    head = lines[first - 1 : max(body_line - 1, node.lineno)]
    indent = " " * (node.col_offset + 4)
    doc = ast.get_docstring(node) if with_docstring else None
    summary = f'{indent}"""{doc.strip().splitlines()[0]}"""' if doc else None
    if isinstance(node, ast.ClassDef):
        return [*head, summary] if summary else head
    return [*head, *([summary] if summary else []), f"{indent}..."]
