"""Generate → evaluate → regenerate: the code model's rounds.

Round 1 is best-of-N (generator.ModelRepairGenerator.generate). Once its
candidates were validated, each model target none of whose candidates passed
is asked again (`next_round`), with what the earlier rounds taught: the
rewrites that failed (as diffs of the function), what the tests said of each
(the validation's detail and the end of the failing output), and the changed
lines the failing tests run, most suspicious first (the finding's suspects).
A target stops at the first proven candidate, after `rounds` rounds, when its
own time or the analysis' model time is spent, or when no test judged its
candidates (no other answer would be judged either). `repair_rounds` is the
pipeline's side: ask, keep what is in the change, validate against the same
baseline, merge, until no generator has a target left.
"""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from provenfix.jobs.generation.code_model.backend import TokenUsage
from provenfix.jobs.generation.code_model.prompt import Target
from provenfix.jobs.progress import Progress, ProgressEvent, Stage, no_progress
from provenfix.jobs.report import (
    Candidate,
    LineRange,
    ModelAttempt,
    RoundsEnd,
    Skipped,
    Validation,
    ValidationStatus,
)
from provenfix.jobs.suggest import outside_reason, untouched_line

if TYPE_CHECKING:
    from provenfix.jobs.validation.stage import ValidationOutcome

MAX_SHOWN_ATTEMPTS = 2  # failed rewrites shown in the next prompt, the latest first
MAX_DIFF_LINES = 14
MAX_OUTPUT_LINES = 12
MAX_OUTPUT_CHARS = 1200
MAX_SUSPECTS = 5
_JUDGED = frozenset({ValidationStatus.FAILED, ValidationStatus.ERROR})
_SAFETY_ROUNDS = 32  # a generator that never says it is done cannot loop for ever


@dataclass(frozen=True)
class Tried:
    round: int
    function: str  # the rewritten function, dedented


@dataclass
class TargetState:
    """One target followed over its rounds (mutable: each round adds to it)."""

    target: Target
    rounds: int = 0
    samples: int = 0
    unchanged: int = 0
    repeated: int = 0
    narrowed: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    seconds: float = 0.0
    end: RoundsEnd | None = None
    tried: dict[str, Tried] = field(default_factory=dict)  # candidate id -> rewrite
    keys: set[str] = field(default_factory=set)  # normalized ASTs of every rewrite so far
    unusable: list[str] = field(default_factory=list)  # why the last round's answers were not

    def count(self, answers: int, usage: TokenUsage | None) -> None:
        self.samples += answers
        if usage is not None:
            self.prompt_tokens = (self.prompt_tokens or 0) + usage.prompt
            self.completion_tokens = (self.completion_tokens or 0) + usage.completion

    def attempt(self) -> ModelAttempt:
        return ModelAttempt(
            path=self.target.path,
            function=self.target.qualname,
            finding_ids=tuple(f.id for f in self.target.findings),
            rounds=self.rounds,
            samples=self.samples,
            unchanged=self.unchanged,
            repeated=self.repeated,
            candidates=len(self.tried),
            narrowed=self.narrowed,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            seconds=round(self.seconds, 3),
            end=self.end or RoundsEnd.NOT_VALIDATED,
        )


def verdict_end(state: TargetState, verdicts: Mapping[str, Validation]) -> RoundsEnd | None:
    """PROVEN or UNTESTABLE from the verdicts of the target's candidates so far; None when
    another round may help (a candidate failed or errored, or none was judged)."""
    statuses = [verdicts[c].status for c in state.tried if c in verdicts]
    if ValidationStatus.PASSED in statuses:
        return RoundsEnd.PROVEN
    if statuses and not any(s in _JUDGED for s in statuses):
        return RoundsEnd.UNTESTABLE
    return None


def feedback(state: TargetState, verdicts: Mapping[str, Validation]) -> str:
    """The part of the next round's prompt that says what the earlier rounds tried."""
    target = state.target
    failed = sorted(
        (
            (tried, verdicts[cid])
            for cid, tried in state.tried.items()
            if cid in verdicts and verdicts[cid].status in _JUDGED
        ),
        key=lambda item: -item[0].round,
    )[:MAX_SHOWN_ATTEMPTS]
    original = function_text(target)
    parts: list[str] = []
    if failed:
        parts.append(
            f"Earlier answers were tested and did not pass ({state.rounds} round"
            + ("s" if state.rounds > 1 else "")
            + " so far):"
        )
    for number, (tried, verdict) in enumerate(failed, 1):
        text = (
            f"Attempt {number} (round {tried.round}) changed `{target.name}` like this:\n"
            f"```diff\n{_diff(original, tried.function)}\n```\n"
            f"The tests said: {verdict.detail or verdict.status.value}"
        )
        output = excerpt(verdict.failure_output)
        if output:
            text += f"\nThe failing output:\n```text\n{output}\n```"
        parts.append(text)
    if state.unusable:
        reasons = "; ".join(dict.fromkeys(state.unusable))
        parts.append(f"Answers of the last round could not be used: {reasons[:400]}.")
    suspects = suspects_part(target)
    if suspects:
        parts.append(suspects)
    if not parts:
        return ""
    parts.append("Write a different fix: do not repeat an earlier attempt.")
    return "\n\n".join(parts)


