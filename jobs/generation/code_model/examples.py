"""Fixes the maintainers accepted, shown to the code model as examples.

An `ExampleSource` (the App's is bot.accepted_examples.AcceptedFixExamples)
gives, for a rule, the accepted fixes of that rule in the repository being
analyzed that are closest to the function being repaired. The prompt shows a
few of them, each as a small diff, so the model writes a fix in the style the
maintainers took before. Nothing here fails an analysis: a source that raises
is logged and the prompt goes without examples.
"""

from __future__ import annotations

import difflib
import logging
import textwrap
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("provenfix.model")

MAX_EXAMPLES = 2  # in one prompt, over all of its rules
MAX_EXAMPLE_LINES = 30  # a longer example's diff is left out
_ASKED = 6  # asked of the source per rule, so that long ones can be left out


@dataclass(frozen=True)
class AcceptedExample:
    """A proven fix a maintainer accepted: the lines it replaced and their replacement."""

    rule_id: str
    path: str
    original: str
    replacement: str


class ExampleSource(Protocol):
    def examples(self, rule_id: str, code: str, limit: int) -> Sequence[AcceptedExample]:
        """At most `limit` accepted fixes of `rule_id`, the closest to `code` (the function
        being repaired) first."""
        ...


def gather(
    source: ExampleSource | None,
    rule_ids: Iterable[str],
    code: str,
    *,
    limit: int = MAX_EXAMPLES,
    max_lines: int = MAX_EXAMPLE_LINES,
) -> list[tuple[AcceptedExample, str]]:
    """Up to `limit` examples for the rules (in their order, each rule's closest first),
    each with its diff; those whose diff is over `max_lines` lines are left out."""
    if source is None or limit <= 0:
        return []
    chosen: list[tuple[AcceptedExample, str]] = []
    seen: set[tuple[str, str]] = set()
    for rule_id in dict.fromkeys(rule_ids):
        try:
            found = list(source.examples(rule_id, code, max(limit, _ASKED)))
        except Exception as exc:  # noqa: BLE001 - a database behind a seam: never fail on it
            log.warning("no accepted examples for %s (%s): going without", rule_id, exc)
            return []
        for example in found:
            key = (example.original, example.replacement)
            diff = example_diff(example)
            if key in seen or not diff or len(diff.splitlines()) > max_lines:
                continue
            seen.add(key)
            chosen.append((example, diff))
            if len(chosen) == limit:
                return chosen
    return chosen


def example_diff(example: AcceptedExample) -> str:
    """The fix as unified-diff lines (no headers; "..." between hunks), dedented together."""
    before = example.original.splitlines()
    after = example.replacement.splitlines()
    both = textwrap.dedent("\n".join([*before, *after])).split("\n")
    before, after = both[: len(before)], both[len(before) :]
    diff = difflib.unified_diff(before, after, "before", "after", n=3, lineterm="")
    lines = [line for line in diff if not line.startswith(("---", "+++"))]
    shown = ["..." if line.startswith("@@") else line for line in lines[1:]]  # between hunks
    return "\n".join(shown)


def examples_part(chosen: Sequence[tuple[AcceptedExample, str]]) -> str:
    """The prompt's part for the chosen examples ("" for none): one heading per rule."""
    by_rule: dict[str, list[tuple[AcceptedExample, str]]] = {}
    for example, diff in chosen:
        by_rule.setdefault(example.rule_id, []).append((example, diff))
    sections = []
    for rule_id, pairs in by_rule.items():
        shown = [f"In `{example.path}`:\n```diff\n{diff}\n```" for example, diff in pairs]
        sections.append(
            "Fixes the maintainers of this repository accepted for the same rule "
            f"(`{rule_id}`):\n" + "\n".join(shown)
        )
    return "\n\n".join(sections)
