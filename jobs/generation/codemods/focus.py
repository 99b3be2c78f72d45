"""Which functions the codemods rewrite, and when.

On its own, `CodemodGenerator` rewrites every function the change touched. The
pipeline focuses it: `focused(snapshot, hotspots)` rewrites only the touched
functions that hold a finding or are complexity hotspots (jobs.complexity.
hotspots), and `warm()` does the hotspots' share while semgrep still scans, before
the findings are known. A candidate's finding links are made from the findings
the generator is finally given, so a function with a finding gets the same
candidates either way.

libcst (a third of a second to import) is imported with the first function to
rewrite, not with this module.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from provenfix.jobs.generation.codemods.hunks import linked_findings
from provenfix.jobs.generation.codemods.spans import Span, touched_spans
from provenfix.jobs.report import Candidate, Finding, FunctionMetrics, LineRange
from provenfix.jobs.snapshot import FileVersions, Snapshot

if TYPE_CHECKING:
    from provenfix.jobs.generation.codemods.framework import Codemod
    from provenfix.jobs.generation.codemods.generator import FileCodemods

Wanted = Callable[[str, Span], bool]  # a touched function of the file at path: rewrite it?


def default_codemods() -> list[Codemod]:
    from provenfix.jobs.generation.codemods.generator import default_codemods as made

    return made()


class CodemodGenerator:
    """Candidates from libcst codemods, one per application, on touched functions only
    (see jobs.generation.codemods.generator.FileCodemods)."""

    name = "codemods"

    def __init__(
        self, codemods: Sequence[Codemod] | None = None, *, max_per_function: int = 20
    ) -> None:
        self._codemods = list(codemods) if codemods is not None else None
        self.max_per_function = max_per_function

    @property
    def codemods(self) -> list[Codemod]:
        if self._codemods is None:
            self._codemods = default_codemods()
        return self._codemods

    def generate(self, findings: Sequence[Finding], snapshot: Snapshot) -> list[Candidate]:
        """Every touched function's candidates."""
        return _collect(_Files(self), snapshot, findings, lambda path, span: True)

    def focused(self, snapshot: Snapshot, hotspots: Iterable[FunctionMetrics]) -> FocusedCodemods:
        return FocusedCodemods(self, snapshot, hotspots)

    def file(self, versions: FileVersions, spans: dict[int, Span]) -> FileCodemods:
        from provenfix.jobs.generation.codemods.generator import FileCodemods

        return FileCodemods(versions, self.codemods, self.max_per_function, spans)


class FocusedCodemods:
    """The codemods of one analysis, on the touched functions that hold a finding or are
    hotspots (their `def` line is a hotspot's start line)."""

    name = "codemods"

    def __init__(
        self, generator: CodemodGenerator, snapshot: Snapshot, hotspots: Iterable[FunctionMetrics]
    ) -> None:
        self._snapshot = snapshot
        self._hot = frozenset((m.path, m.start_line) for m in hotspots)
        self._files = _Files(generator)

    def warm(self) -> None:
        """Rewrites the hotspots now: what `generate` will not have to."""
        paths = {path for path, _ in self._hot}
        for versions in self._snapshot.files:
            if versions.change.path in paths:
                self._files.candidates(versions, self._hot_span)

    def generate(self, findings: Sequence[Finding], snapshot: Snapshot) -> list[Candidate]:
        lines: dict[str, list[LineRange]] = {}
        for f in findings:
            lines.setdefault(f.path, []).append(
                LineRange(f.start_line, max(f.start_line, f.end_line))
            )

        def wanted(path: str, span: Span) -> bool:
            whole = LineRange(span[0], span[2])
            return self._hot_span(path, span) or any(whole.overlaps(r) for r in lines.get(path, ()))

        hot_paths = {path for path, _ in self._hot}
        return _collect(self._files, snapshot, findings, wanted, only=hot_paths | set(lines))

    def _hot_span(self, path: str, span: Span) -> bool:
        return (path, span[1]) in self._hot  # span[1]: the `def` line, radon's start line


class _Files:
    """Per changed file: its touched functions (ast), and the codemods over them (libcst),
    made when a function of it is first wanted."""

    def __init__(self, generator: CodemodGenerator) -> None:
        self._generator = generator
        self._spans: dict[str, dict[int, Span]] = {}
        self._made: dict[str, FileCodemods] = {}

    def spans(self, versions: FileVersions) -> dict[int, Span]:
        path = versions.change.path
        if path not in self._spans:
            self._spans[path] = touched_spans(versions.head.text, versions.change)
        return self._spans[path]

    def candidates(self, versions: FileVersions, wanted: Wanted) -> list[Candidate]:
        path = versions.change.path
        chosen = [i for i, span in self.spans(versions).items() if wanted(path, span)]
        if not chosen:
            return []
        if path not in self._made:
            self._made[path] = self._generator.file(versions, self.spans(versions))
        return self._made[path].candidates(chosen)


def _collect(
    files: _Files,
    snapshot: Snapshot,
    findings: Sequence[Finding],
    wanted: Wanted,
    *,
    only: Collection[str] | None = None,
) -> list[Candidate]:
    """The wanted functions' candidates, file by file, linked to the findings they touch."""
    candidates: dict[str, Candidate] = {}
    for versions in snapshot.files:
        path = versions.change.path
        if only is not None and path not in only:
            continue
        for cand in files.candidates(versions, wanted):
            links = linked_findings(path, LineRange(cand.start_line, cand.end_line), findings)
            if links != cand.finding_ids:
                cand = dataclasses.replace(cand, finding_ids=links)
            candidates.setdefault(cand.id, cand)
    return list(candidates.values())
