"""Cheaper lookups: sets for membership, hoisted methods, dict views, len, sorted."""

from __future__ import annotations

from collections.abc import Iterator

import libcst as cst

from provenfix.jobs.generation.codemods.framework import (
    FunctionInfo,
    Site,
)
from provenfix.jobs.generation.codemods.syntax import (
    Replacement,
    assign,
    assigned_name,
    attr_call,
    call,
    is_empty_list,
    is_name,
    line,
    only_small,
    replace_nodes,
    simple_value,
    single_positional,
)
from provenfix.jobs.report import SuggestionKind

_LOOPS = (cst.For, cst.While)
# Methods whose bound object stays the same while the receiver is not rebound.
_HOISTABLE = frozenset(
    {
        "append",
        "add",
        "extend",
        "update",
        "appendleft",
        "extendleft",
        "discard",
        "insert",
        "setdefault",
        "get",
        "pop",
        "popleft",
        "write",
    }
)


class ListMembershipToSet:
    """`seen = []` (or a comprehension, or `list(x)`) … `x in seen` in a loop → also keep
    `seen_set`, test membership there."""

    name = "list-membership-to-set"
    kind = SuggestionKind.OPTIMIZATION

    def sites(self, fn: FunctionInfo) -> Iterator[Site]:
        if not fn.is_builtin("set"):
            return
        for block in fn.blocks():
            body = block.node.body
            for i, init in enumerate(body):
                target = assigned_name(only_small(init))
                if target is None or not _is_fresh_list(fn, target[1]):
                    continue
                name = target[0]
                loop = next((s for s in body[i + 1 :] if fn.occurrences(name, s)), None)
                if not isinstance(loop, _LOOPS) or not fn.is_local(name):
                    continue
                uses = self._uses(fn, loop, name)
                set_name = fn.fresh(f"{name}_set")
                if uses is None or set_name is None:
                    continue
                tests, appends = uses
                mapping: dict[int, Replacement] = {
                    id(t): t.with_changes(value=set_name) for t in tests
                }
                holders = {id(h): h for h, _ in appends}
                for key, holder in holders.items():
                    exprs = [e for h, e in appends if id(h) == key]
                    mapping[key] = _add_after(holder, exprs, set_name)
                new_loop = replace_nodes(loop, mapping)
                empty = is_empty_list(target[1])
                made = call("set") if empty else call("set", cst.Name(name))
                j = body.index(loop)
                new_body = [
                    *body[: i + 1],
                    line(assign(set_name, made)),
                    *body[i + 1 : j],
                    new_loop,
                    *body[j + 1 :],
                ]
                yield Site(
                    block.node,
                    block.node.with_changes(body=new_body),
                    f"keeps a set beside the list `{name}` so membership tests in the loop take "
                    "constant time (the elements must be hashable).",
                )

    @staticmethod
    def _uses(
        fn: FunctionInfo, loop: cst.BaseStatement, name: str
    ) -> tuple[list[cst.Name], list[tuple[cst.CSTNode, cst.Expr]]] | None:
        """Membership tests and `name.append(x)` statements: the only uses allowed in the loop."""
        tests: list[cst.Name] = []
        appends: list[tuple[cst.CSTNode, cst.Expr]] = []
        for occurrence in fn.occurrences(name, loop):
            if fn.in_nested_scope(occurrence, loop):
                return None
            parent = fn.parent.get(id(occurrence))
            if isinstance(parent, cst.ComparisonTarget) and parent.comparator is occurrence:
                if isinstance(parent.operator, cst.In | cst.NotIn):
                    tests.append(occurrence)
                    continue
                return None
            statement = _append_statement(fn, occurrence, name)
            if statement is None:
                return None
            appends.append(statement)
        return (tests, appends) if tests else None


