"""From verdicts and evidence to ranked suggestions: at most one per finding.

A suggestion claims only the findings it resolves: a semgrep finding whose
lines the candidate does not touch, or whose rule still matches the changed
region afterwards, is left for another suggestion (a model's rewrite of a whole
function is often asked about several findings and fixes one of them). One that
resolves none of its findings claims nothing and is kept only where no better
suggestion changes its lines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jobs.model import Candidate, Finding, FindingSource, LineRange, Suggestion, Validation, Weights
from jobs.rationale import write_rationale
from jobs.scoring import Evidence, score

_NO_EVIDENCE = Evidence(0, 0, 0, 0, 0, 0)


def assemble_suggestions(
    candidates: Sequence[Candidate],
    findings: Sequence[Finding],
    verdicts: Mapping[str, Validation],
    evidence: Mapping[str, Evidence],
    *,
    weights: Weights,
    complexity_threshold: int,
) -> tuple[Suggestion, ...]:
    by_id = {f.id: f for f in findings}
    built: list[Suggestion] = []
    for cand in candidates:
        validation = verdicts.get(cand.id) or Validation.not_run("not validated")
        proof = evidence.get(cand.id)
        result = score(proof or _NO_EVIDENCE, validation, weights, complexity_threshold)
        finding_ids = resolved_findings(cand, by_id, proof)
        addressed = [by_id[i] for i in finding_ids if i in by_id]
        built.append(
            Suggestion(
                id=cand.id,
                finding_ids=finding_ids,
                kind=cand.kind,
                source=cand.source,
                path=cand.path,
                start_line=cand.start_line,
                end_line=cand.end_line,
                original=cand.original,
                replacement=cand.replacement,
                rationale=write_rationale(cand, addressed, validation, proof, result),
                validation=validation,
                score=result,
            )
        )
    # best first: proven before unproven, then by reliability
    built.sort(key=lambda s: (not s.committable, -s.score.reliability, s.path, s.start_line))
    kept: list[Suggestion] = []
    claimed: set[str] = set()
    for suggestion in built:
        if claimed.intersection(suggestion.finding_ids):
            continue
        lines = LineRange(suggestion.start_line, suggestion.end_line)
        if not suggestion.finding_ids and any(
            k.path == suggestion.path and LineRange(k.start_line, k.end_line).overlaps(lines)
            for k in kept
        ):
            continue
        claimed.update(suggestion.finding_ids)
        kept.append(suggestion)
    return tuple(kept)


def resolved_findings(
    cand: Candidate, by_id: Mapping[str, Finding], proof: Evidence | None
) -> tuple[str, ...]:
    """The candidate's findings that it resolves (tests and radon findings count: the tests
    and the complexity measurement judge those)."""
    touched = cand.lines
    return tuple(
        fid
        for fid in cand.finding_ids
        if (finding := by_id.get(fid)) is None
        or finding.source is not FindingSource.SEMGREP
        or (
            LineRange(finding.start_line, finding.end_line).overlaps(touched)
            and (proof is None or finding.rule_id not in proof.rules_after)
        )
    )
