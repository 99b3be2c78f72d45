"""Loops that build a value: to comprehensions, any/all, dict.fromkeys and str.join."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import libcst as cst

from provenfix.jobs.generation.codemods.framework import (
    Block,
    FunctionInfo,
    Site,
)
from provenfix.jobs.generation.codemods.syntax import (
    assign,
    assigned_name,
    attr_call,
    call,
    find_all,
    is_empty_list,
    is_name,
    leading_comments,
    line,
    method_call,
    moved_comments,
    only_small,
    only_statement,
    parenthesized,
    replace_nodes,
    simple_value,
    single_positional,
)
from provenfix.jobs.report import SuggestionKind

_MAX_WIDTH = 88


def _pairs(fn: FunctionInfo) -> Iterator[tuple[Block, int, cst.BaseStatement, cst.BaseStatement]]:
    """(block, i, statement i, statement i + 1) over the function's own blocks."""
    for block in fn.blocks():
        body = block.node.body
        for i in range(len(body) - 1):
            yield block, i, body[i], body[i + 1]


def _plain_for(stmt: cst.CSTNode) -> cst.For | None:
    """A synchronous `for` without `else` whose target is made of plain names."""
    if isinstance(stmt, cst.For) and stmt.asynchronous is None and stmt.orelse is None:
        return stmt if _plain_target(stmt.target) else None
    return None


def _plain_target(target: cst.BaseExpression) -> bool:
    if isinstance(target, cst.Tuple | cst.List):
        return all(_plain_target(e.value) for e in target.elements)
    return isinstance(target, cst.Name)


def _filtered_body(loop: cst.For) -> tuple[cst.BaseExpression | None, cst.CSTNode] | None:
    """(condition, statement) for a loop body `stmt` or `if cond: stmt` (no else)."""
    stmt = only_statement(loop.body)
    if isinstance(stmt, cst.If):
        inner = only_statement(stmt.body)
        if stmt.orelse is not None or inner is None:
            return None
        return stmt.test, inner
    return (None, stmt) if stmt is not None else None


def _result_escapes(fn: FunctionInfo, name: str, block: Block, i: int) -> bool:
    """Could code see `name` half-built when the loop at i + 1 raises and is caught?"""
    loop = block.node.body[i + 1]
    if not fn.catches_exceptions(loop):
        return False
    return bool(fn.occurs_outside(name, *block.node.body[i:]))


def _comp_operand(expr: cst.BaseExpression) -> cst.BaseExpression:
    """`iter` and `if` parts of a comprehension take no bare ternary, lambda or tuple."""
    bare = isinstance(expr, cst.IfExp | cst.Lambda | cst.Tuple | cst.NamedExpr | cst.Yield)
    if bare and not expr.lpar:
        return expr.with_changes(lpar=[cst.LeftParen()], rpar=[cst.RightParen()])
    return expr


def _scope_sensitive(
    expr: cst.BaseExpression, cond: cst.BaseExpression | None, *, await_ok: bool
) -> bool:
    """Expressions that mean something else (or nothing) inside a comprehension.

    `yield` is not allowed there, `:=` may not rebind the loop variable, and
    `await` inside a generator expression makes it asynchronous.
    """
    kinds = (cst.Yield, cst.NamedExpr) if await_ok else (cst.Yield, cst.NamedExpr, cst.Await)
    return any(find_all(e, kinds) for e in (expr, cond) if e is not None)


def _comp_for(loop: cst.For, cond: cst.BaseExpression | None) -> cst.CompFor:
    ifs = [cst.CompIf(_comp_operand(cond))] if cond is not None else []
    return cst.CompFor(target=loop.target, iter=_comp_operand(loop.iter), ifs=ifs)


def _wrapped(comp: cst.ListComp, indent: str) -> cst.ListComp:
    """The comprehension over several lines: element, `for`, `if`, each on its own."""

    def newline(extra: str) -> cst.ParenthesizedWhitespace:
        return cst.ParenthesizedWhitespace(
            first_line=cst.TrailingWhitespace(), indent=True, last_line=cst.SimpleWhitespace(extra)
        )

    for_in = comp.for_in.with_changes(
        whitespace_before=newline(indent),
        ifs=[i.with_changes(whitespace_before=newline(indent)) for i in comp.for_in.ifs],
    )
    return comp.with_changes(
        for_in=for_in,
        lbracket=cst.LeftSquareBracket(whitespace_after=newline(indent)),
        rbracket=cst.RightSquareBracket(whitespace_before=newline("")),
    )


def _replace_pair(block: Block, i: int, new: Sequence[cst.BaseStatement]) -> cst.IndentedBlock:
    body = block.node.body
    return block.node.with_changes(body=[*body[:i], *new, *body[i + 2 :]])