def _is_fresh_list(fn: FunctionInfo, node: cst.BaseExpression) -> bool:
    """A new list nothing else refers to: a literal, a comprehension, or `list(x)`."""
    if isinstance(node, cst.ListComp):
        return True
    if isinstance(node, cst.Call) and is_name(node.func, "list") and fn.is_builtin("list"):
        return len(node.args) <= 1 and all(a.keyword is None and not a.star for a in node.args)
    return is_empty_list(node) or (
        isinstance(node, cst.List)
        and not any(isinstance(e, cst.StarredElement) for e in node.elements)
    )


def _append_statement(
    fn: FunctionInfo, occurrence: cst.Name, name: str
) -> tuple[cst.CSTNode, cst.Expr] | None:
    """(line or suite holding it, the `name.append(simple)` statement) for an occurrence."""
    attribute = fn.parent.get(id(occurrence))
    called = fn.parent.get(id(attribute)) if attribute is not None else None
    expr = fn.parent.get(id(called)) if called is not None else None
    if not isinstance(expr, cst.Expr) or not isinstance(called, cst.Call):
        return None
    if expr.value is not called or called.func is not attribute or not is_name(occurrence, name):
        return None
    if not isinstance(attribute, cst.Attribute) or attribute.attr.value != "append":
        return None
    value = single_positional(called)
    holder = fn.parent.get(id(expr))
    if value is None or not simple_value(value) or holder is None:
        return None
    return holder, expr


def _add_after(holder: cst.CSTNode, exprs: list[cst.Expr], set_name: str) -> Replacement:
    """`holder` with `set_name.add(x)` after each of its `name.append(x)` statements."""

    def added(expr: cst.Expr) -> cst.Expr:
        value = single_positional(expr.value) if isinstance(expr.value, cst.Call) else None
        assert value is not None
        return cst.Expr(attr_call(set_name, "add", value))

    if isinstance(holder, cst.SimpleStatementLine) and len(holder.body) == 1:
        return cst.FlattenSentinel([holder, line(added(exprs[0]))])
    assert isinstance(holder, cst.SimpleStatementLine | cst.SimpleStatementSuite)
    body: list[cst.BaseSmallStatement] = []
    for small in holder.body:
        if any(small is e for e in exprs):
            assert isinstance(small, cst.Expr)
            body += [small.with_changes(semicolon=cst.MaybeSentinel.DEFAULT), added(small)]
        else:
            body.append(small)
    return holder.with_changes(body=body)


class HoistLoopLookup:
    """`out.append(x)` in a loop → `out_append = out.append` once before it."""

    name = "hoist-loop-lookup"
    kind = SuggestionKind.OPTIMIZATION

    def sites(self, fn: FunctionInfo) -> Iterator[Site]:
        loops: list[cst.For | cst.While] = [*fn.own(cst.For), *fn.own(cst.While)]
        for loop in sorted(loops, key=lambda n: _depth(fn, n)):
            block = fn.parent.get(id(loop))
            if not isinstance(block, cst.IndentedBlock):
                continue
            pairs = [
                p
                for p in self._calls(fn, loop)
                if _hoistable(fn, loop, *p)
                and not any(
                    _hoistable(fn, a, *p) for a in fn.ancestors(loop) if isinstance(a, _LOOPS)
                )
            ]
            names = {p: fn.fresh(f"{p[0]}_{p[1]}") for p in pairs}
            if not pairs:
                continue
            mapping: dict[int, Replacement] = {}
            hoisted: list[cst.SimpleStatementLine] = []
            for (obj, attr), local in names.items():
                if local is None:
                    break
                hoisted.append(line(assign(local, cst.Attribute(cst.Name(obj), cst.Name(attr)))))
                for node in _own_calls(fn, loop):
                    if _receiver(node) == (obj, attr):
                        mapping[id(node.func)] = cst.Name(local)
            if len(hoisted) != len(pairs):
                continue
            new_loop = replace_nodes(loop, mapping)
            assert isinstance(new_loop, cst.For | cst.While)
            hoisted[0] = hoisted[0].with_changes(leading_lines=loop.leading_lines)
            j = block.body.index(loop)
            new_body = [
                *block.body[:j],
                *hoisted,
                new_loop.with_changes(leading_lines=[]),
                *block.body[j + 1 :],
            ]
            shown = ", ".join(f"`{o}.{a}`" for o, a in pairs)
            yield Site(
                block,
                block.with_changes(body=new_body),
                f"looks up {shown} once before the loop instead of on every iteration.",
            )

    @staticmethod
    def _calls(fn: FunctionInfo, loop: cst.For | cst.While) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for node in _own_calls(fn, loop):
            key = _receiver(node)
            if key is not None and key not in pairs:
                pairs.append(key)
        return pairs


