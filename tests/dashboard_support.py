"""A known history for the dashboard tests: installations, repositories, runs,
suggestions and their outcomes written to a real database, and the tables the
dashboard must show for it, computed here from the same rows by plain loops (not by
bot.dashboard's code), plus a reader of the tables of a page's HTML."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser

from provenfix.bot.acceptance import AcceptancePolicy
from provenfix.bot.db import Database
from provenfix.bot.tables import (
    Installation,
    PostedSuggestion,
    Repository,
    Run,
    SuggestionOutcome,
)

TOKEN = "dashboard-admin-token-0123456789abcdef"
# the acceptance policy of the dashboards under test: demotes several keys of OUTCOMES
POLICY = AcceptancePolicy(floor=0.5, min_outcomes=2, prior_strength=2.0)
POLICY_ENV = {
    "PROVENFIX_ACCEPTANCE_FLOOR": "0.5",
    "PROVENFIX_ACCEPTANCE_MIN_OUTCOMES": "2",
    "PROVENFIX_ACCEPTANCE_PRIOR_STRENGTH": "2",
}
# (repository id, installation id, full name)
REPOSITORIES = ((101, 7, "octo/app"), (102, 7, "octo/lib"), (201, 8, "other/secret"))
INSTALLATIONS = ((7, "octo"), (8, "other"))


@dataclass(frozen=True)
class RunRow:
    repository_id: int
    pr: int
    status: str
    posted: int
    days_ago: float
    latency_s: float | None  # delivery to review; None: not recorded


@dataclass(frozen=True)
class OutcomeRow:
    repository_id: int
    pr: int
    rule: str
    family: str
    score: float
    state: str
    days_ago: float | None  # when decided; None: still open


RUNS = (
    RunRow(101, 1, "completed", 3, 2.2, 42.0),
    RunRow(101, 1, "completed", 1, 1.1, 75.5),
    RunRow(101, 2, "completed", 0, 3.3, 8.0),
    RunRow(101, 3, "failed", 0, 3.2, None),
    RunRow(101, 3, "completed", 2, 3.1, 610.0),
    RunRow(102, 10, "completed", 1, 10.4, 130.0),
    RunRow(102, 11, "superseded", 0, 10.3, None),
    RunRow(102, 11, "completed", 12, 9.2, 4000.0),
    RunRow(102, 12, "failed", 0, 0.1, None),
    RunRow(102, 13, "completed", 0, 20.5, None),
    RunRow(201, 5, "completed", 5, 4.6, 20.0),
    RunRow(201, 6, "failed", 0, 4.5, None),
)

OUTCOMES = (
    OutcomeRow(101, 1, "py.bare-except", "rule_fix", 0.92, "applied", 1.0),
    OutcomeRow(101, 1, "py.bare-except", "rule_fix", 0.95, "applied", 2.0),
    OutcomeRow(101, 1, "py.bare-except", "rule_fix", 0.91, "dismissed", 8.0),
    OutcomeRow(101, 1, "py.mutable-default", "codemod", 0.72, "applied", 8.0),
    OutcomeRow(101, 2, "py.mutable-default", "codemod", 0.75, "left_open", 9.0),
    OutcomeRow(101, 2, "py.mutable-default", "codemod", 0.78, "superseded", 9.0),
    OutcomeRow(101, 2, "", "model", 0.35, "dismissed", 15.0),
    OutcomeRow(101, 3, "", "model", 0.31, "applied", 15.0),
    OutcomeRow(101, 3, "", "model", 0.05, "dismissed", 16.0),
    OutcomeRow(101, 3, "py.bare-except", "rule_fix", 1.0, "applied", 22.0),
    OutcomeRow(101, 3, "py.bare-except", "rule_fix", 0.9, "open", None),
    OutcomeRow(102, 10, "py.open-encoding", "rule_fix", 0.55, "applied", 3.0),
    OutcomeRow(102, 10, "py.open-encoding", "rule_fix", 0.58, "dismissed", 3.0),
    OutcomeRow(102, 10, "py.open-encoding", "rule_fix", 0.61, "applied", 10.0),
    OutcomeRow(102, 11, "py.open-encoding", "codemod", 0.64, "left_open", 23.0),
    OutcomeRow(102, 11, "js.eqeqeq", "rule_fix", 0.88, "applied", 29.0),
    OutcomeRow(102, 11, "js.eqeqeq", "rule_fix", 0.3, "applied", 29.0),
    OutcomeRow(201, 5, "py.bare-except", "rule_fix", 0.93, "dismissed", 1.0),
    OutcomeRow(201, 5, "py.bare-except", "rule_fix", 0.94, "dismissed", 2.0),
    OutcomeRow(201, 5, "secret.rule", "model", 0.15, "applied", 5.0),
    OutcomeRow(201, 5, "secret.rule", "model", 0.45, "left_open", 12.0),
)


def seed(db: Database, now: dt.datetime) -> None:
    """Write the history, `days_ago` counted back from `now`."""
    with db.session() as s:
        for installation_id, login in INSTALLATIONS:
            s.add(
                Installation(id=installation_id, account_login=login, account_type="Organization")
            )
        for repository_id, installation_id, name in REPOSITORIES:
            s.add(Repository(id=repository_id, installation_id=installation_id, full_name=name))
        runs: dict[tuple[int, int], Run] = {}
        for n, row in enumerate(RUNS):
            started = now - dt.timedelta(days=row.days_ago)
            delivered = reviewed = None
            if row.latency_s is not None:
                delivered = started - dt.timedelta(seconds=5)
                reviewed = delivered + dt.timedelta(seconds=row.latency_s)
            run = Run(
                job_id=f"job-{n}",
                repository_id=row.repository_id,
                repository=_name(row.repository_id),
                pr_number=row.pr,
                head_sha=f"{n:040x}",
                trigger="pull_request.opened",
                status=row.status,
                suggestions_posted=row.posted,
                started_at=started,
                finished_at=started + dt.timedelta(minutes=2),
                delivered_at=delivered,
                reviewed_at=reviewed,
            )
            s.add(run)
            runs.setdefault((row.repository_id, row.pr), run)
        s.flush()
        for n, row in enumerate(OUTCOMES):
            posted = PostedSuggestion(
                run_id=runs[row.repository_id, row.pr].id,
                suggestion_id=f"s{n}",
                path="app.py",
                start_line=n + 1,
                end_line=n + 1,
                kind="replace",
                source="model:test" if row.family == "model" else row.family,
                rule_ids=row.rule,
                validation="tests",
                committable=True,
                reliability=row.score,
                comment_id=9000 + n,
            )
            s.add(posted)
            s.flush()
            decided = None if row.days_ago is None else now - dt.timedelta(days=row.days_ago)
            s.add(
                SuggestionOutcome(
                    suggestion_row_id=posted.id,
                    installation_id=_installation(row.repository_id),
                    repository_id=row.repository_id,
                    pr_number=row.pr,
                    comment_id=9000 + n,
                    suggestion_id=f"s{n}",
                    rule_id=row.rule,
                    source_family=row.family,
                    reliability=row.score,
                    state=row.state,
                    posted_at=(decided or now) - dt.timedelta(hours=1),
                    decided_at=decided,
                )
            )


def _name(repository_id: int) -> str:
    return next(name for rid, _, name in REPOSITORIES if rid == repository_id)


def _installation(repository_id: int) -> int:
    return next(iid for rid, iid, _ in REPOSITORIES if rid == repository_id)


def repositories_of(installation_ids: Iterable[int]) -> set[int]:
    wanted = set(installation_ids)
    return {rid for rid, iid, _ in REPOSITORIES if iid in wanted}


# --- what the dashboard must show --------------------------------------------------------


def monday(day: dt.date) -> dt.date:
    while day.weekday() != 0:
        day -= dt.timedelta(days=1)
    return day


def share(accepted: int, decided: int) -> str:
    return f"{100 * accepted / decided:.1f}%" if decided else "—"


def expected_tables(
    now: dt.datetime, visible: set[int], weeks: int = 12
) -> dict[str, list[list[str]]]:
    """The body rows of every table of the dashboard (except the queue's), for the
    repositories `visible`."""
    first_day = monday(now.date()) - dt.timedelta(weeks=weeks - 1)
    tables: dict[str, list[list[str]]] = {}
    decided = [
        o
        for o in OUTCOMES
        if o.repository_id in visible and o.state in ("applied", "dismissed", "left_open")
    ]

    def when(o: OutcomeRow) -> dt.date:
        assert o.days_ago is not None
        return (now - dt.timedelta(days=o.days_ago)).date()

    for by, key_of, order in (
        (
            "source",
            lambda o: o.family,
            lambda keys, _t: [f for f in ("rule_fix", "codemod", "model") if f in keys],
        ),
        (
            "rule",
            lambda o: o.rule or "(no rule)",
            lambda keys, t: sorted(keys, key=lambda k: (-t[k][1], k)),
        ),
    ):
        weekly: dict[tuple[str, str], list[int]] = {}
        total: dict[str, list[int]] = {}
        for o in decided:
            cell = weekly.setdefault((monday(when(o)).isoformat(), key_of(o)), [0, 0])
            whole = total.setdefault(key_of(o), [0, 0])
            for counts in (cell, whole):
                counts[0] += o.state == "applied"
                counts[1] += 1
        tables[f"table-acceptance-{by}"] = [
            [week, key, str(a), str(d), share(a, d)]
            for (week, key), (a, d) in sorted(weekly.items())
        ]
        tables[f"table-acceptance-{by}-total"] = [
            [key, str(total[key][0]), str(total[key][1]), share(*total[key])]
            for key in order(set(total), total)
        ]

    calibration = []
    for tenth in range(10):
        low, high = tenth / 10, (tenth + 1) / 10
        inside = [o for o in decided if low <= o.score < high or (tenth == 9 and o.score == 1.0)]
        accepted = sum(o.state == "applied" for o in inside)
        mean = f"{sum(o.score for o in inside) / len(inside):.3f}" if inside else "—"
        calibration.append(
            [
                f"{low:.1f}-{high:.1f}",
                str(len(inside)),
                str(accepted),
                share(accepted, len(inside)),
                mean,
            ]
        )
    tables["table-calibration"] = calibration

    per_pr: dict[tuple[int, int], int] = {}
    for r in RUNS:
        if r.repository_id in visible and r.status == "completed":
            per_pr[r.repository_id, r.pr] = per_pr.get((r.repository_id, r.pr), 0) + r.posted
    capped = [min(n, 10) for n in per_pr.values()]
    tables["table-noise"] = [
        ["10+" if n == 10 else str(n), str(capped.count(n))]
        for n in range(max(capped, default=0) + 1)
    ]
    mean = f"{sum(per_pr.values()) / len(per_pr):.2f}" if per_pr else "—"
    tables["table-noise-summary"] = [
        ["Pull requests", str(len(per_pr))],
        ["Suggestions posted", str(sum(per_pr.values()))],
        ["Mean per pull request", mean],
    ]

    latencies = sorted(
        r.latency_s
        for r in RUNS
        if r.repository_id in visible and r.status == "completed" and r.latency_s is not None
    )
    n = len(latencies)
    if n:
        middle = latencies[n // 2] if n % 2 else (latencies[n // 2 - 1] + latencies[n // 2]) / 2
        rank = -(-9 * n // 10)  # ceil(0.9 n)
        median, p90 = f"{middle:.1f} s", f"{latencies[rank - 1]:.1f} s"
    else:
        median = p90 = "—"
    tables["table-latency-summary"] = [
        ["Analyses", str(n)],
        ["Median", median],
        ["90th percentile", p90],
    ]
    bounds = [10, 30, 60, 120, 300, 600, 1800, 3600, float("inf")]
    labels = [
        "< 10 s",
        "10-30 s",
        "30-60 s",
        "1-2 min",
        "2-5 min",
        "5-10 min",
        "10-30 min",
        "30-60 min",
        ">= 1 h",
    ]
    lows = [0.0, *bounds[:-1]]
    tables["table-latency"] = [
        [label, str(sum(1 for v in latencies if low <= v < high))]
        for label, low, high in zip(labels, lows, bounds, strict=True)
    ]

    days = [first_day + dt.timedelta(days=i) for i in range((now.date() - first_day).days + 1)]
    started = [
        ((now - dt.timedelta(days=r.days_ago)).date(), r.status)
        for r in RUNS
        if r.repository_id in visible
    ]
    tables["table-failures"] = [
        [
            day.isoformat(),
            str(sum(1 for d, _ in started if d == day)),
            str(sum(1 for d, status in started if d == day and status == "failed")),
        ]
        for day in days
        if any(d == day for d, _ in started)
    ]
    tables["table-demoted"] = demoted_rows(visible)
    return tables


def demoted_rows(visible: set[int]) -> list[list[str]]:
    """Every decided outcome ever (no window), per repository and key; pooled from the
    others; p = (m·k + a) / (k + n) with m = (A + 1) / (N + 2), by hand."""
    k = POLICY.prior_strength
    rows: list[list[str]] = []
    for repository_id, _, name in sorted(REPOSITORIES, key=lambda r: r[2]):
        if repository_id not in visible:
            continue
        for kind in ("rule", "source"):

            def key_of(o: OutcomeRow) -> str:
                return o.rule if kind == "rule" else o.family  # noqa: B023

            decided = [o for o in OUTCOMES if o.state in ("applied", "dismissed", "left_open")]
            for key in sorted({key_of(o) for o in decided if o.repository_id == repository_id}):
                if not key:
                    continue
                mine = [o for o in decided if o.repository_id == repository_id and key_of(o) == key]
                others = [
                    o for o in decided if o.repository_id != repository_id and key_of(o) == key
                ]
                a = sum(1 for o in mine if o.state == "applied")
                big_a = sum(1 for o in others if o.state == "applied")
                m = (big_a + 1) / (len(others) + 2)
                p = (m * k + a) / (k + len(mine))
                if len(mine) >= POLICY.min_outcomes and p < POLICY.floor:
                    rows.append([name, kind, key, str(a), str(len(mine)), f"{p * 100:.1f}%"])
    return rows


class TableReader(HTMLParser):
    """The body rows (cell texts) of every `<table id=…>` of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def read_tables(html: str) -> dict[str, list[list[str]]]:
    reader = TableReader()
    reader.feed(html)
    return reader.tables
