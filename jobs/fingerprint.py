"""Stable finding ids: the same problem keeps its id when lines move.

The id hashes the rule, the file, the enclosing function and the offending
code with comments and layout removed. Line numbers are deliberately left out;
identical matches in one function are told apart by their order.
"""

from __future__ import annotations

import hashlib
from collections import Counter

from provenfix.jobs.source import normalize_code


class Fingerprinter:
    """Hands out ids for one analysis; counts repeats so twins get distinct ids."""

    def __init__(self) -> None:
        self._seen: Counter[str] = Counter()

    def __call__(self, rule_id: str, path: str, function: str | None, code: str) -> str:
        key = "\x1f".join((rule_id, path, function or "<module>", normalize_code(code)))
        occurrence = self._seen[key]
        self._seen[key] += 1
        digest = hashlib.sha256(f"{key}\x1f{occurrence}".encode()).hexdigest()
        return f"pf-{digest[:20]}"
