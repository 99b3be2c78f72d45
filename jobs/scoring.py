"""The reliability reward R = α(1 − Dd) + β·Pe + γ(1 − Cc), from measured evidence.

See docs/scoring.md for every normalization. In short, for the lines a
candidate replaces (its region):

- Dd (defect density) = min(1, findings in the region / lines in the region),
  before (head) and after (head with the candidate, re-scanned by semgrep).
- Cc (normalized complexity) = min(1, cc / (2 × complexity threshold)) of the
  function(s) the region lies in, before and after (radon).
- Pe (performance efficiency) = s / (1 + s) for a speed-up s of the changed
  function, micro-benchmarked on the replayed calls (head vs candidate,
  interleaved, 95% interval); only when the interval's lower bound is at least
  1.1x, otherwise None and β drops out (the other weights are renormalized).
- confidence = 0.3 + 0.7 × (0.5 × exercised + 0.2 × tests + 0.3 × replayed),
  × 0.8 if a selected test was flaky at head, where exercised is the share of
  the region's statements the genuinely passing tests execute, tests is
  min(1, genuinely passing tests / 3), and replayed is min(1, (replayed calls +
  generated inputs) / 20) (a repair that fixed its failing test counts 1).

R = confidence × (α(1 − Dd_after) + β·Pe + γ(1 − Cc_after)) / (α + β + γ).
A candidate that was not proven scores 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from provenfix.jobs.report import Score, ScoreComponents, Validation, ValidationStatus, Weights

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
    coverage: float | None = None  # share of region statements the passing tests execute
    # semgrep rules that still match the candidate's region after it is applied
    rules_after: frozenset[str] = frozenset()


def defect_density(findings: int, lines: int) -> float:
    return min(1.0, findings / max(1, lines))


def normalized_complexity(cc: int, threshold: int) -> float:
    return min(1.0, max(0, cc) / (2 * max(1, threshold)))


def performance_efficiency(validation: Validation) -> float | None:
    """s / (1 + s) for a significant measured speed-up s; None when none was shown."""
    speed = validation.speed
    if speed is None or not speed.significant:
        return None
    return speed.speedup / (1 + speed.speedup)


def confidence(validation: Validation, coverage: float | None) -> float:
    exercised = coverage or 0.0
    tests = min(1.0, len(validation.passing_tests) / 3)
    replay = validation.replay
    replayed = 0.0
    if validation.fixed_tests:
        replayed = 1.0
    elif replay is not None:
        replayed = min(1.0, (replay.calls_replayed + replay.inputs_generated) / 20)
    value = 0.3 + 0.7 * (0.5 * exercised + 0.2 * tests + 0.3 * replayed)
    return value * (FLAKY_PENALTY if validation.flaky_tests else 1.0)


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
        performance_efficiency=_rounded(performance_efficiency(validation)),
        coverage=_rounded(evidence.coverage),
        confidence=round(confidence(validation, evidence.coverage), 4),
    )
    if validation.status is not ValidationStatus.PASSED:
        return Score(reliability=0.0, components=components, weights=weights)
    return Score(
        reliability=round(reliability(components, weights), 4),
        components=components,
        weights=weights,
    )


def reliability(components: ScoreComponents, weights: Weights) -> float:
    alpha, beta, gamma = weights.alpha, weights.beta, weights.gamma
    total = alpha * (1 - components.defect_density_after) + gamma * (
        1 - components.complexity_after
    )
    weight_sum = alpha + gamma
    if components.performance_efficiency is not None:
        total += beta * components.performance_efficiency
        weight_sum += beta
    base = total / weight_sum if weight_sum > 0 else 0.0
    return max(0.0, min(1.0, base * components.confidence))


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
