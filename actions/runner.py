"""Talking to the Actions runner: step outputs, the job summary, workflow commands.

The runner reads `name=value` lines from the file `GITHUB_OUTPUT` names, appends
the file `GITHUB_STEP_SUMMARY` names to the job's summary page, and turns lines
such as `::warning file=app.py,line=3::message` on stdout into annotations on
the pull request's diff. Annotations are how a pull request from a fork (whose
token may not create check runs or reviews) still sees the findings.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from provenfix.jobs.report import Report, Severity

MAX_ANNOTATIONS = 50  # GitHub shows at most 50 annotations per job (10 per level per step)
_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


@dataclass(frozen=True)
class Annotation:
    level: str  # error, warning, notice
    path: str
    start_line: int
    end_line: int
    title: str
    message: str

    def command(self) -> str:
        return workflow_command(
            self.level,
            self.message,
            file=self.path,
            line=str(self.start_line),
            endLine=str(self.end_line),
            title=self.title,
        )


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(name: str, message: str, **properties: str) -> str:
    """One `::name key=value,...::message` line, escaped the way the runner expects."""
    props = ",".join(f"{key}={escape_property(value)}" for key, value in properties.items())
    return f"::{name}{' ' + props if props else ''}::{escape_data(message)}"


def finding_annotations(report: Report, *, fixes_where: str) -> list[Annotation]:
    """One annotation per finding, worst first; `fixes_where` says where proven fixes are."""
    proven = {fid for s in report.suggestions if s.committable for fid in s.finding_ids}
    unproven = {fid: s for s in report.suggestions if not s.committable for fid in s.finding_ids}
    found: list[Annotation] = []
    for f in sorted(report.findings, key=lambda f: (-f.severity.rank, f.path, f.start_line)):
        message = f.message or f.rule_id
        if f.id in proven:
            message += f"\n\nA fix proven by the tests is in {fixes_where}."
        elif f.id in unproven:
            status = unproven[f.id].validation.status.value
            message += f"\n\nA candidate fix was not proven ({status})."
        elif f.test:
            message += f"\n\nFailing test: {f.test}"
        found.append(
            Annotation(
                _COMMAND[f.severity],
                f.path,
                f.start_line,
                max(f.start_line, f.end_line),
                f"ProvenFix: {f.rule_id}",
                message,
            )
        )
    return found


def write_outputs(path: Path, values: Mapping[str, str]) -> None:
    """Append step outputs to the GITHUB_OUTPUT file (multi-line values as heredocs)."""
    lines: list[str] = []
    for name, value in values.items():
        if "\n" in value or "\r" in value:
            delimiter = f"ghadelimiter_{uuid.uuid4().hex}"
            lines += [f"{name}<<{delimiter}", value, delimiter]
        else:
            lines.append(f"{name}={value}")
    with path.open("a", encoding="utf-8") as out:
        out.write("\n".join(lines) + "\n")


def append_summary(path: Path, markdown: str) -> None:
    with path.open("a", encoding="utf-8") as out:
        out.write(markdown.rstrip("\n") + "\n")


def limited(items: Sequence[Annotation], limit: int = MAX_ANNOTATIONS) -> list[Annotation]:
    return list(items[:limit])
