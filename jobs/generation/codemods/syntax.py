"""Small libcst helpers: recognising statement shapes and building new nodes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeVar

import libcst as cst

N = TypeVar("N", bound=cst.CSTNode)


def find_all(node: cst.CSTNode, kind: type[N] | tuple[type[N], ...]) -> list[N]:
    """`node` and its descendants of `kind`, in source order (what `libcst.matchers.findall`
    finds for a bare type, without importing libcst.matchers: a quarter of a second)."""
    found: list[N] = []

    class Find(cst.CSTVisitor):
        def on_visit(self, visited: cst.CSTNode) -> bool:
            if isinstance(visited, kind):
                found.append(visited)
            return True

    node.visit(Find())
    return found


def is_name(node: cst.CSTNode | None, value: str | None = None) -> bool:
    return isinstance(node, cst.Name) and (value is None or node.value == value)


def dotted(node: cst.BaseExpression) -> str | None:
    """`a.b.c` for a chain of names, else None."""
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        head = dotted(node.value)
        return None if head is None else f"{head}.{node.attr.value}"
    return None


def only_small(stmt: cst.CSTNode) -> cst.BaseSmallStatement | None:
    """The single small statement of a one-statement line."""
    if isinstance(stmt, cst.SimpleStatementLine) and len(stmt.body) == 1:
        return stmt.body[0]
    return None


def only_statement(body: cst.BaseSuite) -> cst.BaseStatement | cst.BaseSmallStatement | None:
    """The single statement of a suite (`if c: x` or an indented block of one)."""
    if isinstance(body, cst.SimpleStatementSuite):
        return body.body[0] if len(body.body) == 1 else None
    if isinstance(body, cst.IndentedBlock) and len(body.body) == 1:
        stmt = body.body[0]
        small = only_small(stmt)
        return small if small is not None else stmt
    return None


def assigned_name(small: cst.BaseSmallStatement | None) -> tuple[str, cst.BaseExpression] | None:
    """(`x`, value) for `x = value` or `x: T = value`."""
    if isinstance(small, cst.Assign) and len(small.targets) == 1:
        target = small.targets[0].target
        if isinstance(target, cst.Name):
            return target.value, small.value
    if isinstance(small, cst.AnnAssign) and small.value is not None:
        return (small.target.value, small.value) if isinstance(small.target, cst.Name) else None
    return None


def is_empty_list(node: cst.BaseExpression) -> bool:
    if isinstance(node, cst.List):
        return not node.elements
    return isinstance(node, cst.Call) and is_name(node.func, "list") and not node.args


def method_call(node: cst.CSTNode, receiver: str, method: str) -> cst.Call | None:
    """`receiver.method(...)` as a call node, else None."""
    func = node.func if isinstance(node, cst.Call) else None
    if isinstance(func, cst.Attribute) and is_name(func.value, receiver):
        return node if func.attr.value == method and isinstance(node, cst.Call) else None
    return None


def single_positional(call: cst.Call) -> cst.BaseExpression | None:
    if len(call.args) == 1 and call.args[0].keyword is None and call.args[0].star == "":
        return call.args[0].value
    return None


def line(
    small: cst.BaseSmallStatement, leading: Sequence[cst.EmptyLine] = ()
) -> cst.SimpleStatementLine:
    return cst.SimpleStatementLine(body=[small], leading_lines=leading)


def assign(name: str, value: cst.BaseExpression) -> cst.Assign:
    return cst.Assign(targets=[cst.AssignTarget(cst.Name(name))], value=value)


def call(func: str | cst.BaseExpression, *args: cst.BaseExpression) -> cst.Call:
    callee = cst.Name(func) if isinstance(func, str) else func
    return cst.Call(func=callee, args=[cst.Arg(a) for a in args])


def attr_call(receiver: str, method: str, *args: cst.BaseExpression) -> cst.Call:
    return call(cst.Attribute(cst.Name(receiver), cst.Name(method)), *args)


def moved_comments(removed: cst.CSTNode, kept: Sequence[cst.CSTNode] = ()) -> list[cst.EmptyLine]:
    """Comments of `removed` that are not inside `kept`, as lines to put elsewhere."""
    kept_ids = {id(c) for k in kept for c in find_all(k, cst.Comment)}
    return [
        cst.EmptyLine(comment=cst.Comment(c.value))
        for c in find_all(removed, cst.Comment)
        if id(c) not in kept_ids
    ]


def leading_comments(lines: Sequence[cst.EmptyLine]) -> list[cst.EmptyLine]:
    return [line for line in lines if line.comment is not None]


def parenthesized(expr: cst.BaseExpression) -> cst.BaseExpression:
    """`expr` safe as an operand of `not`, `and` or `or`."""
    atoms = (cst.Name, cst.Attribute, cst.Subscript, cst.Call, cst.BaseString, cst.BaseNumber)
    if isinstance(expr, atoms) or expr.lpar or isinstance(expr, cst.List | cst.Tuple | cst.Dict):
        return expr
    return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])


def simple_value(expr: cst.BaseExpression) -> bool:
    """An expression that is cheap and free of calls, so evaluating it twice is harmless."""
    if isinstance(expr, cst.Name | cst.BaseNumber | cst.SimpleString):
        return True
    if isinstance(expr, cst.Attribute):
        return simple_value(expr.value)
    if isinstance(expr, cst.Tuple):
        return all(simple_value(e.value) for e in expr.elements)
    if isinstance(expr, cst.Subscript) and len(expr.slice) == 1:
        index = expr.slice[0].slice
        return (
            isinstance(index, cst.Index) and simple_value(index.value) and simple_value(expr.value)
        )
    return False


Replacement = cst.CSTNode | cst.FlattenSentinel[cst.CSTNode]


class _ReplaceById(cst.CSTTransformer):
    def __init__(self, mapping: Mapping[int, Replacement]) -> None:
        super().__init__()
        self.mapping = mapping

    def on_leave(  # type: ignore[override]
        self, original_node: cst.CSTNode, updated_node: cst.CSTNode
    ) -> Replacement:
        return self.mapping.get(id(original_node), updated_node)


def replace_nodes(root: cst.CSTNode, mapping: Mapping[int, Replacement]) -> cst.CSTNode:
    """`root` with the nodes whose id() is in `mapping` replaced (all compared by identity)."""
    result = root.visit(_ReplaceById(mapping))
    assert isinstance(result, cst.CSTNode)
    return result
