"""The dashboard's numbers, read from the database (and rq's registries in Redis).

Every query is a SQLAlchemy `select()` that PostgreSQL and SQLite run alike: rows
are filtered and grouped in SQL, and bucketed by week, day or score bin in
Python, because the two databases share no date-truncation or flooring function.
A `Scope` says whose data: every installation (the admin token) or the
installations a GitHub user can reach, optionally one repository; runs and
outcomes belong to a repository through `repositories.installation_id`.

Acceptance counts follow bot.acceptance: `applied` is accepted, `dismissed` and
`left_open` are not, `superseded` and `open` are undecided and left out.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import ColumnElement, case, func, select, true
from sqlalchemy.orm import InstrumentedAttribute

from provenfix.bot.acceptance import (
    ACCEPTED,
    NOT_ACCEPTED,
    AcceptanceBook,
    AcceptancePolicy,
    Expectation,
    Tally,
)
from provenfix.bot.db import Database
from provenfix.bot.metrics import job_states
from provenfix.bot.tables import Repository, Run, SuggestionOutcome

DECIDED = (ACCEPTED, *sorted(NOT_ACCEPTED))
NO_RULE = "(no rule)"
CALIBRATION_BINS = 10
NOISE_CAP = 10  # pull requests with this many suggestions or more share the last bar
# (upper bound in seconds, label) of the delivery-to-review histogram
LATENCY_BUCKETS: tuple[tuple[float, str], ...] = (
    (10, "< 10 s"),
    (30, "10-30 s"),
    (60, "30-60 s"),
    (120, "1-2 min"),
    (300, "2-5 min"),
    (600, "5-10 min"),
    (1800, "10-30 min"),
    (3600, "30-60 min"),
    (math.inf, ">= 1 h"),
)


@dataclass(frozen=True)
class Scope:
    """Whose data a page shows."""

    installation_ids: frozenset[int] | None  # None: every installation
    repository: str | None = None  # a repository's full name, or all of them

    def owns(self, repository_id: InstrumentedAttribute[int]) -> ColumnElement[bool]:
        """A filter on a table's repository id column: the repositories in scope."""
        if self.installation_ids is None and self.repository is None:
            return true()
        ids = select(Repository.id)
        if self.installation_ids is not None:
            ids = ids.where(Repository.installation_id.in_(sorted(self.installation_ids)))
        if self.repository is not None:
            ids = ids.where(Repository.full_name == self.repository)
        return repository_id.in_(ids)


@dataclass(frozen=True)
class Window:
    """The period shown: whole weeks (Monday 00:00 UTC) up to now."""

    now: dt.datetime
    weeks: int

    @property
    def start(self) -> dt.datetime:
        monday = self.now.date() - dt.timedelta(days=self.now.weekday() + 7 * (self.weeks - 1))
        return dt.datetime.combine(monday, dt.time(), tzinfo=dt.UTC)

    def week_starts(self) -> tuple[dt.date, ...]:
        first = self.start.date()
        return tuple(first + dt.timedelta(weeks=i) for i in range(self.weeks))

    def days(self) -> tuple[dt.date, ...]:
        first = self.start.date()
        return tuple(
            first + dt.timedelta(days=i) for i in range((self.now.date() - first).days + 1)
        )


@dataclass(frozen=True)
class AcceptanceCell:
    week: dt.date  # the Monday the week starts on
    key: str  # a source family or a rule id (NO_RULE for a fix of no rule)
    tally: Tally


@dataclass(frozen=True)
class AcceptanceOverTime:
    weeks: tuple[dt.date, ...]
    by_source: tuple[AcceptanceCell, ...]
    by_rule: tuple[AcceptanceCell, ...]


@dataclass(frozen=True)
class CalibrationBin:
    low: float
    high: float
    tally: Tally
    mean_score: float | None


@dataclass(frozen=True)
class Noise:
    """Suggestions posted per pull request: (count, pull requests with that count)."""

    distribution: tuple[tuple[int, int], ...]  # the last count stands for NOISE_CAP or more
    pull_requests: int
    suggestions: int

    @property
    def mean(self) -> float | None:
        return self.suggestions / self.pull_requests if self.pull_requests else None


@dataclass(frozen=True)
class Latency:
    count: int
    median_s: float | None
    p90_s: float | None
    histogram: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class DayRuns:
    day: dt.date
    runs: int  # runs that started that day, whatever became of them
    failed: int


