"""The report as a compact table for a terminal."""

from __future__ import annotations

from provenfix.jobs.formats.patch import change_lines
from provenfix.jobs.report import ModelAttempt, Report, RoundsEnd, Skipped

_ENDS = {
    RoundsEnd.PROVEN: "proven",
    RoundsEnd.ROUNDS: "nothing proven in the rounds allowed",
    RoundsEnd.TARGET_BUDGET: "its time budget was spent",
    RoundsEnd.ANALYSIS_BUDGET: "the analysis' model time was spent",
    RoundsEnd.UNTESTABLE: "no test judges it",
    RoundsEnd.MODEL_FAILED: "the model failed",
    RoundsEnd.NOT_VALIDATED: "not validated",
}


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
    if report.model_attempts:
        out += ["", "  code model, per function:"]
        out += [f"    {attempt_summary(a)}" for a in report.model_attempts]
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


def attempt_summary(a: ModelAttempt) -> str:
    """`calc.py::mean: 2 rounds, 6 answers (1 unchanged), 900+120 tokens, 4.1 s: proven`"""
    dropped = [
        f"{count} {what}"
        for count, what in ((a.unchanged, "unchanged"), (a.repeated, "repeated"))
        if count
    ]
    tokens = (
        f", {a.prompt_tokens}+{a.completion_tokens} tokens"
        if a.prompt_tokens is not None and a.completion_tokens is not None
        else ""
    )
    return (
        f"{a.path}::{a.function}: {a.rounds} round{'s' if a.rounds != 1 else ''}, "
        f"{a.samples} answers" + (f" ({', '.join(dropped)})" if dropped else "")
        + (f", {a.narrowed} on its suspicious lines only" if a.narrowed else "")
        + f"{tokens}, {a.seconds:.1f} s: {_ENDS[a.end]}"
    )  # fmt: skip
