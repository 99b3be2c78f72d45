"""Candidates written by a code model, for the findings no rule can fix.

For each target function (see prompt.select_targets) the model is asked for
`samples` answers: the greedy one plus `samples - 1` sampled ones, in one
batched call. Every usable, distinct answer becomes a candidate; the
validation stage keeps only those the repository's tests prove, so several
imperfect samples are how a small model becomes useful. An answer that is the
unchanged function (or, in a later round, an earlier round's rewrite) is
dropped before validation, counted, and re-sampled once within the budget.
After validation, `next_round` asks again for the targets nothing proved, with
the failures (see .repair_loop). Nothing here raises on a bad answer or a
failing backend: each dropped answer or finding leaves a `Note` (in `notes`,
and in the `provenfix.model` log).
"""

from __future__ import annotations

import logging
import textwrap
import time
from collections import Counter
from collections.abc import Mapping, Sequence

from provenfix.jobs.complexity import function_blocks
from provenfix.jobs.generation.code_model.backend import (
    ChatMessage,
    CodeModel,
    ModelError,
    ModelUnavailable,
    usage_of,
)
from provenfix.jobs.generation.code_model.examples import ExampleSource
from provenfix.jobs.generation.code_model.narrow import Narrowing, narrow, span_tokens, splice
from provenfix.jobs.generation.code_model.parse import (
    UNCHANGED,
    Rewrite,
    minimal_candidate,
    rewrite,
)
from provenfix.jobs.generation.code_model.prompt import (
    Note,
    SourceReader,
    Target,
    build_messages,
    select_targets,
)
from provenfix.jobs.generation.code_model.repair_loop import (
    TargetState,
    Tried,
    feedback,
    verdict_end,
)
from provenfix.jobs.report import (
    Candidate,
    Finding,
    FindingSource,
    ModelAttempt,
    RoundsEnd,
    Skipped,
    SuggestionKind,
    Validation,
)
from provenfix.jobs.snapshot import Snapshot

log = logging.getLogger("provenfix.model")
MIN_CALL_S = 1.0  # less time than this left: not worth a call
REPEATED = "repeats an earlier round's rewrite, which did not pass"