class LoopToComprehension:
    """`out = []` + `for x in xs: [if c:] out.append(f(x))` → `out = [f(x) for x in xs [if c]]`."""

    name = "loop-to-comprehension"
    kind = SuggestionKind.OPTIMIZATION

    def sites(self, fn: FunctionInfo) -> Iterator[Site]:
        for block, i, init, stmt in _pairs(fn):
            small, loop = only_small(init), _plain_for(stmt)
            target = assigned_name(small)
            if small is None or loop is None or target is None or not is_empty_list(target[1]):
                continue
            assert isinstance(init, cst.SimpleStatementLine)
            name = target[0]
            parts = _filtered_body(loop)
            if parts is None or not fn.is_local(name) or not fn.loop_target_private(loop):
                continue
            cond, inner = parts
            append = (
                method_call(inner.value, name, "append") if isinstance(inner, cst.Expr) else None
            )
            elt = single_positional(append) if append is not None else None
            if elt is None or len(fn.occurrences(name, loop)) != 1:
                continue
            if _scope_sensitive(elt, cond, await_ok=True):
                continue
            if _result_escapes(fn, name, block, i):
                continue
            comp = cst.ListComp(elt=elt, for_in=_comp_for(loop, cond))
            flat = fn.module.code_for_node(comp)
            if "\n" in flat or len(block.indent) + len(name) + 3 + len(flat) > _MAX_WIDTH:
                comp = _wrapped(comp, fn.module.default_indent)
            kept = [n for n in (elt, cond, loop.iter, loop.target) if n is not None]
            new_init = init.with_changes(
                body=[small.with_changes(value=comp)],
                leading_lines=[*init.leading_lines, *moved_comments(loop, kept)],
            )
            yield Site(
                block.node,
                _replace_pair(block, i, [new_init]),
                f"builds `{name}` with a list comprehension instead of appending to it in a loop.",
            )


class DedupeWithDictFromkeys:
    """`out = []` + `for x in xs: if x not in out: out.append(x)` → `list(dict.fromkeys(xs))`."""

    name = "dedupe-with-dict-fromkeys"
    kind = SuggestionKind.OPTIMIZATION

    def sites(self, fn: FunctionInfo) -> Iterator[Site]:
        if not all(fn.is_builtin(b) for b in ("dict", "list")):
            return
        for block, i, init, stmt in _pairs(fn):
            small, loop = only_small(init), _plain_for(stmt)
            target = assigned_name(small)
            if small is None or loop is None or target is None or not is_empty_list(target[1]):
                continue
            assert isinstance(init, cst.SimpleStatementLine)
            name = target[0]
            key = self._key(fn, loop, name)
            if key is None or _result_escapes(fn, name, block, i):
                continue
            source: cst.BaseExpression = loop.iter
            if not (isinstance(key, cst.Name) and is_name(loop.target, key.value)):
                source = cst.GeneratorExp(elt=key, for_in=_comp_for(loop, None), lpar=[], rpar=[])
            value = call(
                "list", call(cst.Attribute(cst.Name("dict"), cst.Name("fromkeys")), source)
            )
            kept = [key, loop.iter, loop.target]
            new_init = init.with_changes(
                body=[small.with_changes(value=value)],
                leading_lines=[*init.leading_lines, *moved_comments(loop, kept)],
            )
            yield Site(
                block.node,
                _replace_pair(block, i, [new_init]),
                f"de-duplicates into `{name}` with `list(dict.fromkeys(...))`, keeping first-seen "
                "order, instead of a quadratic `not in` scan (the elements must be hashable).",
            )

    @staticmethod
    def _key(fn: FunctionInfo, loop: cst.For, name: str) -> cst.BaseExpression | None:
        """The de-duplicated expression when the loop is exactly the dedupe idiom."""
        parts = _filtered_body(loop)
        if parts is None or not isinstance(loop.target, cst.Name):
            return None
        test, inner = parts
        if not isinstance(test, cst.Comparison) or len(test.comparisons) != 1:
            return None
        (compared,) = test.comparisons
        if not isinstance(compared.operator, cst.NotIn) or not is_name(compared.comparator, name):
            return None
        append = method_call(inner.value, name, "append") if isinstance(inner, cst.Expr) else None
        added = single_positional(append) if append is not None else None
        if added is None or not added.deep_equals(test.left) or not simple_value(added):
            return None
        if len(fn.occurrences(name, loop)) != 2 or not fn.is_local(name):
            return None
        return added if fn.loop_target_private(loop) else None


class LoopToAnyAll:
    """`for x in xs: if c: return True` + `return False` → `return any(c for x in xs)`."""

    name = "loop-to-any-all"
    kind = SuggestionKind.OPTIMIZATION

    def sites(self, fn: FunctionInfo) -> Iterator[Site]:
        for block, i, stmt, after in _pairs(fn):
            loop, final = _plain_for(stmt), only_small(after)
            parts = _filtered_body(loop) if loop is not None else None
            if loop is None or parts is None:
                continue
            cond, inner = parts
            if cond is None or _scope_sensitive(cond, None, await_ok=False):
                continue
            early = _returned_bool(inner)
            if early is None or _returned_bool(final) != (not early):
                continue
            builtin = "any" if early else "all"
            if not fn.is_builtin(builtin) or not fn.loop_target_private(loop):
                continue
            elt = cond if early else _negated(cond)
            gen = cst.GeneratorExp(
                elt=_comp_operand(elt), for_in=_comp_for(loop, None), lpar=[], rpar=[]
            )
            assert isinstance(after, cst.SimpleStatementLine)
            leading = [
                *loop.leading_lines,
                *moved_comments(
                    loop.with_changes(leading_lines=[]), [cond, loop.iter, loop.target]
                ),
                *leading_comments(after.leading_lines),
            ]
            new_return = after.with_changes(
                body=[cst.Return(call(builtin, gen))], leading_lines=leading
            )
            yield Site(
                block.node,
                _replace_pair(block, i, [new_return]),
                f"returns `{builtin}(...)` over a generator instead of looping to an early return.",
            )


