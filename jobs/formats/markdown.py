"""The report as markdown, the way it reads on a pull request."""

from __future__ import annotations

from provenfix.jobs.formats.patch import change_lines
from provenfix.jobs.formats.text import attempt_summary
from provenfix.jobs.report import Report, Severity, Suggestion

_ICON = {Severity.ERROR: "🔴", Severity.WARNING: "🟠", Severity.INFO: "🔵"}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def render_markdown(report: Report) -> str:
    lines = [
        "## ProvenFix analysis",
        "",
        f"Change `{report.base[:10]}..{report.head[:10]}`: {report.files_changed} files, "
        f"{report.lines_added} lines added. **{len(report.findings)} findings**, "
        f"{report.suggestions_validated} proven suggestions of {len(report.suggestions)}.",
        "",
    ]
    if report.findings:
        lines += ["### Findings", "", "| | Location | Rule | Problem |", "|---|---|---|---|"]
        for f in report.findings:
            where = f"`{f.path}:{f.start_line}`"
            lines.append(f"| {_ICON[f.severity]} | {where} | `{f.rule_id}` | {_cell(f.message)} |")
        lines.append("")
    else:
        lines += ["No problems found on the lines this change touches.", ""]
    if report.suggestions:
        lines += ["### Suggestions", ""]
        lines += [_suggestion(s) for s in report.suggestions]
    worse = [m for m in report.metrics if m.cc_base is None or m.cc_head != m.cc_base]
    if worse:
        lines += [
            "<details><summary>Complexity of changed functions</summary>",
            "",
            "| Function | Complexity before → after | Maintainability before → after |",
            "|---|---|---|",
        ]
        for m in worse:
            before = "new" if m.cc_base is None else str(m.cc_base)
            mi_before = "-" if m.mi_base is None else f"{m.mi_base:.1f}"
            lines.append(
                f"| `{m.path}::{m.name}` | {before} → {m.cc_head} | {mi_before} → {m.mi_head:.1f} |"
            )
        lines += ["", "</details>", ""]
    if report.model_attempts:
        lines += ["<details><summary>Code model rounds</summary>", ""]
        lines += [f"- `{attempt_summary(a)}`" for a in report.model_attempts]
        lines += ["", "</details>", ""]
    if report.skipped:
        count = len(report.skipped)
        lines += [f"<details><summary>Skipped: not analyzed or not posted ({count})</summary>", ""]
        lines += [
            f"- `{s.path if s.line is None else f'{s.path}:{s.line}'}`: {s.reason}"
            for s in report.skipped
        ]
        lines += ["", "</details>", ""]
    return "\n".join(lines).rstrip() + "\n"


def _suggestion(s: Suggestion) -> str:
    status = "proven by the tests" if s.committable else f"not proven ({s.validation.status})"
    change = "\n".join(f"  {line}" for line in change_lines(s)).replace("```", "`\u200b``")
    return (
        f"- `{s.path}:{s.start_line}-{s.end_line}` ({s.source}, {status}, "
        f"reliability {s.score.reliability:.2f})\n\n  ```diff\n{change}\n  ```\n"
    )
