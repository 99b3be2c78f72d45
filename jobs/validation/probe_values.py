"""Values as canonical JSON, for recording calls in one process and replaying them in another.

Runs INSIDE the sandbox (copied beside the probe) and on the host, so it imports
nothing from ProvenFix. Only plain data survives the trip: None, bool, int,
float, complex, str, bytes, and lists, tuples, dicts, sets and frozensets of
those, within a size budget. Anything else raises `Unencodable`: that call is
counted as "not replayable", never guessed at.

Two values behave the same exactly when their encodings are equal, so a float
keeps its repr (1 and 1.0 differ, NaN equals NaN), a tuple is not a list, and a
dict keeps its insertion order (iteration order is observable behaviour).
"""

from __future__ import annotations

import base64
import json
from typing import Any

MAX_ITEMS = 50000  # containers and their elements, per encoded value
MAX_DEPTH = 12
MAX_TEXT = 20000  # characters of one str, bytes of one bytes


class Unencodable(ValueError):
    """The value is not plain data (or is too big to replay)."""


def encode(value: Any) -> Any:
    budget = [MAX_ITEMS]
    return _encode(value, 0, budget)


def _encode(value: Any, depth: int, budget: list[int]) -> Any:
    budget[0] -= 1
    if budget[0] < 0:
        raise Unencodable("too many items")
    if depth > MAX_DEPTH:
        raise Unencodable("nested too deeply")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        if kind is str and len(value) > MAX_TEXT:
            raise Unencodable("string too long")
        return value
    if kind is int:
        return value if -(2**53) < value < 2**53 else {"int": str(value)}
    if kind is float:
        return {"float": repr(value)}
    if kind is complex:
        return {"complex": [repr(value.real), repr(value.imag)]}
    if kind is bytes:
        if len(value) > MAX_TEXT:
            raise Unencodable("bytes too long")
        return {"bytes": base64.b64encode(value).decode("ascii")}
    if kind is list:
        return [_encode(v, depth + 1, budget) for v in value]
    if kind is tuple:
        return {"tuple": [_encode(v, depth + 1, budget) for v in value]}
    if kind is dict:
        return {
            "dict": [
                [_encode(k, depth + 1, budget), _encode(v, depth + 1, budget)]
                for k, v in value.items()
            ]
        }
    if kind is set or kind is frozenset:
        items = sorted((_encode(v, depth + 1, budget) for v in value), key=canonical)
        return {"set" if kind is set else "frozenset": items}
    raise Unencodable(f"{kind.__module__}.{kind.__qualname__}")


def decode(data: Any) -> Any:
    if data is None or isinstance(data, bool | str | int):
        return data
    if isinstance(data, float):  # never written by encode; tolerated from generated inputs
        return data
    if isinstance(data, list):
        return [decode(v) for v in data]
    if isinstance(data, dict) and len(data) == 1:
        ((tag, payload),) = data.items()
        if tag == "int":
            return int(payload)
        if tag == "float":
            return float(payload)
        if tag == "complex":
            return complex(float(payload[0]), float(payload[1]))
        if tag == "bytes":
            return base64.b64decode(payload)
        if tag == "tuple":
            return tuple(decode(v) for v in payload)
        if tag == "dict":
            return {decode(k): decode(v) for k, v in payload}
        if tag == "set":
            return {decode(v) for v in payload}
        if tag == "frozenset":
            return frozenset(decode(v) for v in payload)
    raise ValueError(f"not an encoded value: {str(data)[:80]}")


def canonical(data: Any) -> str:
    """The text two encoded values share exactly when they behave the same."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def describe(data: Any, limit: int = 120) -> str:
    """A short Python-like rendering of an encoded value, for messages."""
    try:
        text = repr(decode(data))
    except (ValueError, TypeError, OverflowError):
        text = canonical(data)
    return text if len(text) <= limit else text[: limit - 1] + "…"
