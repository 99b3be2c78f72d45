"""From verdicts and evidence to ranked suggestions: at most one per finding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jobs.model import Candidate, Finding, Suggestion, Validation, Weights
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
        addressed = [by_id[i] for i in cand.finding_ids if i in by_id]
        built.append(
            Suggestion(
                id=cand.id,
                finding_ids=cand.finding_ids,
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
        claimed.update(suggestion.finding_ids)
        kept.append(suggestion)
    return tuple(kept)
