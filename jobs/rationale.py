"""The few lines of markdown that tell a maintainer why to trust a suggestion.

It names only findings the suggestion resolves, the tests that genuinely
passed (and in how many runs), what the replay of recorded calls showed, and a
speed-up only with its measured interval.
"""

from __future__ import annotations

from collections.abc import Sequence

from provenfix.jobs.report import Candidate, Finding, Score, Validation, ValidationStatus
from provenfix.jobs.scoring import Evidence

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
    behaviour = _replay(validation)
    if behaviour:
        lines.append(f"**Behaviour:** {behaviour}")
    if evidence is not None:
        facts = [
            f"findings in these lines {evidence.findings_before} → {evidence.findings_after}",
            f"complexity {evidence.complexity_before} → {evidence.complexity_after}",
            _speed(validation),
        ]
        c = score.components
        if c.coverage is not None:
            facts.append(f"the passing tests execute {c.coverage:.0%} of the lines it replaces")
        lines.append("; ".join(facts) + ".")
    if score.reliability > 0:
        c, w = score.components, score.weights
        pe = "n/a" if c.performance_efficiency is None else f"{c.performance_efficiency:.2f}"
        lines.append(
            f"**Reliability {score.reliability:.2f}** = confidence {c.confidence:.2f} × "
            f"(α(1−Dd {c.defect_density_after:.2f}) + β·Pe {pe} + "
            f"γ(1−Cc {c.complexity_after:.2f})), "
            f"α={w.alpha:g} β={w.beta:g} γ={w.gamma:g}."
        )
    return "\n\n".join(lines)


def _tests(v: Validation) -> str:
    if v.status is ValidationStatus.PASSED:
        text = (
            f"{len(v.passing_tests)} test(s) pass and check this code in all {v.runs} runs "
            f"with the change: {_listed(v.passing_tests)}"
        )
        if v.fixed_tests:
            text += "; previously failing, now passing: " + _listed(v.fixed_tests)
        if v.flaky_tests:
            text += f" (flaky at head, not counted: {_listed(v.flaky_tests)})"
        return text + f" ({v.duration_s:.1f} s in the sandbox)."
    if v.status is ValidationStatus.FAILED:
        return f"not proven: {v.detail}."
    if v.status is ValidationStatus.NO_TESTS:
        return f"{v.detail}; no test can vouch for it."
    return f"not validated: {v.detail or v.status.value}."


def _replay(v: Validation) -> str:
    r = v.replay
    if r is None or v.status is not ValidationStatus.PASSED:
        return ""
    names = ", ".join(f"`{n}`" for n in r.functions[:_MAX_LISTED])
    skipped = f" ({r.not_replayable} not replayable)" if r.not_replayable else ""
    if not r.calls_replayed and not r.inputs_generated:
        return f"no call into {names} could be replayed{skipped}."
    generated = f" and {r.inputs_generated} generated input(s)" if r.inputs_generated else ""
    if r.calls_changed:
        return (
            f"changes the outcome of {r.calls_changed} of {r.calls_replayed} recorded call(s)"
            f"{generated} into {names}, e.g. {r.example}{skipped}."
        )
    return (
        f"{r.calls_replayed} recorded call(s){generated} into {names} replayed against head "
        f"and this change: identical results{skipped}."
    )


def _speed(v: Validation) -> str:
    s = v.speed
    if s is None:
        return "speed not measured"
    claim = "faster" if s.significant else "no significant speed-up"
    return (
        f"timed on {s.calls} replayed call(s) in {s.rounds} interleaved rounds: {s.speedup:.2f}x "
        f"(95% interval {s.low:.2f}-{s.high:.2f}x, {claim})"
    )


def _listed(tests: Sequence[str]) -> str:
    shown = ", ".join(f"`{t}`" for t in tests[:_MAX_LISTED])
    more = len(tests) - _MAX_LISTED
    return shown + (f" and {more} more" if more > 0 else "")
