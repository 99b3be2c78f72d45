"""The dashboard's panels: for each, a chart (bot.dashboard.charts) and the tables of the
numbers it draws, built from bot.dashboard.stats. The tables are the record: what a
chart shows, a table next to it states, so that screen readers, copy and paste and the
browser test all read the same numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from markupsafe import Markup

from provenfix.bot.acceptance import SOURCE_FAMILIES, Tally
from provenfix.bot.dashboard import charts
from provenfix.bot.dashboard.stats import (
    NOISE_CAP,
    AcceptanceCell,
    DashboardStats,
    Scope,
    Window,
    rate,
)

TOP_RULES = 6  # the rules drawn as lines; the table lists them all


@dataclass(frozen=True)
class Table:
    id: str
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    text_columns: int = 1  # the leading columns that are words, not numbers


@dataclass(frozen=True)
class Panel:
    name: str  # the URL's: /dashboard/charts/<name>
    title: str
    explanation: str
    charts: tuple[Markup, ...]
    tables: tuple[Table, ...]


def shown_rate(tally: Tally) -> str:
    value = rate(tally)
    return "—" if value is None else f"{value * 100:.1f}%"


def shown_seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _acceptance(stats: DashboardStats, scope: Scope, window: Window, by: str) -> Panel:
    over_time = stats.acceptance(scope, window)
    cells = over_time.by_source if by == "source" else over_time.by_rule
    totals: dict[str, Tally] = {}
    for cell in cells:
        totals[cell.key] = totals.get(cell.key, Tally()) + cell.tally
    if by == "source":
        keys = [f for f in SOURCE_FAMILIES if f in totals] + sorted(
            k for k in totals if k not in SOURCE_FAMILIES
        )
        drawn = keys
    else:
        keys = sorted(totals, key=lambda k: (-totals[k].decided, k))
        drawn = keys[:TOP_RULES]
    weeks = over_time.weeks
    grid = {(c.week, c.key): c.tally for c in cells}
    series = []
    for key in drawn:
        tallies = [grid.get((week, key), Tally()) for week in weeks]
        series.append(
            charts.Series(
                key,
                tuple(rate(t) for t in tallies),
                tuple(f"({t.accepted} of {t.decided})" for t in tallies),
            )
        )
    what = "source family" if by == "source" else "rule"
    title = f"Acceptance over time, by {what}"
    svg = charts.line_chart(
        f"chart-acceptance-{by}",
        title,
        f"Share of decided suggestions that were applied, per week and {what}.",
        [week.strftime("%b %d") for week in weeks],
        series,
        y_label="accepted / decided",
        x_label="week (starting Monday, UTC)",
    )
    label = "Source" if by == "source" else "Rule"
    weekly = Table(
        f"table-acceptance-{by}",
        f"Acceptance per week and {what}",
        ("Week", label, "Accepted", "Decided", "Acceptance"),
        tuple(_weekly_row(c) for c in cells),
        text_columns=2,
    )
    overall = Table(
        f"table-acceptance-{by}-total",
        f"Acceptance per {what}, whole period",
        (label, "Accepted", "Decided", "Acceptance"),
        tuple(
            (key, str(totals[key].accepted), str(totals[key].decided), shown_rate(totals[key]))
            for key in keys
        ),
    )
    explanation = (
        "Each decided suggestion counts in the week it was decided: applied is accepted; "
        "dismissed, and left open when its pull request ended, are not; superseded and "
        "still-open suggestions are left out."
    )
    if by == "rule" and len(keys) > TOP_RULES:
        explanation += f" The chart draws the {TOP_RULES} rules with the most decisions."
    return Panel(f"acceptance-{by}", title, explanation, (svg,), (overall, weekly))


def _weekly_row(cell: AcceptanceCell) -> tuple[str, ...]:
    tally = cell.tally
    return (
        cell.week.isoformat(),
        cell.key,
        str(tally.accepted),
        str(tally.decided),
        shown_rate(tally),
    )


def acceptance_by_source(stats: DashboardStats, scope: Scope, window: Window) -> Panel:
    return _acceptance(stats, scope, window, "source")


def acceptance_by_rule(stats: DashboardStats, scope: Scope, window: Window) -> Panel:
    return _acceptance(stats, scope, window, "rule")


def calibration(stats: DashboardStats, scope: Scope, window: Window) -> Panel:
    bins = stats.calibration(scope, window)
    points = [
        charts.Point(
            b.mean_score if b.mean_score is not None else (b.low + b.high) / 2,
            b.tally.accepted / b.tally.decided,
            b.tally.decided,
            f"score {b.low:.1f}-{b.high:.1f}: {b.tally.accepted} of {b.tally.decided} accepted",
        )
        for b in bins
        if b.tally.decided
    ]
    title = "Calibration: reliability score against observed acceptance"
    svg = charts.calibration_plot(
        "chart-calibration",
        title,
        "For each 0.1-wide bin of the reliability score shown when a suggestion was posted, "
        "the share of its decided suggestions that were applied; the dashed diagonal is "
        "where a perfectly calibrated score would put them.",
        points,
    )
    table = Table(
        "table-calibration",
        "Decided suggestions per score bin",
        ("Score", "Decided", "Accepted", "Observed acceptance", "Mean score"),
        tuple(
            (
                f"{b.low:.1f}-{b.high:.1f}",
                str(b.tally.decided),
                str(b.tally.accepted),
                shown_rate(b.tally),
                "—" if b.mean_score is None else f"{b.mean_score:.3f}",
            )
            for b in bins
        ),
    )
    explanation = (
        "Bins are [0.0, 0.1), [0.1, 0.2), …, [0.9, 1.0]. A point below the diagonal means "
        "suggestions with those scores are accepted less often than the score promises."
    )
    return Panel("calibration", title, explanation, (svg,), (table,))


def noise(stats: DashboardStats, scope: Scope, window: Window) -> Panel:
    result = stats.noise(scope, window)
    labels = [f"{n}+" if n == NOISE_CAP else str(n) for n, _ in result.distribution]
    title = "Suggestions per pull request"
    svg = charts.bar_chart(
        "chart-noise",
        title,
        "How many pull requests got 0, 1, 2, … suggestions posted, all their analyses together.",
        labels,
        [float(count) for _, count in result.distribution],
        y_label="pull requests",
        x_label="suggestions posted on the pull request",
    )
    distribution = Table(
        "table-noise",
        "Pull requests by suggestions posted",
        ("Suggestions", "Pull requests"),
        tuple(
            (label, str(count))
            for label, (_, count) in zip(labels, result.distribution, strict=True)
        ),
    )
    mean = result.mean
    summary = Table(
        "table-noise-summary",
        "Suggestions per pull request, summary",
        ("Measure", "Value"),
        (
            ("Pull requests", str(result.pull_requests)),
            ("Suggestions posted", str(result.suggestions)),
            ("Mean per pull request", "—" if mean is None else f"{mean:.2f}"),
        ),
    )
    explanation = (
        "Every pull request with a completed analysis that started in the period; its "
        "suggestions are those all its completed analyses posted (a push analyzed again "
        f"posts again). {NOISE_CAP} or more share the last bar."
    )
    return Panel("noise", title, explanation, (svg,), (summary, distribution))


def latency(stats: DashboardStats, scope: Scope, window: Window) -> Panel:
    result = stats.latency(scope, window)
    title = "Time from delivery to review"
    svg = charts.bar_chart(
        "chart-latency",
        title,
        "Completed analyses by the time from GitHub's webhook delivery to the review "
        "(or the completed check run) reaching GitHub.",
        [label for label, _ in result.histogram],
        [float(count) for _, count in result.histogram],
        y_label="analyses",
        x_label="delivery to review",
    )
    summary = Table(
        "table-latency-summary",
        "Delivery to review, summary",
        ("Measure", "Value"),
        (
            ("Analyses", str(result.count)),
            ("Median", shown_seconds(result.median_s)),
            ("90th percentile", shown_seconds(result.p90_s)),
        ),
    )
    histogram = Table(
        "table-latency",
        "Analyses per time bucket",
        ("Delivery to review", "Analyses"),
        tuple((label, str(count)) for label, count in result.histogram),
    )
    explanation = (
        "Completed analyses reviewed in the period that know both times. The median of an "
        "even count is the mean of the middle two; the 90th percentile is the nearest rank."
    )
    return Panel("latency", title, explanation, (svg,), (summary, histogram))


def queue(stats: DashboardStats, scope: Scope, window: Window) -> Panel:
    state = stats.queue_state(scope, window)
    title = "Queue depth"
    svg = charts.bar_chart(
        "chart-queue",
        title,
        "Jobs in the analysis queue's registries now, by state (all installations).",
        [name for name, _ in state.jobs],
        [float(count) for _, count in state.jobs],
        y_label="jobs",
        x_label="state",
        empty="no jobs in the queue's registries" if state.jobs else "Redis did not answer",
    )
    table = Table(
        "table-queue",
        "Jobs by state (the whole service)",
        ("State", "Jobs"),
        tuple((name, str(count)) for name, count in state.jobs),
    )
    explanation = (
        "rq's registries in Redis: queued jobs wait for a worker, started ones run, failed "
        "ones raised (rq keeps them for a while). These count every installation's jobs."
    )
    if state.error:
        explanation = f"{state.error}. {explanation}"
    return Panel("queue", title, explanation, (svg,), (table,))


def failures(stats: DashboardStats, scope: Scope, window: Window) -> Panel:
    state = stats.queue_state(scope, window)
    title = "Failed analyses per day"
    svg = charts.bar_chart(
        "chart-failures",
        title,
        "Analyses started per day, and those of them that failed.",
        [day.day.strftime("%b %d") for day in state.days],
        [float(day.runs) for day in state.days],
        y_label="analyses",
        x_label="day (UTC)",
        highlight=[float(day.failed) for day in state.days],
        highlight_name="failed",
    )
    table = Table(
        "table-failures",
        "Analyses and failures per day",
        ("Day", "Analyses", "Failed"),
        tuple((d.day.isoformat(), str(d.runs), str(d.failed)) for d in state.days if d.runs),
    )
    explanation = (
        "Analyses by the day (UTC) they started; failed means the analysis gave up (an error "
        "after its retries, a timeout, a worker that died). Superseded ones, stopped by a "
        "newer push, are not failures. The table lists the days with analyses."
    )
    return Panel("failures", title, explanation, (svg,), (table,))


def demoted(stats: DashboardStats, scope: Scope, window: Window) -> Panel:
    found = stats.demotions(scope)
    policy = stats.policy
    title = "Demoted: no longer posted as committable suggestions"
    svg = charts.bar_chart(
        "chart-demoted",
        title,
        "Expected acceptance of each rule or source demoted in a repository; the floor is "
        f"{policy.floor:.0%}.",
        [f"{d.repository} {d.expectation.key}" for d in found],
        [round(d.expectation.probability * 100, 1) for d in found],
        y_label="expected acceptance (%)",
        empty="nothing is demoted",
    )
    table = Table(
        "table-demoted",
        "Rules and sources demoted, by repository",
        ("Repository", "Kind", "Rule or source", "Accepted", "Decided", "Expected acceptance"),
        tuple(
            (
                d.repository,
                d.expectation.key_kind,
                d.expectation.key,
                str(d.expectation.repository.accepted),
                str(d.expectation.repository.decided),
                f"{d.expectation.probability * 100:.1f}%",
            )
            for d in found
        ),
        text_columns=3,
    )
    explanation = (
        f"A rule or source family whose expected acceptance in a repository is below "
        f"{policy.floor:.0%} once the repository decided at least {policy.min_outcomes} of its "
        "suggestions is no longer posted there as a committable suggestion: its proven fixes "
        "are listed in the check run, which says why. Expected acceptance is the repository's "
        f"record with a prior from every other repository weighing {policy.prior_strength:g} "
        "outcomes (docs/learning.md). Whole record, not only the period shown."
    )
    return Panel("demoted", title, explanation, (svg,), (table,))


PanelBuilder = Callable[[DashboardStats, Scope, Window], Panel]
PANELS: dict[str, PanelBuilder] = {
    "acceptance-source": acceptance_by_source,
    "acceptance-rule": acceptance_by_rule,
    "calibration": calibration,
    "noise": noise,
    "latency": latency,
    "queue": queue,
    "failures": failures,
    "demoted": demoted,
}
LABELS: dict[str, str] = {
    "acceptance-source": "Acceptance by source",
    "acceptance-rule": "Acceptance by rule",
    "calibration": "Calibration",
    "noise": "Suggestions per PR",
    "latency": "Delivery to review",
    "queue": "Queue depth",
    "failures": "Failures",
    "demoted": "Demoted",
}
