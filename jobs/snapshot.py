"""The analyzable part of a change, read out of git into a scratch folder.

Analyzers never touch the user's working tree: the head version of each
changed Python file is written under `root`, where semgrep scans it, and the
base version is kept in memory for before/after comparisons. Files that cannot
or should not be analyzed end up in `skipped` with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from provenfix.jobs.diff import Change
from provenfix.jobs.report import ChangedFile, Skipped
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.source import SourceFile, UnreadableSource, parse


@dataclass(frozen=True)
class FileVersions:
    change: ChangedFile
    head: SourceFile
    base: SourceFile | None  # None when new at head or unreadable at base


@dataclass(frozen=True)
class Snapshot:
    root: Path  # head versions of `files`, at their repo-relative paths
    files: tuple[FileVersions, ...]
    skipped: tuple[Skipped, ...]
    # The head text of any file of the repository (a failing test's module), or None.
    read_head: Callable[[str], str | None] | None = field(default=None, compare=False)

    def file(self, path: str) -> FileVersions | None:
        return next((f for f in self.files if f.change.path == path), None)


def take_snapshot(change: Change, settings: AnalysisSettings, root: Path) -> Snapshot:
    files: list[FileVersions] = []
    skipped: list[Skipped] = list(change.skipped)
    budget_lines = settings.max_added_lines
    for changed in change.files:
        reason = _reason_to_skip(changed, settings)
        if reason is None and len(files) >= settings.max_files:
            reason = f"diff too large: only the first {settings.max_files} files are analyzed"
        if reason is None and changed.lines_added > budget_lines:
            reason = f"diff too large: over the budget of {settings.max_added_lines} added lines"
        if reason is not None:
            skipped.append(Skipped(changed.path, reason))
            continue
        data = change.head_blob(changed.path)
        if len(data) > settings.max_file_bytes:
            skipped.append(
                Skipped(
                    changed.path,
                    f"file too large: {len(data)} bytes (limit {settings.max_file_bytes})",
                )
            )
            continue
        try:
            head = parse(changed.path, data)
        except UnreadableSource as exc:
            skipped.append(Skipped(changed.path, str(exc)))
            continue
        budget_lines -= changed.lines_added
        target = root / changed.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(head.text, encoding="utf-8")
        files.append(FileVersions(changed, head, _base_version(change, changed, settings)))
    return Snapshot(
        root=root,
        files=tuple(files),
        skipped=tuple(skipped),
        read_head=lambda path: _head_text(change, path, settings.max_file_bytes),
    )


def _head_text(change: Change, path: str, limit: int) -> str | None:
    try:
        data = change.head_blob(path)
    except (KeyError, ValueError, OSError):  # gitpython: KeyError for a missing path
        return None
    if len(data) > limit:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _reason_to_skip(changed: ChangedFile, settings: AnalysisSettings) -> str | None:
    if settings.is_ignored(changed.path):
        return "ignored by configuration (paths.ignore)"
    if not changed.path.endswith(".py"):
        return "not a Python file"
    return None


def _base_version(
    change: Change, changed: ChangedFile, settings: AnalysisSettings
) -> SourceFile | None:
    if changed.old_path is None:
        return None
    data = change.base_blob(changed.old_path)
    if data is None or len(data) > settings.max_file_bytes:
        return None
    try:
        return parse(changed.old_path, data)
    except UnreadableSource:
        return None
