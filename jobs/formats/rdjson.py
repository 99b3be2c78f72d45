"""reviewdog's Diagnostic Format as JSON (rdjson), for `reviewdog -f=rdjson` on any forge.

One diagnostic per finding, at its lines, with its rule's code and documentation link.
A fix the repository's tests proved is attached as a line-wise suggestion: to the finding
whose lines it replaces exactly, else as a diagnostic of its own at the lines it replaces,
because reviewdog posts a suggestion only on its comment's own lines. Unproven candidates
are never attached; of proven fixes that overlap, the most reliable one is kept, as in the
patch (jobs/formats/patch.py). Schema: tests/fixtures/rdjson.schema.json.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from provenfix.jobs.formats.sarif import PROJECT_URL, rule_doc, strip_line_break
from provenfix.jobs.report import Finding, Report, Severity, Suggestion

_SEVERITY = {Severity.ERROR: "ERROR", Severity.WARNING: "WARNING", Severity.INFO: "INFO"}
_WHAT_WAS_WRONG = "**What was wrong:**"  # the rationale's first paragraph (jobs/rationale.py)


def report_to_rdjson(report: Report) -> dict[str, Any]:
    fixes = proven_fixes(report.suggestions)
    inline: dict[str, Suggestion] = {}  # finding id -> the fix attached to its diagnostic
    separate: list[Suggestion] = []
    for fix in fixes:
        target = next(
            (
                f
                for f in report.findings
                if f.id in fix.finding_ids
                and f.id not in inline
                and (f.path, f.start_line, f.end_line) == (fix.path, fix.start_line, fix.end_line)
            ),
            None,
        )
        if target is None:
            separate.append(fix)
        else:
            inline[target.id] = fix
    elsewhere = {fid: fix for fix in separate for fid in fix.finding_ids}
    diagnostics = [_diagnostic(f, inline.get(f.id), elsewhere.get(f.id)) for f in report.findings]
    diagnostics += [_fix_diagnostic(fix, report.findings) for fix in separate]
    result: dict[str, Any] = {
        "source": {"name": report.tool.name, "url": PROJECT_URL},
        "diagnostics": diagnostics,
    }
    if report.findings:
        worst = max((f.severity for f in report.findings), key=lambda s: s.rank)
        result["severity"] = _SEVERITY[worst]
    return result


def proven_fixes(suggestions: Sequence[Suggestion]) -> list[Suggestion]:
    """The committable suggestions, most reliable first, without one that overlaps a more
    reliable one in the same file."""
    taken: list[Suggestion] = []
    ranked = sorted(
        (s for s in suggestions if s.committable),
        key=lambda s: (-s.score.reliability, s.path, s.start_line, s.id),
    )
    for suggestion in ranked:
        if not any(
            other.path == suggestion.path
            and other.start_line <= suggestion.end_line
            and suggestion.start_line <= other.end_line
            for other in taken
        ):
            taken.append(suggestion)
    return taken


def _diagnostic(f: Finding, fix: Suggestion | None, elsewhere: Suggestion | None) -> dict[str, Any]:
    message = f.message
    if fix is not None:
        why = [p for p in fix.rationale.split("\n\n") if not p.startswith(_WHAT_WAS_WRONG)]
        message += "\n\n" + "\n\n".join([_proven(fix), *why])
    elif elsewhere is not None:
        where = f"{elsewhere.path}:{elsewhere.start_line}-{elsewhere.end_line}"
        message += f"\n\nA fix proven by the repository's tests is suggested at {where}."
    diagnostic: dict[str, Any] = {
        "message": message,
        "location": {"path": f.path, "range": _lines(f.start_line, f.end_line)},
        "severity": _SEVERITY[f.severity],
        "code": _code(f),
    }
    if fix is not None:
        diagnostic["suggestions"] = [_suggestion(fix)]
    return diagnostic


def _fix_diagnostic(fix: Suggestion, findings: Sequence[Finding]) -> dict[str, Any]:
    fixed = [f for f in findings if f.id in fix.finding_ids]
    where = ", ".join(f"`{f.rule_id}` at {f.path}:{f.start_line}" for f in fixed)
    severity = max((f.severity for f in fixed), key=lambda s: s.rank, default=Severity.INFO)
    diagnostic: dict[str, Any] = {
        "message": f"{_proven(fix)} It fixes {where or 'no reported finding'}.\n\n{fix.rationale}",
        "location": {"path": fix.path, "range": _lines(fix.start_line, fix.end_line)},
        "severity": _SEVERITY[severity],
        "suggestions": [_suggestion(fix)],
    }
    if fixed:
        diagnostic["code"] = _code(fixed[0])
    return diagnostic


def _proven(fix: Suggestion) -> str:
    return (
        f"A fix proven by the repository's tests is suggested ({fix.kind.value} by "
        f"{fix.source}, reliability {fix.score.reliability:.2f})."
    )


def _code(f: Finding) -> dict[str, str]:
    url = rule_doc(f).help_uri
    return {"value": f.rule_id, "url": url} if url else {"value": f.rule_id}


def _lines(start: int, end: int) -> dict[str, Any]:
    # No columns: reviewdog reads the range line-wise, both lines included.
    return {"start": {"line": start}, "end": {"line": end}}


def _suggestion(fix: Suggestion) -> dict[str, Any]:
    # Line-wise, like the range: the replacement's last line break is the range's own.
    return {
        "range": _lines(fix.start_line, fix.end_line),
        "text": strip_line_break(fix.replacement),
    }


def render_rdjson(report: Report) -> str:
    return json.dumps(report_to_rdjson(report), indent=2, ensure_ascii=False) + "\n"