def _depth(fn: FunctionInfo, node: cst.CSTNode) -> int:
    return sum(1 for _ in fn.ancestors(node))


def _hoistable(fn: FunctionInfo, loop: cst.CSTNode, obj: str, attr: str) -> bool:
    """Whether `obj.attr` names the same object on every iteration of `loop`.

    `obj` is a parameter or a name assigned just before the loop (then only
    well-known container methods are hoisted), or a module imported at the top.
    Inside the loop `obj` may only be read through attributes or subscripts.
    """
    if not fn.is_local(obj):
        return False
    if not (obj in fn.imported_modules and obj not in fn.bound):
        params = {p.name.value for p in _all_params(fn.node.params)}
        if attr not in _HOISTABLE or not (obj in params or _assigned_before(fn, loop, obj)):
            return False
    for occurrence in fn.occurrences(obj, loop):
        used = fn.parent.get(id(occurrence))  # `obj.x` or `obj[k]`: never rebinds `obj`
        if not isinstance(used, cst.Attribute | cst.Subscript) or used.value is not occurrence:
            return False
        if isinstance(used, cst.Attribute) and _is_store(fn, used):
            return False
    return True


def _assigned_before(fn: FunctionInfo, loop: cst.CSTNode, name: str) -> bool:
    """Whether a statement before `loop`, in its block or an enclosing one, assigns `name`."""
    child = loop
    for ancestor in fn.ancestors(loop):
        if isinstance(ancestor, cst.IndentedBlock):
            index = next(i for i, s in enumerate(ancestor.body) if s is child)
            if any(_assigns(s, name) for s in ancestor.body[:index]):
                return True
        child = ancestor
    return False


def _assigns(stmt: cst.BaseStatement, name: str) -> bool:
    target = assigned_name(only_small(stmt))
    return target is not None and target[0] == name


def _is_store(fn: FunctionInfo, node: cst.CSTNode) -> bool:
    """Whether `node` is (part of) an assignment, deletion or loop target."""
    child = node
    for parent in fn.ancestors(node):
        if isinstance(parent, cst.Element | cst.StarredElement | cst.Tuple | cst.List):
            child = parent
            continue
        if isinstance(parent, cst.AssignTarget | cst.Del | cst.AsName):
            return True
        if isinstance(parent, cst.AugAssign | cst.AnnAssign | cst.For | cst.CompFor):
            return parent.target is child
        return False
    return False


def _own_calls(fn: FunctionInfo, loop: cst.For | cst.While) -> list[cst.Call]:
    """Calls in the loop body (and a while loop's test), outside nested scopes."""
    roots: list[cst.CSTNode] = [loop.body] + ([loop.test] if isinstance(loop, cst.While) else [])
    return [
        c
        for c in fn.own(cst.Call)
        if any(fn.within(c, r) for r in roots) and not fn.in_nested_scope(c, loop)
    ]


def _receiver(node: cst.Call) -> tuple[str, str] | None:
    func = node.func
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and not func.lpar:
        return func.value.value, func.attr.value
    return None


def _all_params(params: cst.Parameters) -> list[cst.Param]:
    star = [params.star_arg] if isinstance(params.star_arg, cst.Param) else []
    kwargs = [params.star_kwarg] if params.star_kwarg is not None else []
    return [*params.posonly_params, *params.params, *star, *params.kwonly_params, *kwargs]