def _returned_bool(node: cst.CSTNode | None) -> bool | None:
    if isinstance(node, cst.Return) and isinstance(node.value, cst.Name):
        return {"True": True, "False": False}.get(node.value.value)
    return None


_INVERSE: dict[type[cst.BaseCompOp], cst.BaseCompOp] = {
    cst.In: cst.NotIn(),
    cst.NotIn: cst.In(),
    cst.Is: cst.IsNot(),
    cst.IsNot: cst.Is(),
}


def _negated(cond: cst.BaseExpression) -> cst.BaseExpression:
    if isinstance(cond, cst.UnaryOperation) and isinstance(cond.operator, cst.Not):
        inner = cond.expression
        return inner.with_changes(lpar=cond.lpar, rpar=cond.rpar) if cond.lpar else inner
    if isinstance(cond, cst.Comparison) and len(cond.comparisons) == 1 and not cond.lpar:
        (target,) = cond.comparisons
        inverse = _INVERSE.get(type(target.operator))
        if inverse is not None:
            return cond.with_changes(comparisons=[target.with_changes(operator=inverse)])
    return cst.UnaryOperation(operator=cst.Not(), expression=parenthesized(cond))


class StrConcatToJoin:
    """`s = ""` + a loop doing `s += piece` → collect pieces in a list, `"".join` after."""

    name = "str-concat-to-join"
    kind = SuggestionKind.OPTIMIZATION

    def sites(self, fn: FunctionInfo) -> Iterator[Site]:
        for block, i, init, loop in _pairs(fn):
            small = only_small(init)
            target = assigned_name(small)
            if small is None or target is None or not isinstance(loop, cst.For | cst.While):
                continue
            assert isinstance(init, cst.SimpleStatementLine)
            name, value = target
            quote = _str_literal_quote(value)
            if quote is None or not fn.is_local(name) or _result_escapes(fn, name, block, i):
                continue
            augs = self._accumulations(fn, loop, name)
            parts = fn.fresh(f"{name}_parts")
            if not augs or parts is None:
                continue
            first: list[cst.BaseExpression] = [] if _is_empty_str(value) else [value]
            start: cst.BaseSmallStatement = assign(parts, cst.List([cst.Element(v) for v in first]))
            joined = call(
                cst.Attribute(cst.SimpleString(quote * 2), cst.Name("join")), cst.Name(parts)
            )
            end: cst.BaseSmallStatement = assign(name, joined)
            if isinstance(small, cst.AnnAssign):
                end = small.with_changes(value=joined)
                start = cst.AnnAssign(
                    cst.Name(parts),
                    cst.Annotation(cst.parse_expression("list[str]")),
                    start.value if isinstance(start, cst.Assign) else None,
                )
            new_loop = replace_nodes(
                loop, {id(a): cst.Expr(attr_call(parts, "append", a.value)) for a in augs}
            )
            assert isinstance(new_loop, cst.BaseStatement)
            new = [init.with_changes(body=[start]), new_loop, line(end)]
            yield Site(
                block.node,
                _replace_pair(block, i, new),
                f"collects the pieces of `{name}` in a list and joins them once after the loop "
                "instead of concatenating strings on every iteration.",
            )

    @staticmethod
    def _accumulations(fn: FunctionInfo, loop: cst.CSTNode, name: str) -> list[cst.AugAssign]:
        """The `name += piece` statements, when they are the only uses of `name` in the loop."""
        found: list[cst.AugAssign] = []
        for occurrence in fn.occurrences(name, loop):
            parent = fn.parent.get(id(occurrence))
            if not isinstance(parent, cst.AugAssign) or parent.target is not occurrence:
                return []
            if not isinstance(parent.operator, cst.AddAssign) or fn.in_nested_scope(parent, loop):
                return []
            found.append(parent)
        return found


def _str_literal_quote(node: cst.BaseExpression) -> str | None:
    """The quote character of a str (not bytes) literal, else None."""
    if isinstance(node, cst.SimpleString):
        return None if "b" in node.prefix.lower() else node.quote[0]
    if isinstance(node, cst.FormattedString):
        return node.start[-1]
    if isinstance(node, cst.ConcatenatedString):
        return _str_literal_quote(node.left)
    return None


def _is_empty_str(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.SimpleString) and node.evaluated_value in ("", b"")
