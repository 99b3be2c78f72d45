"""The check run's content: its markdown (the report as `jobs.formats.markdown`
renders it, plus where each suggestion went on the pull request, the evidence
behind each one, and anything that stopped the bot from posting), its
annotations, and its requested actions.

GitHub caps a check run summary at 65,535 characters; `render_check_summary`
stays under it by cutting the longest parts last and saying so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from provenfix.jobs.formats.markdown import render_markdown
from provenfix.jobs.report import Finding, Report, Severity, Suggestion

SUMMARY_LIMIT = 65_535
_CUT_NOTE = "\n\n*… cut here: GitHub limits a check run summary to 65,535 characters.*\n"


@dataclass(frozen=True)
class Placement:
    """Where the suggestions of one report went."""

    posted: Mapping[str, str] = field(default_factory=dict)  # suggestion id -> comment URL
    already_posted: Mapping[str, str] = field(default_factory=dict)  # id -> earlier comment URL
    not_posted: Mapping[str, str] = field(default_factory=dict)  # suggestion id -> reason


def check_title(report: Report, placement: Placement) -> str:
    if not report.findings:
        return "No problems found on the changed lines"
    findings = _plural(len(report.findings), "finding")
    proven = report.suggestions_validated
    if not proven:
        return f"{findings}, no proven fix"
    shown = len(placement.posted) + len(placement.already_posted)
    return f"{findings}, {_plural(proven, 'proven fix', 'proven fixes')} ({shown} on the diff)"


def conclusion_for(report: Report, config_errors: Sequence[str] = ()) -> str:
    """failure: an error-severity finding; success: no finding and a valid configuration;
    neutral: anything else (warnings, notes, or a configuration the bot had to ignore)."""
    if any(f.severity is Severity.ERROR for f in report.findings):
        return "failure"
    if report.findings or config_errors:
        return "neutral"
    return "success"


def render_check_summary(
    report: Report,
    placement: Placement,
    *,
    config_errors: Sequence[str] = (),
    notes: Sequence[str] = (),
    limit: int = SUMMARY_LIMIT,
) -> str:
    head: list[str] = []
    if config_errors:
        head += ["> [!WARNING]", "> The repository's configuration could not be used:"]
        head += [f"> - {_one_line(e)}" for e in config_errors]
        head.append("")
    if notes:
        head += ["> [!NOTE]"] + [f"> {_one_line(n)}" for n in notes] + [""]
    lead = "\n".join(head) + ("\n" if head else "")
    body = render_markdown(report)
    tail = "\n".join(p for p in (_placement(report, placement), _evidence(report.suggestions)) if p)
    text = lead + body + ("\n" + tail if tail else "")
    if len(text) <= limit:
        return text
    # keep the report itself; drop the diffs and evidence detail first
    short = lead + body
    if len(short) + len(_CUT_NOTE) <= limit:
        return short + _CUT_NOTE
    return short[: limit - len(_CUT_NOTE)] + _CUT_NOTE


def _placement(report: Report, placement: Placement) -> str:
    by_id = {s.id: s for s in report.suggestions}
    lines: list[str] = []
    if placement.posted or placement.already_posted:
        lines += ["### On the diff", ""]
        for sid, url in placement.posted.items():
            lines.append(f"- {_where(by_id[sid])}: [posted as a suggested change]({url})")
        for sid, url in placement.already_posted.items():
            lines.append(f"- {_where(by_id[sid])}: [already suggested on an earlier push]({url})")
        lines.append("")
    proven = [(by_id[sid], why) for sid, why in placement.not_posted.items() if sid in by_id]
    if proven:
        lines += ["### Proven fixes not on the diff", ""]
        for s, why in proven:
            lines += [f"**{_where(s)}** — {why}. Apply it by hand:", "", _diff_block(s), ""]
    unproven = [s for s in report.suggestions if not s.committable]
    if unproven:
        lines += [
            "### Not proven (never offered as one-click changes)",
            "",
            *(
                f"- {_where(s)}: {s.validation.status.value} — "
                f"{_one_line(s.validation.detail) or 'no test vouched for it'}"
                for s in unproven
            ),
            "",
        ]
    return "\n".join(lines)


def _evidence(suggestions: Sequence[Suggestion]) -> str:
    if not suggestions:
        return ""
    lines = [
        "<details><summary>Evidence</summary>",
        "",
        "| Suggestion | Tests | Findings in region | Complexity | Speed-up (95%) | Coverage "
        "| Reliability |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in suggestions:
        v, c = s.validation, s.score.components
        if s.committable:
            tests = (
                f"{len(v.passing_tests)}/{v.tests_selected} pass ×{v.runs} ({v.duration_s:.1f} s)"
            )
        else:
            tests = f"{v.status.value}" + (f", {v.tests_failed} failed" if v.tests_failed else "")
        speed = "n/a" if v.speed is None else f"{v.speed.speedup:.2f}x [{v.speed.low:.2f}, "
        speed += "" if v.speed is None else f"{v.speed.high:.2f}]"
        coverage = "n/a" if c.coverage is None else f"{c.coverage:.0%}"
        lines.append(
            f"| {_where(s)} | {tests} | {c.defect_density_before:.2f} → "
            f"{c.defect_density_after:.2f} | {c.complexity_before:.2f} → "
            f"{c.complexity_after:.2f} | {speed} | {coverage} | {s.score.reliability:.2f} |"
        )
    lines += ["", "</details>", ""]
    return "\n".join(lines)


def _diff_block(s: Suggestion) -> str:
    removed = [f"-{line}" for line in s.original.splitlines()]
    added = [f"+{line}" for line in s.replacement.splitlines()]
    fence = "```" + "`" * _longest_backtick_run(s.original + s.replacement)
    return "\n".join([f"{fence}diff", *removed, *added, fence])


def _longest_backtick_run(text: str) -> int:
    longest = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        longest = max(longest, run)
    return max(0, longest - 2)


def _where(s: Suggestion) -> str:
    lines = f"{s.start_line}" if s.start_line == s.end_line else f"{s.start_line}-{s.end_line}"
    return f"`{s.path}:{lines}`"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


# --- annotations ----------------------------------------------------------------------------

ANNOTATIONS_PER_REQUEST = 50  # GitHub's limit per check run create/update
MAX_ANNOTATIONS = 1000
_LEVEL = {Severity.ERROR: "failure", Severity.WARNING: "warning", Severity.INFO: "notice"}


def annotations_for(report: Report, shown: set[str]) -> list[dict[str, Any]]:
    """Annotations for the findings whose proven fix is not on the diff, worst first."""
    unproven = {fid: s for s in report.suggestions if not s.committable for fid in s.finding_ids}
    proven = {fid for s in report.suggestions if s.committable for fid in s.finding_ids}
    out: list[tuple[int, dict[str, Any]]] = []
    for f in report.findings:
        if f.id in shown:
            continue
        annotation: dict[str, Any] = {
            "path": f.path,
            "start_line": f.start_line,
            "end_line": max(f.start_line, f.end_line),
            "annotation_level": _LEVEL[f.severity],
            "title": f.rule_id[:255],
            "message": f.message[:60_000] or f.rule_id,
        }
        details = _annotation_details(f, proven, unproven.get(f.id))
        if details:
            annotation["raw_details"] = details[:60_000]
        out.append((-f.severity.rank, annotation))
    out.sort(key=lambda item: item[0])
    return [a for _, a in out]


def _annotation_details(f: Finding, proven: set[str], unproven: Suggestion | None) -> str:
    if f.id in proven:
        return (
            "A fix proven by the tests is in the check run summary (it could not be placed "
            "on the diff)."
        )
    if unproven is not None:
        return (
            f"A candidate fix was not proven ({unproven.validation.status.value}): "
            f"{_one_line(unproven.validation.detail)}"
        )
    if f.test:
        return f"Failing test: {f.test}"
    return ""


# --- requested actions ----------------------------------------------------------------------

APPLY_ACTION_ID = "apply_all"  # check_run.requested_action identifier (bot.webapp)


def apply_action() -> dict[str, str]:
    """The "Apply proven fixes" button (GitHub caps a label at 20 characters, a
    description at 40)."""
    return {
        "label": "Apply proven fixes",
        "identifier": APPLY_ACTION_ID,
        "description": "Commit every proven fix to this branch",
    }