@dataclass(frozen=True)
class QueueState:
    """The queue's registries (service-wide) and the failed runs of the scope per day."""

    jobs: tuple[tuple[str, int], ...]  # (rq state, jobs); empty when Redis did not answer
    error: str  # why `jobs` is empty, or ""
    days: tuple[DayRuns, ...]


def rate(tally: Tally) -> float | None:
    return tally.accepted / tally.decided if tally.decided else None


def as_utc(value: dt.datetime) -> dt.datetime:
    """SQLite gives back naive datetimes: they were stored in UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def week_of(value: dt.datetime) -> dt.date:
    day = as_utc(value).date()
    return day - dt.timedelta(days=day.weekday())


def score_bin(reliability: float) -> int:
    """[0, 0.1) → 0, …, [0.9, 1.0] → 9; the epsilon keeps 0.3 (0.29999…) in its bin."""
    return min(max(math.floor(reliability * CALIBRATION_BINS + 1e-9), 0), CALIBRATION_BINS - 1)


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest rank: the smallest value with at least `fraction` of them at or below it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


@dataclass(frozen=True)
class Demotion:
    repository: str
    expectation: Expectation


class DashboardStats:
    def __init__(self, db: Database, queue: Queue, policy: AcceptancePolicy | None = None) -> None:
        self._db = db
        self._queue = queue
        self.policy = policy or AcceptancePolicy()

    def demotions(self, scope: Scope) -> list[Demotion]:
        """The rules and source families demoted now in the repositories in scope: each
        repository's book as the worker builds it (bot.outcomes), from all outcomes ever
        (the window does not apply: a demotion is decided on the whole record)."""
        key_columns = {"rule": SuggestionOutcome.rule_id, "source": SuggestionOutcome.source_family}
        counts: dict[str, dict[int, dict[str, Tally]]] = {"rule": {}, "source": {}}
        with self._db.session() as s:
            for kind, column in key_columns.items():
                accepted = func.sum(case((SuggestionOutcome.state == ACCEPTED, 1), else_=0))
                rows = s.execute(
                    select(SuggestionOutcome.repository_id, column, accepted, func.count())
                    .where(SuggestionOutcome.state.in_(DECIDED))
                    .group_by(SuggestionOutcome.repository_id, column)
                )
                for repository_id, key, yes, total in rows:
                    per_key = counts[kind].setdefault(int(repository_id), {})
                    per_key[str(key)] = Tally(int(yes or 0), int(total))
            in_scope = select(Repository.id, Repository.full_name).where(scope.owns(Repository.id))
            names = {int(i): str(name) for i, name in s.execute(in_scope)}
        found: list[Demotion] = []
        for repository_id, name in sorted(names.items(), key=lambda item: item[1]):
            book = AcceptanceBook(
                self.policy,
                repository_rules=counts["rule"].get(repository_id, {}),
                pooled_rules=_others(counts["rule"], repository_id),
                repository_sources=counts["source"].get(repository_id, {}),
                pooled_sources=_others(counts["source"], repository_id),
            )
            for kind, keys in (
                ("rule", book.repository_rules),
                ("source", book.repository_sources),
            ):
                for key in sorted(keys):
                    expected = book.expect(kind, key)
                    if key and expected.demoted:
                        found.append(Demotion(name, expected))
        return found

    def repositories(self, installation_ids: frozenset[int] | None) -> tuple[str, ...]:
        """The repositories a viewer may pick, by name."""
        query = select(Repository.full_name).distinct().order_by(Repository.full_name)
        if installation_ids is not None:
            query = query.where(Repository.installation_id.in_(sorted(installation_ids)))
        with self._db.session() as s:
            return tuple(s.scalars(query))

    def _decided(
        self, scope: Scope, window: Window
    ) -> list[tuple[str, str, str, float, dt.datetime]]:
        outcome = SuggestionOutcome
        when = func.coalesce(outcome.decided_at, outcome.posted_at)
        query = select(
            outcome.rule_id, outcome.source_family, outcome.state, outcome.reliability, when
        ).where(
            outcome.state.in_(DECIDED),
            when >= window.start,
            scope.owns(outcome.repository_id),
        )
        with self._db.session() as s:
            return [tuple(row) for row in s.execute(query)]  # type: ignore[misc]

    def acceptance(self, scope: Scope, window: Window) -> AcceptanceOverTime:
        """Decided suggestions by the week of their decision, per source family and rule."""
        by_source: dict[tuple[dt.date, str], Tally] = defaultdict(Tally)
        by_rule: dict[tuple[dt.date, str], Tally] = defaultdict(Tally)
        for rule_id, family, state, _score, when in self._decided(scope, window):
            one = Tally(int(state == ACCEPTED), 1)
            week = week_of(when)
            by_source[week, family] += one
            by_rule[week, rule_id or NO_RULE] += one

        def cells(table: dict[tuple[dt.date, str], Tally]) -> tuple[AcceptanceCell, ...]:
            return tuple(AcceptanceCell(w, k, table[w, k]) for w, k in sorted(table))

        return AcceptanceOverTime(window.week_starts(), cells(by_source), cells(by_rule))

    def calibration(self, scope: Scope, window: Window) -> tuple[CalibrationBin, ...]:
        """Decided suggestions by reliability score bin: observed acceptance per bin."""
        tallies = [Tally()] * CALIBRATION_BINS
        scores: list[list[float]] = [[] for _ in range(CALIBRATION_BINS)]
        for _rule, _family, state, score, _when in self._decided(scope, window):
            index = score_bin(score)
            tallies[index] += Tally(int(state == ACCEPTED), 1)
            scores[index].append(score)
        width = 1 / CALIBRATION_BINS
        return tuple(
            CalibrationBin(
                round(i * width, 10),
                round((i + 1) * width, 10),
                tallies[i],
                statistics.fmean(scores[i]) if scores[i] else None,
            )
            for i in range(CALIBRATION_BINS)
        )

    def noise(self, scope: Scope, window: Window) -> Noise:
        """Per pull request with a completed run that started in the window: the
        suggestions its completed runs posted, all runs together."""
        posted = func.sum(Run.suggestions_posted)
        query = (
            select(Run.repository_id, Run.pr_number, posted)
            .where(
                Run.status == "completed",
                Run.started_at >= window.start,
                scope.owns(Run.repository_id),
            )
            .group_by(Run.repository_id, Run.pr_number)
        )
        with self._db.session() as s:
            totals = [int(total or 0) for _repo, _number, total in s.execute(query)]
        counts = Counter(min(total, NOISE_CAP) for total in totals)
        top = max(counts, default=0)
        return Noise(tuple((n, counts.get(n, 0)) for n in range(top + 1)), len(totals), sum(totals))

    def latency(self, scope: Scope, window: Window) -> Latency:
        """Completed runs reviewed in the window: `reviewed_at - delivered_at`."""
        query = select(Run.delivered_at, Run.reviewed_at).where(
            Run.status == "completed",
            Run.delivered_at.is_not(None),
            Run.reviewed_at.is_not(None),
            Run.reviewed_at >= window.start,
            scope.owns(Run.repository_id),
        )
        with self._db.session() as s:
            rows = [(delivered, reviewed) for delivered, reviewed in s.execute(query)]
        seconds = [
            max((as_utc(reviewed) - as_utc(delivered)).total_seconds(), 0.0)
            for delivered, reviewed in rows
            if delivered is not None and reviewed is not None
        ]
        histogram = Counter(
            next(i for i, (bound, _) in enumerate(LATENCY_BUCKETS) if value < bound)
            for value in seconds
        )
        return Latency(
            len(seconds),
            statistics.median(seconds) if seconds else None,
            percentile(seconds, 0.9),
            tuple((label, histogram.get(i, 0)) for i, (_, label) in enumerate(LATENCY_BUCKETS)),
        )

    def queue_state(self, scope: Scope, window: Window) -> QueueState:
        try:
            jobs, error = tuple(job_states(self._queue)), ""
        except RedisError as exc:
            jobs, error = (), f"Redis did not answer ({exc.__class__.__name__})"
        query = select(Run.status, Run.started_at).where(
            Run.started_at >= window.start, scope.owns(Run.repository_id)
        )
        runs: Counter[dt.date] = Counter()
        failed: Counter[dt.date] = Counter()
        with self._db.session() as s:
            for status, started in s.execute(query):
                day = as_utc(started).date()
                runs[day] += 1
                failed[day] += int(status == "failed")
        days = tuple(DayRuns(day, runs[day], failed[day]) for day in window.days())
        return QueueState(jobs, error, days)


def _others(counts: dict[int, dict[str, Tally]], repository_id: int) -> dict[str, Tally]:
    pooled: dict[str, Tally] = {}
    for other, per_key in counts.items():
        if other != repository_id:
            for key, tally in per_key.items():
                pooled[key] = pooled.get(key, Tally()) + tally
    return pooled
