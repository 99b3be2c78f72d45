"""Candidates from semgrep autofixes: the rule's fix text, applied exactly."""

from __future__ import annotations

from collections.abc import Sequence

from provenfix.jobs.generation.edits import EditError, apply_candidates, line_candidate, parse_error
from provenfix.jobs.report import Candidate, Category, Finding, SuggestionKind
from provenfix.jobs.snapshot import Snapshot


class SemgrepAutofixGenerator:
    name = "semgrep-autofix"

    def generate(self, findings: Sequence[Finding], snapshot: Snapshot) -> list[Candidate]:
        candidates: list[Candidate] = []
        for finding in findings:
            if finding.fix is None or finding.fix_span is None:
                continue
            versions = snapshot.file(finding.path)
            if versions is None:
                continue
            kind = (
                SuggestionKind.OPTIMIZATION
                if finding.category is Category.PERFORMANCE
                else SuggestionKind.REPAIR
            )
            try:
                candidate = line_candidate(
                    versions.head.text,
                    finding.fix_span,
                    finding.fix,
                    path=finding.path,
                    finding_ids=(finding.id,),
                    kind=kind,
                    source=self.name,
                    description=f"applies the `{finding.rule_id}` autofix",
                )
            except (EditError, UnicodeDecodeError):
                continue
            if candidate.original == candidate.replacement:
                continue
            text = apply_candidates(versions.head.text, [candidate])
            if parse_error(finding.path, text) is None:
                candidates.append(candidate)
        return candidates
