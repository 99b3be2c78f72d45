"""From verdicts and evidence to ranked suggestions: at most one per finding, each earned.

A suggestion claims only the findings it resolves: a semgrep finding whose
lines it touches and whose rule no longer matches the region afterwards, a
failing test that now passes in every run, a complexity finding whose function
drops below the limit (or, for an increase, below where it was).

The posting gate: a proven candidate becomes a committable suggestion only
when it resolves at least one finding, or is an optimization with a
significant measured speed-up (lower 95% bound >= 1.1x; an optimization needs
that in any case), and when every line it replaces is one the change added
or modified. Anything else goes to `skipped` with the reason. An unproven
candidate stays listed (never committable) only while it addresses a finding;
its `finding_ids` are the findings it was made for, and its rationale says it
is not proven.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from provenfix.jobs.rationale import write_rationale
from provenfix.jobs.report import (
    Candidate,
    Finding,
    FindingSource,
    LineRange,
    Skipped,
    Suggestion,
    SuggestionKind,
    Validation,
    ValidationStatus,
    Weights,
)
from provenfix.jobs.scoring import Evidence, score

_NO_EVIDENCE = Evidence(0, 0, 0, 0, 0, 0)


def assemble_suggestions(
    candidates: Sequence[Candidate],
    findings: Sequence[Finding],
    verdicts: Mapping[str, Validation],
    evidence: Mapping[str, Evidence],
    *,
    weights: Weights,
    complexity_threshold: int,
    changed: Mapping[str, Sequence[LineRange]] | None = None,
) -> tuple[tuple[Suggestion, ...], tuple[Skipped, ...]]:
    """The suggestions to report, best first, and the candidates the gate turned away.

    `changed`: the head lines the change added or modified, per path (None: no limit).
    """
    by_id = {f.id: f for f in findings}
    built: list[Suggestion] = []
    turned_away: list[Skipped] = []
    for cand in candidates:
        validation = verdicts.get(cand.id) or Validation.not_run("not validated")
        proof = evidence.get(cand.id)
        result = score(proof or _NO_EVIDENCE, validation, weights, complexity_threshold)
        finding_ids = resolved_findings(cand, by_id, proof, validation, complexity_threshold)
        refusal = gate(cand, validation, finding_ids, changed)
        if validation.status is not ValidationStatus.PASSED:
            finding_ids = cand.finding_ids  # what it was made for; it resolves nothing yet
        if refusal:
            turned_away.append(Skipped(cand.path, refusal, cand.start_line))
            continue
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
    built.sort(
        key=lambda s: (not s.committable, -_tier(s), -s.score.reliability, s.path, s.start_line)
    )
    kept: list[Suggestion] = []
    claimed: set[str] = set()
    for suggestion in built:
        if claimed.intersection(suggestion.finding_ids):
            turned_away.append(
                Skipped(
                    suggestion.path,
                    f"{suggestion.source}: a better-proven suggestion resolves the same finding",
                    suggestion.start_line,
                )
            )
            continue
        lines = LineRange(suggestion.start_line, suggestion.end_line)
        if not suggestion.finding_ids and any(
            k.path == suggestion.path and LineRange(k.start_line, k.end_line).overlaps(lines)
            for k in kept
        ):
            continue
        claimed.update(suggestion.finding_ids)
        kept.append(suggestion)
    return tuple(kept), tuple(turned_away)


def gate(
    cand: Candidate,
    validation: Validation,
    resolved: tuple[str, ...],
    changed: Mapping[str, Sequence[LineRange]] | None,
) -> str:
    """Why this candidate may not be reported; "" when it may."""
    label = _label(cand)
    if validation.status is not ValidationStatus.PASSED:
        return "" if cand.finding_ids else f"{label}: not proven and resolves no finding"
    if changed is not None:
        line = untouched_line(cand, changed)
        if line is not None:
            return outside_reason(cand, line)
    if cand.kind is SuggestionKind.OPTIMIZATION:
        speed = validation.speed
        if speed is None:
            return f"{label}: no speed-up could be measured on replayed calls"
        if not speed.significant:
            return (
                f"{label}: measured {speed.speedup:.2f}x (95% interval {speed.low:.2f}-"
                f"{speed.high:.2f}x), not a significant speed-up"
            )
        return ""
    if not resolved:
        return f"{label}: proven, but resolves none of the findings it was made for"
    return ""


def resolved_findings(
    cand: Candidate,
    by_id: Mapping[str, Finding],
    proof: Evidence | None,
    validation: Validation | None = None,
    complexity_threshold: int = 10,
) -> tuple[str, ...]:
    """The candidate's findings that it measurably resolves."""
    touched = cand.lines
    fixed = set(validation.fixed_tests) if validation else set()
    resolved: list[str] = []
    for fid in cand.finding_ids:
        finding = by_id.get(fid)
        if finding is None:
            continue
        if finding.source is FindingSource.TESTS:
            ok = finding.test in fixed
        elif finding.source is FindingSource.RADON:
            ok = proof is not None and (
                proof.complexity_after <= complexity_threshold
                if finding.rule_id == "complexity-above-threshold"
                else proof.complexity_after < proof.complexity_before
            )
        else:
            ok = (
                LineRange(finding.start_line, finding.end_line).overlaps(touched)
                and proof is not None
                and finding.rule_id not in proof.rules_after
            )
        if ok:
            resolved.append(fid)
    return tuple(resolved)


def untouched_line(cand: Candidate, changed: Mapping[str, Sequence[LineRange]]) -> int | None:
    """The first line the candidate replaces that the change did not add or modify."""
    added = changed.get(cand.path, ())
    return next((n for n in range(cand.start_line, cand.end_line + 1) if not _in(n, added)), None)


def outside_reason(cand: Candidate, line: int) -> str:
    return f"{_label(cand)}: rewrites line {line}, which this change did not touch"


def _label(cand: Candidate) -> str:
    return f"{cand.source} ({cand.description.rstrip('.')})"


def _tier(s: Suggestion) -> int:
    """Exercised and replayed, exercised, or neither: a score never outranks the tier above."""
    exercised = (s.score.components.coverage or 0.0) > 0
    replay = s.validation.replay
    replayed = bool(s.validation.fixed_tests) or (
        replay is not None and replay.calls_replayed + replay.inputs_generated > 0
    )
    return (2 if replayed else 1) if exercised else 0


def _in(line: int, ranges: Sequence[LineRange]) -> bool:
    return any(line in r for r in ranges)
