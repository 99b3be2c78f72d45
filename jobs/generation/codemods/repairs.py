"""Repairs: files closed by a `with` block, and mutable default arguments."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from provenfix.jobs.generation.codemods.framework import (
    Block,
    FunctionInfo,
    Site,
)
from provenfix.jobs.generation.codemods.syntax import (
    assign,
    dotted,
    find_all,
    line,
    method_call,
    moved_comments,
    only_small,
)
from provenfix.jobs.report import SuggestionKind

# Calls that consume a file (or a reader over it) completely before returning.
_CONSUMERS = frozenset(
    {
        "json.load",
        "pickle.load",
        "marshal.load",
        "plistlib.load",
        "tomllib.load",
        "toml.load",
        "yaml.safe_load",
        "yaml.load",
        "yaml.full_load",
        "yaml.safe_load_all",
        "list",
        "tuple",
        "sorted",
        "set",
        "frozenset",
        "dict",
        "sum",
        "max",
        "min",
        "any",
        "all",
    }
)
_FILE_ATTRIBUTES = frozenset({"name", "mode", "closed", "encoding", "errors", "newlines"})
_EAGER = (cst.ListComp, cst.SetComp, cst.DictComp)


class OpenWithBlock:
    """`f = open(...)` + statements using `f` → `with open(...) as f:` around them."""

    name = "open-with-block"
    kind = SuggestionKind.REPAIR

    def sites(self, fn: FunctionInfo) -> Iterator[Site]:
        if not fn.is_builtin("open"):
            return
        for block in fn.blocks():
            for i, stmt in enumerate(block.node.body):
                small = only_small(stmt)
                if not isinstance(small, cst.Assign) or len(small.targets) != 1:
                    continue
                target, opened = small.targets[0].target, small.value
                if not isinstance(target, cst.Name) or not isinstance(opened, cst.Call):
                    continue
                if dotted(opened.func) != "open":
                    continue
                last = _extent(fn, block, i, target.value)
                if last is None:
                    continue
                assert isinstance(stmt, cst.SimpleStatementLine)
                site = self._site(block, i, last, stmt, opened, target.value)
                if site is not None:
                    yield site

    @staticmethod
    def _site(
        block: Block, i: int, last: int, stmt: cst.SimpleStatementLine, opened: cst.Call, name: str
    ) -> Site | None:
        body = list(block.node.body)
        moved = body[i + 1 : last + 1]
        footer: list[cst.EmptyLine] = []
        closing = only_small(moved[-1])
        if isinstance(closing, cst.Expr) and method_call(closing.value, name, "close"):
            footer = moved_comments(moved.pop())
        if not moved:
            return None
        with_block = cst.With(
            items=[cst.WithItem(item=opened, asname=cst.AsName(name=cst.Name(name)))],
            body=cst.IndentedBlock(body=moved, header=stmt.trailing_whitespace, footer=footer),
            leading_lines=stmt.leading_lines,
        )
        new_body = [*body[:i], with_block, *body[last + 1 :]]
        return Site(
            block.node,
            block.node.with_changes(body=new_body),
            f"opens `{name}` in a `with` block so the file is closed when the block ends, "
            "even on an exception, instead of whenever it is garbage-collected.",
        )


def _extent(fn: FunctionInfo, block: Block, i: int, name: str) -> int | None:
    """Index of the last statement of the block that must sit inside the `with`.

    The handle, and any reader made from it (`rows = csv.reader(f)`), must only
    be used in later statements of the same block, and only in ways that cannot
    let them outlive the block: method calls, iteration, or being handed to a
    call that consumes them. A handle already closed in a `finally` is left alone.
    """
    body = block.node.body
    if any(isinstance(a, cst.Finally) for n in fn.occurrences(name) for a in fn.ancestors(n)):
        return None
    watched, last = [name], i
    seen: set[str] = set()
    while watched:
        current = watched.pop()
        if current in seen:
            continue
        if not fn.is_local(current):
            return None
        seen.add(current)
        for k in range(i + 1, len(body)):
            if fn.occurrences(current, body[k]):
                last = max(last, k)
        bindings = 0
        for occurrence in fn.occurrences(current):
            use = _use(fn, occurrence)
            if use is None or fn.in_nested_scope(occurrence, fn.node):
                return None
            if isinstance(fn.parent.get(id(occurrence)), cst.AssignTarget):
                bindings += 1
            elif use:
                watched.append(use)
        if bindings != 1:
            return None
    if last == i:
        return None
    inside = body[i : last + 1]
    for current in seen:
        if fn.occurs_outside(current, *inside):
            return None
    return last


def _use(fn: FunctionInfo, occurrence: cst.Name) -> str | None:
    """ "" for a safe use, the variable holding a reader made from it, or None: unsafe."""
    parent = fn.parent.get(id(occurrence))
    if isinstance(parent, cst.AssignTarget) and parent.target is occurrence:
        assigned = fn.parent.get(id(parent))
        return "" if isinstance(assigned, cst.Assign) and len(assigned.targets) == 1 else None
    if isinstance(parent, cst.Attribute) and parent.value is occurrence:
        user = fn.parent.get(id(parent))
        if isinstance(user, cst.Call) and user.func is parent:
            return ""
        return "" if parent.attr.value in _FILE_ATTRIBUTES else None
    if isinstance(parent, cst.For | cst.CompFor) and parent.iter is occurrence:
        return (
            "" if isinstance(parent, cst.For) or _consumed(fn, _comprehension(fn, parent)) else None
        )
    if isinstance(parent, cst.Arg) and parent.value is occurrence and not parent.star:
        caller = fn.parent.get(id(parent))
        if isinstance(caller, cst.Call):
            if dotted(caller.func) in _CONSUMERS or _consumed(fn, caller):
                return ""
            made = fn.parent.get(id(caller))
            if isinstance(made, cst.Assign) and len(made.targets) == 1:
                target = made.targets[0].target
                if isinstance(target, cst.Name):
                    return target.value
    return None


def _comprehension(fn: FunctionInfo, node: cst.CompFor) -> cst.CSTNode | None:
    for ancestor in fn.ancestors(node):
        if not isinstance(ancestor, cst.CompFor):
            return ancestor
    return None


def _consumed(fn: FunctionInfo, node: cst.CSTNode | None) -> bool:
    """Whether the value of `node` is used up before its statement ends."""
    if node is None:
        return False
    if isinstance(node, _EAGER):
        return True
    parent = fn.parent.get(id(node))
    if isinstance(parent, cst.Expr) or (isinstance(parent, cst.For) and parent.iter is node):
        return True
    if isinstance(parent, cst.Arg):
        caller = fn.parent.get(id(parent))
        return isinstance(caller, cst.Call) and dotted(caller.func) in _CONSUMERS
    return False


_MUTABLE_CALLS = frozenset(
    {
        "list",
        "dict",
        "set",
        "bytearray",
        "collections.defaultdict",
        "collections.OrderedDict",
        "collections.Counter",
        "collections.deque",
        "defaultdict",
        "OrderedDict",
        "Counter",
        "deque",
    }
)


class MutableDefaultArg:
    """`def f(x=[])` → `def f(x=None)` + `if x is None: x = []` at the top of the body."""

    name = "mutable-default-arg"
    kind = SuggestionKind.REPAIR

    def sites(self, fn: FunctionInfo) -> Iterator[Site]:
        func = fn.node
        if not isinstance(func.body, cst.IndentedBlock):
            return
        params = func.params
        groups = {
            "posonly_params": params.posonly_params,
            "params": params.params,
            "kwonly_params": params.kwonly_params,
        }
        changed: dict[str, list[cst.Param]] = {}
        guards: list[cst.BaseStatement] = []
        fixed: list[str] = []
        for field, group in groups.items():
            new_group = []
            for param in group:
                if self._fixable(fn, param) and param.default is not None:
                    fixed.append(param.name.value)
                    guards.append(_guard(param.name.value, param.default))
                    param = param.with_changes(
                        default=cst.Name("None"), annotation=_optional(param.annotation)
                    )
                new_group.append(param)
            changed[field] = new_group
        if not fixed:
            return
        body = list(func.body.body)
        at = 1 if body and _is_docstring(body[0]) else 0
        new_func = func.with_changes(
            params=params.with_changes(**changed),
            body=func.body.with_changes(body=[*body[:at], *guards, *body[at:]]),
        )
        shown = " and ".join(f"`{n}`" for n in fixed)
        yield Site(
            func,
            new_func,
            f"defaults {shown} to None and builds a fresh value on each call instead of sharing "
            "one mutable default between calls (an explicit None now gets the default too).",
        )

    @staticmethod
    def _fixable(fn: FunctionInfo, param: cst.Param) -> bool:
        default = param.default
        if default is None or param.name.value.startswith("_"):
            return False
        mutable = isinstance(default, cst.List | cst.Dict | cst.Set | cst.ListComp)
        mutable = mutable or isinstance(default, cst.DictComp | cst.SetComp)
        if isinstance(default, cst.Call):
            mutable = dotted(default.func) in _MUTABLE_CALLS
        if not mutable:
            return False
        # evaluated inside the function now: its names must not mean something else there
        names = {n.value for n in find_all(default, cst.Name)}
        return not names & fn.bound


def _guard(name: str, default: cst.BaseExpression) -> cst.If:
    test = cst.Comparison(
        left=cst.Name(name),
        comparisons=[cst.ComparisonTarget(operator=cst.Is(), comparator=cst.Name("None"))],
    )
    return cst.If(test=test, body=cst.IndentedBlock(body=[line(assign(name, default))]))


def _optional(annotation: cst.Annotation | None) -> cst.Annotation | None:
    """`T` → `T | None`, unless the annotation already admits None."""
    if annotation is None:
        return None
    expr = annotation.annotation
    code = cst.Module([]).code_for_node(expr)
    if "None" in code or "Optional" in code or "Any" in code:
        return annotation
    if isinstance(expr, cst.SimpleString) and "b" not in expr.prefix.lower():
        quote = expr.quote
        inner = expr.value[len(expr.prefix) + len(quote) : -len(quote)]
        new: cst.BaseExpression = cst.SimpleString(f"{expr.prefix}{quote}{inner} | None{quote}")
        return annotation.with_changes(annotation=new)
    if isinstance(expr, cst.Lambda | cst.IfExp | cst.BooleanOperation) and not expr.lpar:
        expr = expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    new = cst.BinaryOperation(left=expr, operator=cst.BitOr(), right=cst.Name("None"))
    return annotation.with_changes(annotation=new)


def _is_docstring(stmt: cst.BaseStatement) -> bool:
    small = only_small(stmt)
    return isinstance(small, cst.Expr) and isinstance(
        small.value, cst.SimpleString | cst.ConcatenatedString
    )
