"""The report as a compact table for a terminal."""

from __future__ import annotations

from provenfix.jobs.formats.patch import change_lines
from provenfix.jobs.report import Report, Skipped


def render_text(report: Report) -> str:
    out = [
        f"ProvenFix {report.tool.version}: {report.base[:10]}..{report.head[:10]} "
        f"({report.files_changed} files, +{report.lines_added} lines)",
    ]
    if report.findings:
        width = max(len(f"{f.path}:{f.start_line}") for f in report.findings)
        rule_width = max(len(f.rule_id) for f in report.findings)
        out.append("")
        for f in report.findings:
            where = f"{f.path}:{f.start_line}".ljust(width)
            rule = f.rule_id.ljust(rule_width)
            out.append(f"  {f.severity.value.upper():7} {where}  {rule}  {f.message}")
    changed = [m for m in report.metrics if m.cc_base != m.cc_head]
    if changed:
        out += ["", "  complexity of changed functions (before -> after):"]
        for m in changed:
            before = "new" if m.cc_base is None else str(m.cc_base)
            out.append(f"    {m.path}::{m.name}  {before} -> {m.cc_head}")
    for s in report.suggestions:
        state = "proven" if s.committable else s.validation.status.value
        out.append(
            f"  suggestion {s.path}:{s.start_line}-{s.end_line} [{s.source}] "
            f"{state}, reliability {s.score.reliability:.2f}"
        )
        out += [f"      {line}" for line in change_lines(s)]
    if report.skipped:
        out += ["", f"  skipped: not analyzed or not posted ({len(report.skipped)}):"]
        out += [f"    {_where(s)}: {s.reason}" for s in report.skipped]
    out += [
        "",
        f"{len(report.findings)} findings, {report.suggestions_validated} proven suggestions "
        f"in {report.duration_s:.1f} s",
    ]
    return "\n".join(out) + "\n"


def _where(s: Skipped) -> str:
    return s.path if s.line is None else f"{s.path}:{s.line}"
