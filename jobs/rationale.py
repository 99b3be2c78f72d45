"""The few lines of markdown that tell a maintainer why to trust a suggestion."""

from __future__ import annotations

from collections.abc import Sequence

from jobs.model import Candidate, Finding, Score, Validation, ValidationStatus
from jobs.scoring import Evidence

_MAX_LISTED = 3


def write_rationale(
    cand: Candidate,
    findings: Sequence[Finding],
    validation: Validation,
    evidence: Evidence | None,
    score: Score,
) -> str:
    lines: list[str] = []
    if findings:
        problems = "; ".join(f"{f.message} (`{f.rule_id}`)" for f in findings)
        lines.append(f"**What was wrong:** {problems}")
    lines.append(f"**What this changes:** {cand.description.rstrip('.')}.")
    lines.append(f"**Evidence:** {_tests(validation)}")
    if evidence is not None:
        facts = [
            f"findings in these lines {evidence.findings_before} → {evidence.findings_after}",
            f"complexity {evidence.complexity_before} → {evidence.complexity_after}",
        ]
        c = score.components
        if (
            c.performance_efficiency is not None
            and evidence.seconds_before
            and evidence.seconds_after
        ):
            before, after = evidence.seconds_before, evidence.seconds_after
            facts.append(
                f"covering tests ran {before:.3f} s → {after:.3f} s ({before / after:.2f}x)"
            )
        else:
            facts.append("speed not measured")
        if c.coverage is not None:
            facts.append(f"tests execute {c.coverage:.0%} of the statements around it")
        lines.append("; ".join(facts) + ".")
    if score.reliability > 0:
        c, w = score.components, score.weights
        pe = "n/a" if c.performance_efficiency is None else f"{c.performance_efficiency:.2f}"
        lines.append(
            f"**Reliability {score.reliability:.2f}** = α(1−Dd {c.defect_density_after:.2f}) + "
            f"β·Pe {pe} + γ(1−Cc {c.complexity_after:.2f}), α={w.alpha:g} β={w.beta:g} "
            f"γ={w.gamma:g}, weighted by test coverage."
        )
    return "\n\n".join(lines)


def _tests(v: Validation) -> str:
    if v.status is ValidationStatus.PASSED:
        text = f"{v.tests_run} of {v.tests_selected} selected test(s) pass with this change"
        if v.fixed_tests:
            text += ", including previously failing " + _listed(v.fixed_tests)
        if v.flaky_tests:
            text += f" (flaky, not counted: {_listed(v.flaky_tests)})"
        return text + f" ({v.duration_s:.1f} s in the sandbox)."
    if v.status is ValidationStatus.FAILED:
        return f"not proven: {v.detail}."
    if v.status is ValidationStatus.NO_TESTS:
        return f"not proven: {v.detail}; no test can vouch for it."
    return f"not validated: {v.detail or v.status.value}."


def _listed(tests: Sequence[str]) -> str:
    shown = ", ".join(f"`{t}`" for t in tests[:_MAX_LISTED])
    more = len(tests) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")
