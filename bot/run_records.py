"""The database record of one analysis job: its `runs` row (started, retrying, failed,
superseded, completed) and, once it completes, its proven fixes and every suggestion
the review posted (bot.db)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from provenfix.bot.acceptance import AcceptanceBook
from provenfix.bot.db import (
    Database,
    PostedSuggestion,
    Run,
    record_proven_fixes,
    upsert_repository,
    utcnow,
)
from provenfix.bot.job_requests import JobRequest
from provenfix.bot.outcomes import add_posted_outcomes
from provenfix.bot.publish import PublishResult
from provenfix.jobs.report import Report, Suggestion

__all__ = ["RunRecords", "posted_suggestions"]

log = logging.getLogger("provenfix.job")


class RunRecords:
    """The `runs` row of job `job_id`. A retry passes the row its first attempt created
    (`row_id`), so that one job keeps one row."""

    def __init__(self, database: Database, job_id: str, row_id: int | None = None) -> None:
        self.database = database
        self.job_id = job_id
        self.row_id = row_id

    def start(self, request: JobRequest, check_run_id: int | None) -> int:
        """Mark the run `running`, creating its row (and the repository's) on a first attempt;
        the row's id."""
        if self.row_id is not None:
            self.update(status="running", error=None, duration=None)
            return self.row_id
        with self.database.session() as s:
            upsert_repository(
                s,
                request.repository_id,
                request.full_name,
                installation_id=request.installation_id,
            )
            row = Run(
                job_id=self.job_id,
                repository_id=request.repository_id,
                repository=request.full_name,
                pr_number=request.number,
                head_sha=request.head_sha,
                base_sha=request.base_sha,
                trigger=request.trigger,
                status="running",
                check_run_id=check_run_id,
                delivered_at=_parse_time(request.delivered_at),
            )
            s.add(row)
            s.flush()
            self.row_id = row.id
        return row.id

    def update(self, *, status: str, error: str | None, duration: float | None) -> None:
        """Set the run's status (and, with a duration, its end). Never raises: it runs on
        the way out of a failing job, whose own error matters more."""
        if self.row_id is None:
            return
        try:
            with self.database.session() as s:
                row = s.get(Run, self.row_id)
                if row is None:
                    return
                row.status = status
                row.error = error
                if duration is not None:
                    row.finished_at = utcnow()
                    row.duration_s = round(duration, 3)
        except Exception:
            log.warning("%s: could not record the run's end", self.job_id, exc_info=True)

    def complete(
        self,
        report: Report,
        result: PublishResult,
        config_errors: Sequence[str],
        duration: float,
        *,
        installation_id: int | None = None,
        acceptance: AcceptanceBook | None = None,
    ) -> None:
        """The run completed: its counts, its proven fixes, the suggestions posted and an
        open outcome for each (with the acceptance it was expected to have)."""
        posted = posted_suggestions(report, result)
        with self.database.session() as s:
            row = s.get(Run, self.row_id) if self.row_id is not None else None
            if row is None:
                return
            row.status = "completed"
            row.findings = len(report.findings)
            row.suggestions_posted = len(posted)
            row.suggestions_proven = sum(1 for p in posted if p[0].committable)
            row.config_errors = "\n".join(config_errors) or None
            row.finished_at = row.reviewed_at = utcnow()
            row.duration_s = round(duration, 3)
            record_proven_fixes(s, row.id, report)
            rows = []
            for suggestion, comment_id in posted:
                rows.append(
                    PostedSuggestion(
                        run_id=row.id,
                        suggestion_id=suggestion.id,
                        path=suggestion.path,
                        start_line=suggestion.start_line,
                        end_line=suggestion.end_line,
                        kind=str(suggestion.kind),
                        source=suggestion.source,
                        rule_ids=" ".join(_rule_ids(report, suggestion.finding_ids)),
                        validation=str(suggestion.validation.status),
                        committable=suggestion.committable,
                        reliability=suggestion.score.reliability,
                        comment_id=comment_id,
                    )
                )
            s.add_all(rows)
            s.flush()
            add_posted_outcomes(s, row, installation_id, rows, acceptance)


def posted_suggestions(
    report: Report, result: PublishResult
) -> list[tuple[Suggestion, int | None]]:
    """The suggestions the publisher posted, each with its review comment id when known."""
    by_id = {s.id: s for s in report.suggestions}
    return [
        (by_id[item.suggestion_id], item.comment_id)
        for item in result.posted
        if item.suggestion_id in by_id
    ]


def _parse_time(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


def _rule_ids(report: Report, finding_ids: Sequence[str]) -> list[str]:
    rules = {f.id: f.rule_id for f in report.findings}
    return sorted({rules[i] for i in finding_ids if i in rules})
