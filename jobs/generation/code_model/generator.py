"""Candidates written by a code model, for the findings no rule can fix.

For each target function (see prompt.select_targets) the model is asked ONCE
for `samples` answers: the greedy one plus `samples - 1` sampled ones, in one
batched call. Every usable, distinct answer becomes a candidate; the
validation stage keeps only those the repository's tests prove, so several
imperfect samples are how a small model becomes useful. Nothing here raises
on a bad answer or a failing backend: each dropped answer or finding leaves a
`Note` (in `notes` after `generate`, and in the `provenfix.model` log).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence

from provenfix.jobs.complexity import function_blocks
from provenfix.jobs.generation.code_model.backend import CodeModel, ModelError, ModelUnavailable
from provenfix.jobs.generation.code_model.examples import ExampleSource
from provenfix.jobs.generation.code_model.parse import Rewrite, minimal_candidate, rewrite
from provenfix.jobs.generation.code_model.prompt import (
    Note,
    SourceReader,
    Target,
    build_messages,
    select_targets,
)
from provenfix.jobs.report import Candidate, Finding, FindingSource, Skipped, SuggestionKind
from provenfix.jobs.snapshot import Snapshot

log = logging.getLogger("provenfix.model")


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
    ) -> None:
        """`read_source(path)` gives the head text of any file (the failing test's source);
        without it only the files of the change (in the snapshot) can be read. `show_change`:
        for a test the change broke, the prompt shows what the change did to the function.
        `examples`: the fixes this repository's maintainers accepted, the closest of the
        same rule shown in each prompt (a source that fails is logged and done without)."""
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
        self.notes: list[Note] = []

    def generate(self, findings: Sequence[Finding], snapshot: Snapshot) -> list[Candidate]:
        self.notes = []
        stop_at = time.monotonic() + self.time_budget_s
        targets, notes = select_targets(
            findings, snapshot, max_function_lines=self.max_function_lines
        )
        self._note_all(notes)
        for skipped in targets[self.max_targets :]:
            self._note(skipped, f"over the limit of {self.max_targets} model rewrites a run")
        targets = targets[: self.max_targets]
        candidates: list[Candidate] = []
        for index, target in enumerate(targets):
            remaining = stop_at - time.monotonic()
            if remaining <= 1.0:
                for left in targets[index:]:
                    self._note(left, "the model's time budget was spent before this function")
                break
            share = remaining / (len(targets) - index)  # what is left, shared fairly
            try:
                messages = build_messages(
                    target,
                    self._reader(snapshot),
                    prefill=getattr(self.model, "prefill", False),
                    show_change=self.show_change,
                    examples=self.examples,
                )
                answers = self.model.complete(
                    messages,
                    samples=self.samples,
                    max_new_tokens=self.max_new_tokens,
                    temperature=self.temperature,
                    deadline_s=share,
                    greedy_first=self.greedy_first,
                )
            except ModelUnavailable as exc:
                for left in targets[index:]:
                    self._note(left, f"no model: {exc}")
                break
            except (ModelError, RuntimeError, MemoryError) as exc:  # torch raises RuntimeError
                self._note(target, f"the model failed: {exc}")
                continue
            candidates.extend(self._candidates(target, answers))
        return candidates

    def dropped(self) -> list[Skipped]:
        """The notes of the last `generate`, for the report (see generation.base)."""
        return [
            Skipped(
                note.path,
                f"code model {self.model.name}"
                + (f", `{note.function}`" if note.function else "")
                + f": {note.message}",
            )
            for note in self.notes
        ]

    def _candidates(self, target: Target, answers: list[str]) -> list[Candidate]:
        rewrites: dict[str, tuple[int, Rewrite]] = {}
        votes: Counter[str] = Counter()
        for number, answer in enumerate(answers):
            result = rewrite(answer, target)
            if isinstance(result, str):
                self._note(target, f"answer {number + 1} of {len(answers)}: {result}")
                continue
            votes[result.key] += 1
            rewrites.setdefault(result.key, (number, result))
        # The greedy answer first, then the ones the samples agree on most.
        ordered = sorted(rewrites.values(), key=lambda item: (item[0] != 0, -votes[item[1].key]))
        out: list[Candidate] = []
        for number, result in ordered:
            candidate = self._candidate(target, result, number, len(answers), votes[result.key])
            if candidate is not None:
                out.append(candidate)
        return out

    def _candidate(
        self, target: Target, result: Rewrite, number: int, total: int, votes: int
    ) -> Candidate | None:
        simplify = target.mode == "simplify"
        kind = SuggestionKind.REFACTOR if simplify else SuggestionKind.REPAIR
        what = self._purpose(target, result)
        if what is None:
            return None
        origin = "greedy answer" if number == 0 and self.greedy_first else "sampled answer"
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
