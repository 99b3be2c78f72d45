"""The reliability reward R = α(1 − Dd) + β·Pe + γ(1 − Cc), from measured evidence.

See docs/scoring.md for every normalization. In short, for the lines a
candidate replaces (its region):

- Dd (defect density) = min(1, findings in the region / lines in the region),
  before (head) and after (head with the candidate, re-scanned by semgrep).
- Cc (normalized complexity) = min(1, cc / (2 × complexity threshold)) of the
  function(s) the region lies in, before and after (radon).
- Pe (performance efficiency) = t_before / (t_before + t_after) of the covering
  tests' measured runtime, 0.5 meaning "no change"; None when not measured, in
  which case β drops out and the other weights are renormalized.
- confidence = (0.5 + 0.5 × coverage) × (0.8 if any test was flaky), where
  coverage is the share of the region's lines the selected tests execute.

R = confidence × (α(1 − Dd_after) + β·Pe + γ(1 − Cc_after)) / (α + β + γ).
A candidate that was not proven scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from jobs.model import Score, ScoreComponents, Validation, ValidationStatus, Weights

FLAKY_PENALTY = 0.8


@dataclass(frozen=True)
class Evidence:
    """What was measured for one candidate."""

    region_lines_before: int
    region_lines_after: int
    findings_before: int
    findings_after: int
    complexity_before: int  # radon cc of the enclosing function(s), summed
    complexity_after: int
    seconds_before: float | None = None  # medians of interleaved runs
    seconds_after: float | None = None
    faster: bool = False  # every run with the change beat every run without it
    coverage: float | None = None  # share of region lines the selected tests execute
    # semgrep rules that still match the candidate's region after it is applied
    rules_after: frozenset[str] = frozenset()


def defect_density(findings: int, lines: int) -> float:
    return min(1.0, findings / max(1, lines))


def normalized_complexity(cc: int, threshold: int) -> float:
    return min(1.0, max(0, cc) / (2 * max(1, threshold)))


def performance_efficiency(before: float | None, after: float | None) -> float | None:
    if before is None or after is None or before + after <= 0:
        return None
    return before / (before + after)


def score(
    evidence: Evidence, validation: Validation, weights: Weights, complexity_threshold: int
) -> Score:
    components = ScoreComponents(
        defect_density_before=round(
            defect_density(evidence.findings_before, evidence.region_lines_before), 4
        ),
        defect_density_after=round(
            defect_density(evidence.findings_after, evidence.region_lines_after), 4
        ),
        complexity_before=round(
            normalized_complexity(evidence.complexity_before, complexity_threshold), 4
        ),
        complexity_after=round(
            normalized_complexity(evidence.complexity_after, complexity_threshold), 4
        ),
        performance_efficiency=_rounded(
            performance_efficiency(evidence.seconds_before, evidence.seconds_after)
        ),
        coverage=_rounded(evidence.coverage),
    )
    if validation.status is not ValidationStatus.PASSED:
        return Score(reliability=0.0, components=components, weights=weights)
    return Score(
        reliability=round(reliability(components, weights, flaky=bool(validation.flaky_tests)), 4),
        components=components,
        weights=weights,
    )


def reliability(components: ScoreComponents, weights: Weights, *, flaky: bool) -> float:
    alpha, beta, gamma = weights.alpha, weights.beta, weights.gamma
    total = alpha * (1 - components.defect_density_after) + gamma * (
        1 - components.complexity_after
    )
    weight_sum = alpha + gamma
    if components.performance_efficiency is not None:
        total += beta * components.performance_efficiency
        weight_sum += beta
    base = total / weight_sum if weight_sum > 0 else 0.0
    coverage = components.coverage if components.coverage is not None else 0.0
    confidence = (0.5 + 0.5 * coverage) * (FLAKY_PENALTY if flaky else 1.0)
    return max(0.0, min(1.0, base * confidence))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