def suspects_part(target: Target) -> str:
    """The changed lines of the function the failing tests run, most suspicious first."""
    scores: dict[int, float] = {}
    for finding in target.findings:
        for s in finding.suspects:
            if s.path == target.path and target.start <= s.line <= target.end:
                scores[s.line] = max(s.score, scores.get(s.line, 0.0))
    if not scores:
        return ""
    lines = target.text.splitlines()
    ranked = sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:MAX_SUSPECTS]
    listed = "\n".join(
        f"- line {line} (Ochiai {score:.2f}): `{lines[line - 1].strip()}`" for line, score in ranked
    )
    return (
        f"The changed lines of `{target.name}` the failing tests run, most suspicious first "
        "(spectrum-based fault localization; Ochiai 1.00: run by every failing test and no "
        f"passing one):\n{listed}"
    )


def function_text(target: Target) -> str:
    lines = target.text.splitlines()
    return textwrap.dedent("\n".join(lines[target.start - 1 : target.end]))


def excerpt(output: str) -> str:
    """The end of a test output, bounded in lines and characters."""
    lines = [line.rstrip()[:160] for line in output.strip().splitlines() if line.strip()]
    text = "\n".join(lines[-MAX_OUTPUT_LINES:])
    return text[-MAX_OUTPUT_CHARS:]


def _diff(before: str, after: str) -> str:
    diff = difflib.unified_diff(
        before.splitlines(), textwrap.dedent(after).splitlines(), n=1, lineterm=""
    )
    shown = [line for line in diff if not line.startswith(("---", "+++"))]
    if len(shown) > MAX_DIFF_LINES:
        shown = [*shown[:MAX_DIFF_LINES], "..."]
    return "\n".join(shown)


@runtime_checkable
class RepairsAgain(Protocol):
    """A generator that asks again for what its validated candidates did not fix."""

    def next_round(self, verdicts: Mapping[str, Validation]) -> list[Candidate] | None:
        """The next round's candidates ([] when a round yielded none); None when no
        target is left to ask for."""
        ...

    def attempts(self) -> Sequence[ModelAttempt]: ...


def model_attempts(generators: Sequence[object]) -> tuple[ModelAttempt, ...]:
    """Every model target's rounds, samples and tokens, for the report."""
    return tuple(a for g in generators if isinstance(g, RepairsAgain) for a in g.attempts())


class StageClock(Protocol):
    def __call__(self, name: str) -> AbstractContextManager[None]: ...


def repair_rounds(
    generators: Sequence[object],
    outcome: ValidationOutcome,
    candidates: Sequence[Candidate],
    validate: Callable[[Sequence[Candidate]], ValidationOutcome],
    *,
    changed: Mapping[str, Sequence[LineRange]],
    clock: StageClock | None = None,
    progress: Progress = no_progress,
) -> tuple[ValidationOutcome, list[Candidate]]:
    """After round 1 was validated: the next rounds, each validated against the same
    baseline, merged into `outcome` and `candidates`, until no generator asks again."""
    timed: StageClock = clock or (lambda _: nullcontext())
    loops = [g for g in generators if isinstance(g, RepairsAgain)]
    every = list(candidates)
    seen = {c.id for c in every}
    for number in range(2, _SAFETY_ROUNDS):
        if not loops:
            break
        fresh: list[Candidate] = []
        outside: list[Skipped] = []
        with timed("generate"):
            asked = [(g, g.next_round(outcome.verdicts)) for g in loops]
        loops = [g for g, more in asked if more is not None]
        for _, more in asked:
            for cand in more or ():
                if cand.id in seen:
                    continue
                seen.add(cand.id)
                line = untouched_line(cand, changed)
                if line is None:
                    fresh.append(cand)
                else:
                    outside.append(Skipped(cand.path, outside_reason(cand, line), cand.start_line))
        if outside:
            outcome = replace(outcome, skipped=(*outcome.skipped, *outside))
        if not fresh:
            continue
        progress(ProgressEvent(Stage.GENERATE, f"round {number}: {len(fresh)} candidate fixes"))
        with timed("validate"):
            outcome = merge(outcome, validate(fresh))
        every += fresh
    return outcome, every


def merge(first: ValidationOutcome, more: ValidationOutcome) -> ValidationOutcome:
    """Two validations against the same baseline as one."""
    return replace(
        first,
        verdicts={**first.verdicts, **more.verdicts},
        failure_findings=(*first.failure_findings, *more.failure_findings),
        coverage=first.coverage or more.coverage,
        selected={**first.selected, **more.selected},
        skipped=tuple(dict.fromkeys((*first.skipped, *more.skipped))),
    )
