"""What became of each posted suggestion, in the database (table `suggestion_outcomes`).

A suggestion is `open` from its posting until one of these decides it:

- `applied`: its text reached the branch (GitHub's "Commit suggestion", the "Apply
  proven fixes" button, or anyone's own commit), seen in the next head's content
  (bot.review) or in the final head when the pull request ends (bot.settle);
- `dismissed`: its review thread was resolved without applying it
  (`pull_request_review_thread.resolved`), someone with write access replied
  `/provenfix wrong`, or reacted 👎 to it;
- `superseded`: its lines changed otherwise and its finding is gone;
- `left_open`: the pull request was merged or closed with the suggestion undecided.

Evidence in the content beats a gesture: `applied` replaces any other state (a
thread resolved after committing the suggestion is still applied), `dismissed`
replaces any but `applied`, and the others only replace `open`. Unresolving a thread
that its resolution dismissed makes the suggestion open again. bot.acceptance turns
the decided outcomes into expected acceptance.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import Session

from provenfix.bot.acceptance import (
    ACCEPTED,
    NOT_ACCEPTED,
    AcceptanceBook,
    AcceptancePolicy,
    Tally,
    source_family,
)
from provenfix.bot.db import Database
from provenfix.bot.tables import (
    FixApplication,
    IgnoredRule,
    Installation,
    PostedSuggestion,
    Repository,
    Run,
    SuggestionOutcome,
    utcnow,
)

OPEN = "open"
APPLIED = "applied"
DISMISSED = "dismissed"
SUPERSEDED = "superseded"
LEFT_OPEN = "left_open"
STATES = (OPEN, APPLIED, DISMISSED, SUPERSEDED, LEFT_OPEN)

__all__ = [
    "APPLIED",
    "DISMISSED",
    "LEFT_OPEN",
    "OPEN",
    "STATES",
    "SUPERSEDED",
    "Decision",
    "OutcomeStore",
    "can_replace",
]


@dataclass(frozen=True)
class Decision:
    """What a maintainer's action (or the pull request's end) says of one comment."""

    comment_id: int
    state: str
    via: str  # content, apply_button, thread_resolved, reaction, reply, lines_changed, ...
    actor: str = ""


def can_replace(current: str, new: str, current_via: str = "") -> bool:
    """May `new` replace `current` (see the module's docstring)?"""
    if new == current:
        return False
    if new == APPLIED:
        return True
    if new == DISMISSED:
        return current != APPLIED
    if new == OPEN:  # only an unresolved thread reopens, and only what its resolving closed
        return current == DISMISSED and current_via == "thread_resolved"
    return current == OPEN


class OutcomeStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    # --- writing ---------------------------------------------------------------------------

    def decide(
        self, repository_id: int, decisions: Iterable[Decision], *, at: dt.datetime | None = None
    ) -> Counter[str]:
        """Apply `decisions` to the outcomes of that repository's comments; the states
        entered, counted (a comment that is not one of ours, or whose state may not change
        that way, is left as it is)."""
        wanted = {d.comment_id: d for d in decisions}
        entered: Counter[str] = Counter()
        if not wanted:
            return entered
        when = at or utcnow()
        with self.database.session() as s:
            rows = s.scalars(
                select(SuggestionOutcome)
                .where(SuggestionOutcome.repository_id == repository_id)
                .where(SuggestionOutcome.comment_id.in_(list(wanted)))
                .with_for_update()
            )
            for row in rows:
                decision = wanted[int(row.comment_id or 0)]
                if not can_replace(row.state, decision.state, row.via):
                    continue
                row.state, row.via, row.actor = decision.state, decision.via, decision.actor
                row.decided_at = None if decision.state == OPEN else when
                entered[decision.state] += 1
        return entered

    def after_review(
        self,
        repository_id: int,
        head_sha: str,
        pusher: str,
        *,
        applied: Sequence[int],
        outdated: Sequence[int],
        disliked: Sequence[tuple[int, str]],
    ) -> Counter[str]:
        """What an analysis of `head_sha` saw of earlier comments (bot.review): text that
        reached the branch (by the "Apply proven fixes" button when its commit is this
        head, else by whoever pushed), lines changed otherwise, 👎 reactions."""
        with self.database.session() as s:
            button = s.scalar(
                select(func.count())
                .select_from(FixApplication)
                .where(FixApplication.repository_id == repository_id)
                .where(FixApplication.pushed_sha == head_sha)
            )
        via = "apply_button" if button else "content"
        decisions = [
            *(Decision(c, APPLIED, via, pusher) for c in applied),
            *(Decision(c, SUPERSEDED, "lines_changed") for c in outdated),
            *(Decision(c, DISMISSED, "reaction", who) for c, who in disliked),
        ]
        return self.decide(repository_id, decisions)

    def end_pull_request(
        self, repository_id: int, number: int, *, merged: bool, at: dt.datetime | None = None
    ) -> Counter[str]:
        """The pull request was merged or closed: its undecided suggestions are left open."""
        with self.database.session() as s:
            rows = s.scalars(
                select(SuggestionOutcome)
                .where(SuggestionOutcome.repository_id == repository_id)
                .where(SuggestionOutcome.pr_number == number)
                .where(SuggestionOutcome.state == OPEN)
                .with_for_update()
            ).all()
            for row in rows:
                row.state, row.via = LEFT_OPEN, "merged" if merged else "closed"
                row.decided_at = at or utcnow()
        return Counter({LEFT_OPEN: len(rows)}) if rows else Counter()

    def purge_installation(self, installation_id: int) -> int:
        """Delete everything stored about an installation's repositories (the App was
        uninstalled); the installation's row keeps only its id and when it was deleted.
        How many repositories were purged."""
        with self.database.session() as s:
            repository_ids = list(
                s.scalars(
                    select(Repository.id).where(Repository.installation_id == installation_id)
                )
            )
            _purge(s, repository_ids, keep_repositories=False)
            s.execute(
                delete(SuggestionOutcome).where(
                    SuggestionOutcome.installation_id == installation_id
                )
            )
            installation = s.get(Installation, installation_id)
            if installation is not None:
                installation.account_login = ""
                installation.account_type = ""
        return len(repository_ids)

    def purge_repositories(self, repository_ids: Sequence[int]) -> None:
        """Delete everything stored about repositories removed from an installation, but
        their rows (inactive since: bot.events)."""
        with self.database.session() as s:
            _purge(s, list(repository_ids), keep_repositories=True)

    # --- reading ---------------------------------------------------------------------------

    def open_comments(self, repository_id: int, number: int) -> list[int]:
        """The comment ids of a pull request's suggestions that are still open."""
        with self.database.session() as s:
            rows = s.scalars(
                select(SuggestionOutcome.comment_id)
                .where(SuggestionOutcome.repository_id == repository_id)
                .where(SuggestionOutcome.pr_number == number)
                .where(SuggestionOutcome.state == OPEN)
                .where(SuggestionOutcome.comment_id.is_not(None))
            )
            return [int(c) for c in rows if c is not None]

    def outcomes(self, repository_id: int, number: int | None = None) -> list[SuggestionOutcome]:
        with self.database.session() as s:
            query = select(SuggestionOutcome).where(
                SuggestionOutcome.repository_id == repository_id
            )
            if number is not None:
                query = query.where(SuggestionOutcome.pr_number == number)
            return list(s.scalars(query.order_by(SuggestionOutcome.id)))

    def acceptance_book(self, repository_id: int, policy: AcceptancePolicy) -> AcceptanceBook:
        """The acceptance counts an analysis of that repository needs: per rule and per
        source family, the repository's own and every other repository's."""
        with self.database.session() as s:
            rules = _tallies(s, SuggestionOutcome.rule_id, repository_id)
            sources = _tallies(s, SuggestionOutcome.source_family, repository_id)
        return AcceptanceBook(
            policy,
            repository_rules=rules[0],
            pooled_rules=rules[1],
            repository_sources=sources[0],
            pooled_sources=sources[1],
        )


def add_posted_outcomes(
    session: Session,
    run: Run,
    installation_id: int | None,
    posted: Sequence[PostedSuggestion],
    book: AcceptanceBook | None,
) -> int:
    """An `open` outcome for each suggestion just posted (rows flushed, so they have ids)."""
    for row in posted:
        rules = row.rule_ids.split()
        expected = book.for_suggestion(rules, row.source).probability if book else None
        session.add(
            SuggestionOutcome(
                suggestion_row_id=row.id,
                installation_id=installation_id,
                repository_id=run.repository_id,
                pr_number=run.pr_number,
                comment_id=row.comment_id,
                suggestion_id=row.suggestion_id,
                rule_id=rules[0] if rules else "",
                source_family=source_family(row.source),
                reliability=row.reliability,
                expected_acceptance=expected,
                state=OPEN,
            )
        )
    return len(posted)


def _tallies(
    session: Session, key: object, repository_id: int
) -> tuple[Mapping[str, Tally], Mapping[str, Tally]]:
    accepted = func.sum(case((SuggestionOutcome.state == ACCEPTED, 1), else_=0))
    mine = SuggestionOutcome.repository_id == repository_id
    rows = session.execute(
        select(key, mine.label("mine"), accepted, func.count())  # type: ignore[call-overload]
        .where(SuggestionOutcome.state.in_([ACCEPTED, *NOT_ACCEPTED]))
        .group_by(key, mine)
    )
    own: dict[str, Tally] = {}
    others: dict[str, Tally] = {}
    for name, is_mine, yes, total in rows:
        target = own if is_mine else others
        target[str(name)] = target.get(str(name), Tally()) + Tally(int(yes or 0), int(total))
    return own, others


def _purge(session: Session, repository_ids: list[int], *, keep_repositories: bool) -> None:
    if not repository_ids:
        return
    # runs cascade to their suggestions, outcomes and proven fixes
    tables: list[tuple[Any, Any]] = [
        (SuggestionOutcome, SuggestionOutcome.repository_id),
        (Run, Run.repository_id),
        (FixApplication, FixApplication.repository_id),
        (IgnoredRule, IgnoredRule.repository_id),
    ]
    if not keep_repositories:
        tables.append((Repository, Repository.id))
    for table, column in tables:
        session.execute(delete(table).where(column.in_(repository_ids)))
