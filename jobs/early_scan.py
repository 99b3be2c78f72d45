"""The files the scans start on before the snapshot is taken.

semgrep runs in a process of its own. Started before `take_snapshot`, which
parses every changed file at head and at base (a quarter of a second on a large
change), it no longer waits for that. It scans the files the snapshot will
almost surely hold: the same choice (Python, not ignored, within the file, line
and size budgets, UTF-8 without NUL bytes) but without the parse, written the way
the snapshot writes them. jobs.semgrep_stage.SemgrepScan.result matches the scan
against the snapshot: what the guess held and the snapshot does not is dropped,
what the snapshot holds and the guess did not is scanned then.
"""

from __future__ import annotations

from pathlib import Path

from provenfix.jobs.diff import Change
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.source import UnreadableSource, decode


def write_scan_tree(change: Change, settings: AnalysisSettings, root: Path) -> list[str]:
    """The head versions of the files to scan, written under `root`; their paths."""
    targets: list[str] = []
    budget_lines = settings.max_added_lines
    for changed in change.files:
        path = changed.path
        if not path.endswith(".py") or settings.is_ignored(path):
            continue
        if len(targets) >= settings.max_files:
            break
        if changed.lines_added > budget_lines:
            continue
        data = change.head_blob(path)
        if len(data) > settings.max_file_bytes or b"\0" in data:
            continue
        try:
            text = decode(data)
        except UnreadableSource:
            continue
        budget_lines -= changed.lines_added
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        targets.append(path)
    return targets
