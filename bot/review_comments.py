"""What the bot writes in a review: the comment bodies, their hidden markers, and the
edits that retire a comment whose finding is gone.

Every suggestion comment ends in `<!-- provenfix:finding=<ids> suggestion=<id> -->`
(`fingerprint`), which is how a later push recognises it. A retired comment gets a
state marker `<!-- provenfix:state=applied|outdated at=<sha> -->` and its
```suggestion fence turned into a plain code block, so it can no longer be committed.

GitHub's review *threads* are not resolved: resolving one needs the GraphQL
`resolveReviewThread` mutation, which is outside the REST contract the bot is held
to (tests/fixtures/github-contract). The edited comment is the signal instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from provenfix.jobs.report import LineRange, ReplayEvidence, Report, SpeedEvidence, Suggestion

APPLIED_SEARCH_WINDOW = 50  # lines around a comment's anchor searched for applied text

_FINGERPRINT = re.compile(
    r"<!-- provenfix:finding=(?P<findings>[^\s>]*) suggestion=(?P<suggestion>[^\s>]+) -->"
)
_STATE = re.compile(r"<!-- provenfix:state=(?P<state>[a-z]+) at=(?P<sha>[0-9a-f]+) -->")
_REVIEW = "<!-- provenfix:review head={sha} -->"
SUGGESTION_BLOCK = re.compile(r"^(`{3,})suggestion\n(.*?)^\1[ \t]*$", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class CommentMarker:
    """What a comment's hidden markers say."""

    finding_ids: frozenset[str]
    suggestion_id: str
    state: str | None  # "applied" or "outdated" once retired; None while current


def parse_marker(body: str | None) -> CommentMarker | None:
    """The markers of one of our suggestion comments; None for any other comment."""
    marker = _FINGERPRINT.search(body or "")
    if marker is None:
        return None
    state = _STATE.search(body or "")
    findings = frozenset(f for f in marker.group("findings").split(",") if f)
    return CommentMarker(
        findings, marker.group("suggestion"), state.group("state") if state else None
    )


def review_marker(head_sha: str) -> str:
    return _REVIEW.format(sha=head_sha)


def fingerprint(s: Suggestion) -> str:
    return f"<!-- provenfix:finding={','.join(s.finding_ids)} suggestion={s.id} -->"


def suggestion_block(replacement: str) -> str:
    """A ```suggestion block that replaces the commented lines with `replacement`."""
    text = replacement.replace("\r\n", "\n")
    if text.endswith("\n"):
        text = text[:-1]
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    body = f"{text}\n" if replacement else ""  # an empty block deletes the lines
    return f"{fence}suggestion\n{body}{fence}"


def review_body(report: Report, count: int, *, app_name: str, head_sha: str) -> str:
    findings = len(report.findings)
    return (
        f"**{app_name}** found {findings} problem{'s' if findings != 1 else ''} "
        f"in this change. {count} fix{'es' if count != 1 else ''} below "
        f"{'are' if count != 1 else 'is'} proven by the repository's own tests: each is a "
        "suggested change you can commit as it is. The check run has the full report "
        "and the evidence.\n\n" + review_marker(head_sha)
    )


def comment_body(
    s: Suggestion, report: Report, *, app_name: str, acceptance: str | None = None
) -> str:
    """The comment of one suggestion; `acceptance` is the line saying how often its kind
    was accepted (bot.acceptance.Expectation.line)."""
    rules = sorted({f.rule_id for f in report.findings if f.id in s.finding_ids})
    about = f" for {', '.join(f'`{r}`' for r in rules)}" if rules else ""
    seen = [f"<sub>{acceptance}.</sub>", ""] if acceptance else []
    return "\n".join(
        [
            f"**{app_name}** · proven fix{about} · reliability **{s.score.reliability:.2f}**",
            "",
            s.rationale.strip(),
            "",
            *seen,
            suggestion_block(s.replacement),
            "",
            evidence_details(s),
            "",
            fingerprint(s),
        ]
    )


