"""Expression rewrites: dict views, length tests and sorting to read one element."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from provenfix.jobs.generation.codemods.framework import FunctionInfo, Site
from provenfix.jobs.generation.codemods.syntax import (
    call,
    is_name,
    parenthesized,
    single_positional,
)
from provenfix.jobs.report import SuggestionKind


def _snippet(fn: FunctionInfo, node: cst.CSTNode, limit: int = 40) -> str:
    code = " ".join(fn.module.code_for_node(node).split())
    return code if len(code) <= limit else code[: limit - 1] + "…"


class DictKeysIteration:
    """`for k in d.keys()` → `for k in d`; `k in d.keys()` → `k in d`."""

    name = "dict-keys-iteration"
    kind = SuggestionKind.OPTIMIZATION

    def sites(self, fn: FunctionInfo) -> Iterator[Site]:
        for node in fn.own(cst.Call):
            func = node.func
            if node.args or not isinstance(func, cst.Attribute) or func.attr.value != "keys":
                continue
            parent = fn.parent.get(id(node))
            if isinstance(parent, cst.For | cst.CompFor) and parent.iter is node:
                what = "iterates over"
            elif (
                isinstance(parent, cst.ComparisonTarget)
                and parent.comparator is node
                and isinstance(parent.operator, cst.In | cst.NotIn)
            ):
                what = "tests membership in"
            else:
                continue
            mapping = func.value
            if node.lpar and not mapping.lpar:
                mapping = mapping.with_changes(lpar=node.lpar, rpar=node.rpar)
            shown = _snippet(fn, func.value)
            yield Site(node, mapping, f"{what} `{shown}` directly instead of its `.keys()` view.")


_EMPTY = {("==", "0"), ("<", "1"), ("<=", "0")}
_NON_EMPTY = {("!=", "0"), (">", "0"), (">=", "1")}
_OPS = {
    cst.Equal: "==",
    cst.NotEqual: "!=",
    cst.LessThan: "<",
    cst.GreaterThan: ">",
    cst.LessThanEqual: "<=",
    cst.GreaterThanEqual: ">=",
}


class LenToTruthiness:
    """`len(x) == 0` → `not x`; `len(x) > 0` → `x` in a condition (`bool(x)` elsewhere)."""

    name = "len-to-truthiness"
    kind = SuggestionKind.OPTIMIZATION

    def sites(self, fn: FunctionInfo) -> Iterator[Site]:
        if not fn.is_builtin("len"):
            return
        for node in fn.own(cst.Comparison):
            left = node.left
            if not isinstance(left, cst.Call) or not is_name(left.func, "len"):
                continue
            sized = single_positional(left)
            if sized is None or len(node.comparisons) != 1:
                continue
            (target,) = node.comparisons
            if not isinstance(target.comparator, cst.Integer):
                continue
            test = (_OPS.get(type(target.operator), ""), target.comparator.value)
            operand = parenthesized(sized)
            new: cst.BaseExpression
            if test in _EMPTY:
                new = cst.UnaryOperation(operator=cst.Not(), expression=operand)
            elif test in _NON_EMPTY and _in_condition(fn, node):
                new = operand
            elif test in _NON_EMPTY and fn.is_builtin("bool"):
                new = call("bool", sized)
            else:
                continue
            if node.lpar:
                new = new.with_changes(lpar=node.lpar, rpar=node.rpar)
            shown = _snippet(fn, sized)
            yield Site(
                node,
                new,
                f"tests the truthiness of `{shown}` instead of comparing its length with "
                f"{target.comparator.value} (the same for sized containers, not for NumPy arrays).",
            )


def _in_condition(fn: FunctionInfo, node: cst.CSTNode) -> bool:
    """Whether only the truth value of `node` matters (an if/while/assert test, `not` …)."""
    child = node
    for parent in fn.ancestors(node):
        if isinstance(parent, cst.BooleanOperation):
            child = parent
            continue
        if isinstance(parent, cst.UnaryOperation) and isinstance(parent.operator, cst.Not):
            return True
        if isinstance(parent, cst.If | cst.While | cst.IfExp | cst.Assert | cst.CompIf):
            return parent.test is child
        return False
    return False


class SortedIndexToMinMax:
    """`sorted(x)[0]` → `min(x)`; `sorted(x, reverse=True)[0]` → `max(x)` (`key=` kept)."""

    name = "sorted-index-to-min-max"
    kind = SuggestionKind.OPTIMIZATION

    def sites(self, fn: FunctionInfo) -> Iterator[Site]:
        if not all(fn.is_builtin(b) for b in ("sorted", "min", "max")):
            return
        for node in fn.own(cst.Subscript):
            sorting = node.value
            if not isinstance(sorting, cst.Call) or not is_name(sorting.func, "sorted"):
                continue
            if len(node.slice) != 1 or not _is_zero(node.slice[0].slice):
                continue
            plan = _min_or_max(sorting)
            if plan is None:
                continue
            builtin, args = plan
            new = cst.Call(func=cst.Name(builtin), args=args, lpar=node.lpar, rpar=node.rpar)
            yield Site(
                node,
                new,
                f"takes `{builtin}(...)` instead of sorting everything to read one element "
                f"(on an empty input it raises ValueError instead of IndexError).",
            )


def _is_zero(index: cst.BaseSlice) -> bool:
    return (
        isinstance(index, cst.Index)
        and isinstance(index.value, cst.Integer)
        and (index.value.value == "0")
    )


def _min_or_max(sorting: cst.Call) -> tuple[str, list[cst.Arg]] | None:
    positional = [a for a in sorting.args if a.keyword is None]
    keywords = {a.keyword.value: a for a in sorting.args if a.keyword is not None}
    if len(positional) != 1 or positional[0].star or set(keywords) - {"key", "reverse"}:
        return None
    builtin = "min"
    if "reverse" in keywords:
        flag = keywords["reverse"].value
        if not isinstance(flag, cst.Name) or flag.value not in ("True", "False"):
            return None
        builtin = "max" if flag.value == "True" else "min"
    kept = [positional[0], *([keywords["key"]] if "key" in keywords else [])]
    args = [a.with_changes(comma=cst.MaybeSentinel.DEFAULT) for a in kept]
    return builtin, args
