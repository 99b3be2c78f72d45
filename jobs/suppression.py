"""Inline suppression: `# provenfix: ignore[rule-id]` on a finding's line, or alone on the
line above it, drops that finding (`# provenfix: ignore` drops every rule there; several
ids are separated by commas). Complexity findings sit on the `def` line, so a comment
there (or above it) suppresses them too. Suppressed findings are listed as skipped with
the reason, never silently gone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from provenfix.jobs.report import Finding, Skipped
from provenfix.jobs.snapshot import Snapshot

_DIRECTIVE = re.compile(r"#\s*provenfix:\s*ignore\b(?:\[([^\]]*)\])?", re.IGNORECASE)
ALL_RULES = frozenset({"*"})


def directive_rules(line: str) -> frozenset[str] | None:
    """The rules `line`'s directive names (ALL_RULES for a bare one); None without one."""
    match = _DIRECTIVE.search(line)
    if match is None:
        return None
    if match.group(1) is None:
        return ALL_RULES
    return frozenset(part.strip() for part in match.group(1).split(",") if part.strip())


def split_suppressed(
    findings: Iterable[Finding], snapshot: Snapshot
) -> tuple[list[Finding], list[Skipped]]:
    """(the findings that stand, the suppressed ones as skipped entries)."""
    kept: list[Finding] = []
    skipped: list[Skipped] = []
    for finding in findings:
        versions = snapshot.file(finding.path)
        lines = versions.head.text.splitlines() if versions is not None else []
        rules = _rules_at(lines, finding.start_line)
        if rules is not None and (rules == ALL_RULES or finding.rule_id in rules):
            reason = f"{finding.rule_id} suppressed by a `# provenfix: ignore` comment"
            skipped.append(Skipped(finding.path, reason, finding.start_line))
        else:
            kept.append(finding)
    return kept, skipped


def _rules_at(lines: Sequence[str], line: int) -> frozenset[str] | None:
    if 1 <= line <= len(lines):
        found = directive_rules(lines[line - 1])
        if found is not None:
            return found
    if 2 <= line <= len(lines) + 1 and lines[line - 2].lstrip().startswith("#"):
        return directive_rules(lines[line - 2])
    return None