class ModelRepairGenerator:
    def __init__(
        self,
        model: CodeModel,
        *,
        samples: int = 4,
        max_new_tokens: int = 512,
        temperature: float = 0.8,
        time_budget_s: float = 900.0,
        greedy_first: bool = True,
        max_targets: int = 10,
        max_function_lines: int = 150,
        read_source: SourceReader | None = None,
        show_change: bool = True,
        examples: ExampleSource | None = None,
        rounds: int = 3,
        target_budget_s: float = 300.0,
        narrowing: Narrowing = "auto",
    ) -> None:
        """`read_source(path)` gives the head text of any file (the failing test's source);
        without it only the files of the change (in the snapshot) can be read. `show_change`:
        for a test the change broke, the prompt shows what the change did to the function.
        `examples`: the fixes this repository's maintainers accepted, the closest of the
        same rule shown in each prompt (a source that fails is logged and done without).
        `rounds`: how often a target may be asked (round 1 and `rounds - 1` more with the
        failures). `time_budget_s` is the model's time for the whole analysis, every round;
        `target_budget_s` one function's, every round. `narrowing`: ask for the suspicious
        lines only when a function's time is short of a whole answer ("auto"), always
        where there are suspects, or never."""
        self.name = f"model:{model.name}"
        self.model = model
        self.samples = max(1, samples)
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.time_budget_s = time_budget_s
        self.greedy_first = greedy_first
        self.max_targets = max_targets
        self.max_function_lines = max_function_lines
        self.read_source = read_source
        self.show_change = show_change
        self.examples = examples
        self.rounds = max(1, rounds)
        self.target_budget_s = target_budget_s
        self.narrowing = narrowing
        self.notes: list[Note] = []
        self._states: list[TargetState] = []
        self._read: SourceReader | None = None
        self._spent = 0.0  # seconds in the model, this analysis
        self._tokens = 0  # answer tokens (estimated where the backend does not count)
        self._token_seconds = 0.0

    def generate(self, findings: Sequence[Finding], snapshot: Snapshot) -> list[Candidate]:
        """Round 1: best-of-N for each target."""
        self.notes, self._states = [], []
        self._spent, self._tokens, self._token_seconds = 0.0, 0, 0.0
        self._read = self._reader(snapshot)
        targets, notes = select_targets(
            findings, snapshot, max_function_lines=self.max_function_lines
        )
        self._note_all(notes)
        for skipped in targets[self.max_targets :]:
            self._note(skipped, f"over the limit of {self.max_targets} model rewrites a run")
        targets = targets[: self.max_targets]
        candidates: list[Candidate] = []
        for index, target in enumerate(targets):
            remaining = self.time_budget_s - self._spent
            if remaining <= MIN_CALL_S:
                for left in targets[index:]:
                    self._note(left, "the model's time budget was spent before this function")
                break
            state = TargetState(target)
            self._states.append(state)
            share = min(remaining / (len(targets) - index), self.target_budget_s)  # fairly
            try:
                candidates.extend(self._round(state, share, ""))
            except ModelUnavailable as exc:
                for left in targets[index:]:
                    self._note(left, f"no model: {exc}")
                state.end = RoundsEnd.MODEL_FAILED
                break
        return candidates

    def next_round(self, verdicts: Mapping[str, Validation]) -> list[Candidate] | None:
        """The next round for every target none of whose candidates passed (see
        .repair_loop); None when no target is left."""
        active = [s for s in self._states if s.end is None and not self._ended(s, verdicts)]
        candidates: list[Candidate] = []
        for index, state in enumerate(active):
            share = min(
                (self.time_budget_s - self._spent) / (len(active) - index),
                self.target_budget_s - state.seconds,
            )
            if share <= MIN_CALL_S:
                state.end = self._budget_end(state) or RoundsEnd.ANALYSIS_BUDGET
                continue
            try:
                candidates.extend(self._round(state, share, feedback(state, verdicts)))
            except ModelUnavailable as exc:
                for left in active[index:]:
                    self._note(left.target, f"no model: {exc}")
                    left.end = RoundsEnd.MODEL_FAILED
                break
        return candidates if active else None

    def attempts(self) -> list[ModelAttempt]:
        """Each target's rounds, samples and tokens (for the report)."""
        return [state.attempt() for state in self._states]

    def dropped(self) -> list[Skipped]:
        """The notes of the last analysis, for the report (see generation.base)."""
        return [
            Skipped(
                note.path,
                f"code model {self.model.name}"
                + (f", `{note.function}`" if note.function else "")
                + f": {note.message}",
            )
            for note in self.notes
        ]

    def _ended(self, state: TargetState, verdicts: Mapping[str, Validation]) -> bool:
        state.end = verdict_end(state, verdicts) or self._budget_end(state)
        return state.end is not None

    def _budget_end(self, state: TargetState) -> RoundsEnd | None:
        if state.rounds >= self.rounds:
            return RoundsEnd.ROUNDS
        if self.target_budget_s - state.seconds <= MIN_CALL_S:
            return RoundsEnd.TARGET_BUDGET
        if self.time_budget_s - self._spent <= MIN_CALL_S:
            return RoundsEnd.ANALYSIS_BUDGET
        return None

    def _round(self, state: TargetState, share: float, told: str) -> list[Candidate]:
        """One round for one target: ask, drop the unchanged and repeated answers, ask
        once more for as many, and turn the rest into candidates."""
        target, started = state.target, time.monotonic()
        rate = self._tokens and self._token_seconds / self._tokens
        span = narrow(self.narrowing, target, share, rate or None)
        state.rounds += 1
        state.narrowed += span is not None
        state.unusable = []
        messages = build_messages(
            target,
            self._read,
            prefill=getattr(self.model, "prefill", False),
            show_change=self.show_change,
            examples=self.examples,
            feedback=told,
            span=span,
        )
        max_new = span_tokens(span, self.max_new_tokens) if span else self.max_new_tokens
        earlier = frozenset(state.keys)
        try:
            answers = self._ask(state, messages, self.samples, max_new, share, self.greedy_first)
            if span is not None:
                answers = [splice(answer, target, span) for answer in answers]
            found, total = self._usable(state, answers, earlier, 0), len(answers)
            rejected = sum(1 for reason in state.unusable if reason in (UNCHANGED, REPEATED))
            left = share - (time.monotonic() - started)
            if rejected and left > MIN_CALL_S and self.temperature > 0:
                # sampled (a greedy answer would be the same again), at least two: one is
                # decoded greedily by the backends
                more = self._ask(state, messages, max(2, rejected), max_new, left, False)
                if span is not None:
                    more = [splice(answer, target, span) for answer in more]
                found += self._usable(state, more, earlier, total)
                total += len(more)
        except (ModelError, RuntimeError, MemoryError) as exc:  # torch raises RuntimeError
            if isinstance(exc, ModelUnavailable):
                raise
            self._note(target, f"the model failed: {exc}")
            state.end = RoundsEnd.MODEL_FAILED
            return []
        return self._candidates(state, found, total)

    def _ask(
        self,
        state: TargetState,
        messages: list[ChatMessage],
        samples: int,
        max_new_tokens: int,
        deadline_s: float,
        greedy_first: bool,
    ) -> list[str]:
        started = time.monotonic()
        try:
            answers = self.model.complete(
                messages,
                samples=samples,
                max_new_tokens=max_new_tokens,
                temperature=self.temperature,
                deadline_s=deadline_s,
                greedy_first=greedy_first,
            )
        finally:
            elapsed = time.monotonic() - started
            self._spent += elapsed
            state.seconds += elapsed
        usage = usage_of(answers)
        state.count(len(answers), usage)
        generated = usage.completion if usage else sum(len(a) for a in answers) // 4
        if generated:
            self._tokens += generated
            self._token_seconds += elapsed
        return list(answers)

    def _usable(
        self, state: TargetState, answers: list[str], earlier: frozenset[str], first: int
    ) -> list[tuple[int, Rewrite]]:
        """The answers that rewrite the function into something not tried before, each with
        its number; the others leave a note (and count, when unchanged or repeated)."""
        found: list[tuple[int, Rewrite]] = []
        for offset, answer in enumerate(answers):
            number = first + offset
            result = rewrite(answer, state.target)
            if not isinstance(result, str) and result.key in earlier:
                result = REPEATED
            if isinstance(result, str):
                state.unchanged += result == UNCHANGED
                state.repeated += result == REPEATED
                state.unusable.append(result)
                where = f"round {state.rounds}, " if state.rounds > 1 else ""
                of = first + len(answers)
                self._note(state.target, f"{where}answer {number + 1} of {of}: {result}")
                continue
            found.append((number, result))
        return found

    def _candidates(
        self, state: TargetState, found: list[tuple[int, Rewrite]], total: int
    ) -> list[Candidate]:
        rewrites: dict[str, tuple[int, Rewrite]] = {}
        votes: Counter[str] = Counter()
        for number, result in found:
            votes[result.key] += 1
            rewrites.setdefault(result.key, (number, result))
            state.keys.add(result.key)
        # The greedy answer first, then the ones the samples agree on most.
        ordered = sorted(rewrites.values(), key=lambda item: (item[0] != 0, -votes[item[1].key]))
        out: list[Candidate] = []
        for number, result in ordered:
            candidate = self._candidate(state, result, number, total, votes[result.key])
            if candidate is not None:
                out.append(candidate)
                function = textwrap.dedent("".join(result.lines))
                state.tried[candidate.id] = Tried(state.rounds, function)
        return out

    def _candidate(
        self, state: TargetState, result: Rewrite, number: int, total: int, votes: int
    ) -> Candidate | None:
        target = state.target
        simplify = target.mode == "simplify"
        kind = SuggestionKind.REFACTOR if simplify else SuggestionKind.REPAIR
        what = self._purpose(target, result)
        if what is None:
            return None
        origin = "greedy answer" if number == 0 and self.greedy_first else "sampled answer"
        if state.rounds > 1:
            origin = f"round {state.rounds}, {origin}"
        agree = f", {votes} of {total} answers agree" if votes > 1 else ""
        caveat = (
            f"; it changes the signature of `{target.name}`, so callers may need updating"
            if result.signature_changed
            else ""
        )
        if result.signature_changed:
            self._note(target, f"answer {number + 1}: changes the signature (kept, noted)")
        draft = minimal_candidate(target, result.lines, kind=kind, source=self.name, description="")
        lines = (
            f"line {draft.start_line}"
            if draft.start_line == draft.end_line
            else f"lines {draft.start_line}-{draft.end_line}"
        )
        description = (
            f"rewrites {lines} of `{target.qualname}` {what} (written by the code model "
            f"{self.model.name}, {origin}{agree}; not by a rule){caveat}"
        )
        return minimal_candidate(
            target, result.lines, kind=kind, source=self.name, description=description
        )

    def _purpose(self, target: Target, result: Rewrite) -> str | None:
        if target.mode == "simplify":
            before = _complexity(target.text, target.qualname)
            after = _complexity(result.patched, target.qualname)
            if before is not None and after is not None and after >= before:
                self._note(target, f"a rewrite is not simpler (complexity {before} → {after})")
                return None
            if before is None or after is None:
                return "into a simpler equivalent"
            return f"into a simpler equivalent (cyclomatic complexity {before} → {after})"
        tests = [f.test for f in target.findings if f.source is FindingSource.TESTS and f.test]
        if tests:
            return (
                "so that "
                + ", ".join(f"`{t}`" for t in tests[:2])
                + " pass"
                + ("es" if len(tests) == 1 else "")
            )
        rules = ", ".join(dict.fromkeys(f"`{f.rule_id}`" for f in target.findings))
        return f"to resolve {rules}"

    def _reader(self, snapshot: Snapshot) -> SourceReader:
        def read(path: str) -> str | None:
            versions = snapshot.file(path)
            if versions is not None:
                return versions.head.text
            if self.read_source is not None:
                return self.read_source(path)
            if snapshot.read_head is not None:
                return snapshot.read_head(path)
            return None

        return read

    def _note(self, target: Target, message: str) -> None:
        self._note_all(
            [Note(target.path, target.qualname, message, tuple(f.id for f in target.findings))]
        )

    def _note_all(self, notes: Sequence[Note]) -> None:
        for note in notes:
            where = f"{note.path}:{note.function}" if note.function else note.path
            log.info("%s: %s", where, note.message)
        self.notes.extend(notes)


def _complexity(text: str, qualname: str) -> int | None:
    try:
        blocks = function_blocks(text)
    except (SyntaxError, ValueError, RecursionError):
        return None
    return next((b.complexity for b in blocks if b.name == qualname), None)
