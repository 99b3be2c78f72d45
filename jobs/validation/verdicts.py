"""One candidate's verdict from its proof run: what counts as evidence, and what rejects.

The reference is head's runs in the same selection, order and session shape
as the candidate's (run k against run k), or the full baseline run where head
did not need to run. A test is:
- flaky at head when any of head's runs differs from the full baseline run
  (after whole-module widening): neither evidence nor a regression;
- a regression when it passed in head's run k and fails (or does not report)
  in the candidate's run k;
- fixed when it failed in every head run and passes genuinely in every run;
- evidence when it passes genuinely (call phase passed, something checked) in
  every run with the candidate.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from provenfix.jobs.report import Validation, ValidationStatus
from provenfix.jobs.validation.probe import TestOutcome

if TYPE_CHECKING:
    from provenfix.jobs.validation.replay import ReplayVerdict
    from provenfix.jobs.validation.validator import Baseline, Case, ProofRun

_MAX_LISTED = 3


def module_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


FAILURE_OUTPUT_LINES = 30
FAILURE_OUTPUT_CHARS = 2000


def _tail(message: str) -> str:
    """The end of a failing test's output: what the code model's next round is shown."""
    lines = message.strip().splitlines()[-FAILURE_OUTPUT_LINES:]
    return "\n".join(lines)[-FAILURE_OUTPUT_CHARS:]


def conclude(
    case: Case, baseline: Baseline, proof: ProofRun, replay: ReplayVerdict | None
) -> Validation:
    duration = round(proof.duration_s, 3)
    if proof.error:
        return Validation(
            status=ValidationStatus.ERROR,
            tests_selected=len(case.tests),
            duration_s=duration,
            detail=proof.error,
        )
    own = set(case.tests) | {t for t in proof.tests if module_of(t) in proof.widened}
    own &= set(proof.tests)
    # head's runs in this selection, or the full baseline run where head did not need to run
    reference = proof.head or tuple(baseline.outcomes for _ in proof.runs)
    flaky = {t for t in own for h in proof.head if _unstable(baseline.outcomes.get(t), h.get(t))}
    steady = own - flaky
    regressions = {
        t
        for t in steady
        for ref, run in zip(reference, proof.runs, strict=False)
        if _ok(ref, t) and not _ok(run, t)
    }
    passing = {t for t in steady if all(_genuine(run, t) for run in proof.runs)}
    fixed = {t for t in passing if not any(_ok(ref, t) for ref in reference)}
    unfixed = set(case.targets) - fixed
    failed = {t for t in own if any(not _ok(run, t) for run in proof.runs)}
    common = {
        "tests_selected": len(own),
        "tests_run": sum(1 for t in own if all(t in run for run in proof.runs)),
        "tests_failed": len(failed),
        "new_failures": tuple(sorted(regressions)),
        "fixed_tests": tuple(sorted(fixed)),
        "flaky_tests": tuple(sorted(flaky)),
        "duration_s": duration,
        "passing_tests": tuple(sorted(passing)),
        "runs": len(proof.runs),
        "replay": replay.evidence if replay else None,
        "speed": replay.speed if replay else None,
    }
    if regressions:
        first = sorted(regressions)[0]
        runs_failed = sum(1 for run in proof.runs if not _ok(run, first))
        message = next(
            (run[first].message for run in proof.runs if first in run and run[first].message),
            "did not run",
        )
        return Validation(
            status=ValidationStatus.FAILED,
            detail=f"breaks {len(regressions)} test(s), e.g. {first} "
            f"(failed in {runs_failed} of {len(proof.runs)} runs): {_last_line(message)}",
            failure_output=_tail(message),
            **common,  # type: ignore[arg-type]
        )
    if unfixed:
        still = sorted(unfixed)[0]
        output = next(
            (run[still].message for run in proof.runs if still in run and run[still].message),
            "",
        )
        return Validation(
            status=ValidationStatus.FAILED,
            detail="does not make the failing test(s) pass in every run: "
            + ", ".join(sorted(unfixed)),
            failure_output=_tail(output),
            **common,  # type: ignore[arg-type]
        )
    if replay is not None and replay.problem:
        return Validation(
            status=ValidationStatus.FAILED,
            detail=replay.problem,
            **common,  # type: ignore[arg-type]
        )
    if not passing:
        return Validation(
            status=ValidationStatus.NO_TESTS,
            detail="unproven: no test checks this code (" + _why_none(own, proof, flaky) + ")",
            **common,  # type: ignore[arg-type]
        )
    detail = (
        f"{len(passing)} test(s) pass and check something in all {len(proof.runs)} runs"
        + (f"; fixes {len(fixed)} failing test(s)" if fixed else "")
        + (f"; {len(failed)} still fail as they did at head" if failed else "")
        + (f"; {len(flaky)} flaky at head, not counted" if flaky else "")
    )
    return Validation(status=ValidationStatus.PASSED, detail=detail, **common)  # type: ignore[arg-type]


def _why_none(own: set[str], proof: ProofRun, flaky: set[str]) -> str:
    reasons: dict[str, int] = {}
    for test in sorted(own):
        if test in flaky:
            label = "flaky at head"
        else:
            outcomes = [run.get(test) for run in proof.runs]
            label = _label(next((o for o in outcomes if o is not None and not o.genuine), None))
        reasons[label] = reasons.get(label, 0) + 1
    return ", ".join(f"{count} {label}" for label, count in reasons.items()) or "no tests"


def _label(outcome: TestOutcome | None) -> str:
    if outcome is None:
        return "not reported"
    if outcome.outcome == "passed":
        return "pass without checking anything"
    if outcome.outcome in {"failed", "error"}:
        return "fail as at head"
    return {"skipped": "skipped", "xfailed": "xfail", "xpassed": "xpass"}.get(
        outcome.outcome, outcome.outcome
    )


def _unstable(full: TestOutcome | None, alone: TestOutcome | None) -> bool:
    return full is None or alone is None or full.ok != alone.ok or full.genuine != alone.genuine


def _ok(run: Mapping[str, TestOutcome], test: str) -> bool:
    outcome = run.get(test)
    return outcome is not None and outcome.ok


def _genuine(run: Mapping[str, TestOutcome], test: str) -> bool:
    outcome = run.get(test)
    return outcome is not None and outcome.genuine


def _last_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "failed"
