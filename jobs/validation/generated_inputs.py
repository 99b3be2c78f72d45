"""Inputs that hypothesis generates for a changed function whose parameters are plain values.

The parameters' strategies come from their annotations (int, float, str, bool,
bytes, and list/tuple/dict/set of those, Optional) or, without one, from the
types of the values the tests passed in the recorded calls. A function with
*args/**kwargs, a parameter no strategy fits, or a method is not generated
for. Generation is deterministic (derandomized): the same function gets the
same inputs on every analysis.
"""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisException

from provenfix.jobs.validation import probe_values as values

_SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "int": st.integers(min_value=-(10**6), max_value=10**6),
    "float": st.floats(allow_nan=False, allow_infinity=False, width=32),
    "str": st.text(max_size=12),
    "bool": st.booleans(),
    "bytes": st.binary(max_size=12),
    "None": st.none(),
}
_SMALL = 6  # elements of a generated container


def generated_calls(
    source: str, qualname: str, recorded: Sequence[Mapping[str, Any]], count: int = 60
) -> tuple[Any, ...]:
    """Encoded [args, kwargs] pairs for `qualname` in `source`; () when nothing fits."""
    function = _find(source, qualname)
    if function is None or "." in qualname:  # methods need an instance: not generated
        return ()
    args = function.args
    if args.vararg or args.kwarg or args.posonlyargs or args.kwonlyargs:
        return ()
    observed = _observed(recorded, len(args.args))
    strategies: list[st.SearchStrategy[Any]] = []
    for position, arg in enumerate(args.args):
        strategy = _from_annotation(arg.annotation) if arg.annotation else None
        if strategy is None:
            strategy = _from_values(observed[position])
        if strategy is None:
            return ()
        strategies.append(strategy)
    if not strategies:
        return ()
    found: list[Any] = []

    @settings(
        max_examples=count,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        deadline=None,
    )
    @given(st.tuples(*strategies))
    def collect(example: tuple[Any, ...]) -> None:
        with contextlib.suppress(values.Unencodable):
            found.append(values.encode([list(example), {}]))

    try:
        collect()
    except HypothesisException:
        return ()
    unique = {values.canonical(item): item for item in found}
    return tuple(unique.values())


def _find(source: str, qualname: str) -> ast.FunctionDef | None:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    body: list[ast.stmt] = tree.body
    parts = qualname.split(".")
    for index, part in enumerate(parts):
        node = next(
            (n for n in body if isinstance(n, ast.FunctionDef | ast.ClassDef) and n.name == part),
            None,
        )
        if node is None:
            return None
        if index == len(parts) - 1:
            return node if isinstance(node, ast.FunctionDef) else None
        body = node.body
    return None


def _from_annotation(node: ast.expr) -> st.SearchStrategy[Any] | None:
    if isinstance(node, ast.Constant) and node.value is None:
        return _SCALARS["None"]
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        try:
            return _from_annotation(ast.parse(node.value, mode="eval").body)
        except SyntaxError:
            return None
    if isinstance(node, ast.Name):
        return _SCALARS.get(node.id)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _from_annotation(node.left), _from_annotation(node.right)
        return left | right if left is not None and right is not None else None
    if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
        name = node.value.id.lower()
        inner = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        parts = [_from_annotation(e) for e in inner]
        if any(p is None for p in parts):
            return None
        items = [p for p in parts if p is not None]
        if name in {"list", "sequence"} and len(items) == 1:
            return st.lists(items[0], max_size=_SMALL)
        if name in {"set", "frozenset"} and len(items) == 1:
            return st.sets(items[0], max_size=_SMALL)
        if name == "dict" and len(items) == 2:
            return st.dictionaries(items[0], items[1], max_size=_SMALL)
        if name == "tuple":
            return st.tuples(*items)
        if name == "optional" and len(items) == 1:
            return st.none() | items[0]
    return None


def _observed(recorded: Sequence[Mapping[str, Any]], count: int) -> list[list[Any]]:
    """Per positional parameter, the decoded values the tests passed."""
    seen: list[list[Any]] = [[] for _ in range(count)]
    for call in recorded:
        try:
            positional, keywords = values.decode(call["args"])
        except (ValueError, TypeError, KeyError):
            continue
        if keywords or len(positional) != count:
            continue  # defaults or keywords: positions are not comparable
        for index, value in enumerate(positional):
            seen[index].append(value)
    return seen


def _from_values(observed: Sequence[Any]) -> st.SearchStrategy[Any] | None:
    if not observed:
        return None
    kinds = {_shape(v) for v in observed}
    if len(kinds) != 1 or None in kinds:
        return None
    return _strategy(observed[0])


def _shape(value: Any) -> str | None:
    kind = type(value)
    if kind in (int, float, str, bool, bytes):
        return kind.__name__
    if kind in (list, tuple, set, dict):
        inner = {_shape(v) for v in (value.items() if kind is dict else value)}
        if len(inner) > 1 or None in inner:
            return None
        return f"{kind.__name__}[{next(iter(inner), '')}]"
    return None


def _strategy(value: Any) -> st.SearchStrategy[Any] | None:
    kind = type(value)
    if kind.__name__ in _SCALARS:
        return _SCALARS[kind.__name__]
    items = list(value.items() if kind is dict else value)
    if not items:
        return None
    if kind is dict:
        key, item = _strategy(items[0][0]), _strategy(items[0][1])
        return None if key is None or item is None else st.dictionaries(key, item, max_size=_SMALL)
    element = _strategy(items[0])
    if element is None:
        return None
    if kind is list:
        return st.lists(element, max_size=_SMALL)
    if kind is set:
        return st.sets(element, max_size=_SMALL)
    if kind is tuple:
        shapes = [_strategy(v) for v in items]
        if any(s is None for s in shapes):
            return None
        return st.tuples(*[s for s in shapes if s is not None])
    return None