def retired_body(body: str, head_sha: str, *, applied: bool) -> str:
    """`body` edited to say the suggestion was applied, or is no longer reported, at
    `head_sha`; its suggestion fence becomes a plain code block."""
    if applied:
        note = f"✅ **Applied in `{head_sha[:10]}`.**"
        state = f"<!-- provenfix:state=applied at={head_sha} -->"
    else:
        note = (
            f"☑️ **No longer reported at `{head_sha[:10]}`**: the problem this suggestion "
            "fixed is gone, so the suggestion is no longer offered."
        )
        state = f"<!-- provenfix:state=outdated at={head_sha} -->"
    plain = SUGGESTION_BLOCK.sub(lambda m: f"{m.group(1)}\n{m.group(2)}{m.group(1)}", body)
    return f"{note}\n\n{plain}\n{state}"


def was_applied(body: str | None, anchor: int | None, lines: Sequence[str] | None) -> bool:
    """Does the head hold the comment's suggested text near its anchor line?"""
    block = SUGGESTION_BLOCK.search(body or "")
    if lines is None or block is None or not block.group(2) or not anchor:
        return False
    wanted = block.group(2).rstrip("\n").split("\n")
    low = max(1, anchor - APPLIED_SEARCH_WINDOW)
    high = min(len(lines), anchor + APPLIED_SEARCH_WINDOW)
    return any(list(lines[i - 1 : i - 1 + len(wanted)]) == wanted for i in range(low, high + 1))


def anchor_problem(s: Suggestion, hunks: Mapping[str, tuple[LineRange, ...]]) -> str | None:
    """Why `s` cannot be a suggested change on the diff; None when it can."""
    if s.path not in hunks:
        return "the file is not part of the pull request's diff"
    ranges = hunks[s.path]
    if not ranges:
        return "GitHub shows no diff for this file"
    if not any(r.start <= s.start_line and s.end_line <= r.end for r in ranges):
        lines = (
            f"line {s.start_line} is"
            if s.start_line == s.end_line
            else f"lines {s.start_line}-{s.end_line} are"
        )
        return f"{lines} not inside one hunk of the diff"
    return None


def evidence_details(s: Suggestion) -> str:
    v, c = s.validation, s.score.components
    rows = [
        (
            "Tests",
            f"{len(v.passing_tests)} of {v.tests_selected} selected pass and check this code "
            f"in all {v.runs} runs ({v.duration_s:.1f} s)",
        ),
        ("Replayed calls", replay_summary(v.replay)),
        ("Speed", speed_summary(v.speed)),
        (
            "Defect density (region)",
            f"{c.defect_density_before:.2f} → {c.defect_density_after:.2f}",
        ),
        ("Complexity (normalized)", f"{c.complexity_before:.2f} → {c.complexity_after:.2f}"),
        (
            "Performance efficiency",
            "not measured"
            if c.performance_efficiency is None
            else f"{c.performance_efficiency:.2f}",
        ),
        (
            "Region executed by the passing tests",
            "not measured" if c.coverage is None else f"{c.coverage:.0%}",
        ),
        (
            "Reliability",
            f"{s.score.reliability:.2f} (confidence {c.confidence:.2f}; "
            f"α={s.score.weights.alpha:g}, "
            f"β={s.score.weights.beta:g}, γ={s.score.weights.gamma:g})",
        ),
        ("Source", f"{s.source} ({s.kind.value})"),
    ]
    table = "\n".join(f"| {name} | {value} |" for name, value in rows)
    return f"<details><summary>Evidence</summary>\n\n| | |\n|---|---|\n{table}\n\n</details>"


def replay_summary(r: ReplayEvidence | None) -> str:
    if r is None:
        return "no recorded call into the changed function"
    text = f"{r.calls_replayed} recorded"
    if r.inputs_generated:
        text += f" + {r.inputs_generated} generated"
    text += f", {r.calls_changed} changed"
    if r.not_replayable:
        text += f" ({r.not_replayable} not replayable)"
    return text + (f"; e.g. {r.example}" if r.example else "")


def speed_summary(sp: SpeedEvidence | None) -> str:
    if sp is None:
        return "not measured"
    verdict = "significant" if sp.significant else "not significant"
    return f"{sp.speedup:.2f}x (95% interval {sp.low:.2f}-{sp.high:.2f}x, {verdict})"
