"""What the service remembers: installations, repositories, runs, posted suggestions,
proven fixes, ignores.

SQLite by default (one file, fine for one host), PostgreSQL by URL
(`postgresql+psycopg://...`) when the web and worker processes run on several
hosts. `Database.create_all()` runs at start-up; the schema only grows, by new
tables and new nullable columns (added by `create_all` where a table lacks them),
so it needs no migration tool yet. The tables are in bot.tables.

Installations, repositories and
ignores are written with one INSERT … ON CONFLICT each (PostgreSQL and SQLite
both have it), so deliveries that record the same row at the same time (GitHub
sends `installation` and `installation_repositories` together) never fail.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from sqlalchemy import create_engine, event, inspect, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.orm import Session, sessionmaker

from provenfix.bot.tables import (
    Base,
    FixApplication,
    IgnoredRule,
    Installation,
    PostedSuggestion,
    ProvenFix,
    Repository,
    Run,
    SuggestionOutcome,
    utcnow,
)
from provenfix.jobs.report import Report

if TYPE_CHECKING:
    from provenfix.bot.payloads import Installation as InstallationModel
    from provenfix.bot.payloads import InstalledRepository

__all__ = [
    "Base",
    "Database",
    "FixApplication",
    "IgnoredRule",
    "Installation",
    "PostedSuggestion",
    "ProvenFix",
    "Repository",
    "Run",
    "SuggestionOutcome",
    "UnsupportedDatabase",
    "record_installation",
    "record_installation_event",
    "record_proven_fixes",
    "upsert_repository",
    "utcnow",
]


class UnsupportedDatabase(Exception):
    """PROVENFIX_DATABASE_URL names a database other than PostgreSQL and SQLite."""


class Database:
    """An engine and its sessions; one per process (a forked job horse makes its own)."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.engine: Engine = create_engine(url, pool_pre_ping=True, **engine_options)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def create_all(self) -> None:
        """Create the missing tables. Several processes starting at once (gunicorn workers)
        may race to create the same table: the loser retries and finds it there."""
        for attempt in range(3):
            try:
                Base.metadata.create_all(self.engine)
                self._add_missing_columns()
                return
            except (OperationalError, ProgrammingError, IntegrityError):
                if attempt == 2:
                    raise
                time.sleep(0.2 * (attempt + 1))

    def _add_missing_columns(self) -> None:
        """ALTER TABLE … ADD COLUMN for each nullable column a table made by an earlier
        version lacks (a column that is not nullable is never added later)."""
        present = inspect(self.engine)
        for table in Base.metadata.sorted_tables:
            have = {c["name"] for c in present.get_columns(table.name)}
            for column in table.columns:
                if column.name in have or not column.nullable:
                    continue
                kind = column.type.compile(dialect=self.engine.dialect)
                with self.engine.begin() as conn:
                    conn.execute(
                        text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}')
                    )

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back otherwise."""
        with self._sessions() as session, session.begin():
            yield session

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()

    # --- the queries the service needs -------------------------------------------------

    def ignored_rules(self, repository_id: int) -> frozenset[str]:
        with self.session() as s:
            rows = s.scalars(
                select(IgnoredRule.rule_id).where(IgnoredRule.repository_id == repository_id)
            )
            return frozenset(rows)

    def ignore_rule(self, repository_id: int, full_name: str, rule_id: str, by: str) -> bool:
        """Record an ignore; False when the repository already ignored that rule (also when
        the same command arrives twice at once)."""
        with self.session() as s:
            upsert_repository(s, repository_id, full_name)
            values = {"repository_id": repository_id, "rule_id": rule_id, "created_by": by}
            added = _insert(s, IgnoredRule, values).on_conflict_do_nothing(
                index_elements=["repository_id", "rule_id"]
            )
            return s.scalar(added.returning(IgnoredRule.id)) is not None

    def record_application(
        self,
        repository_id: int,
        number: int,
        head_sha: str,
        pushed_sha: str,
        sender: str,
        applied: Sequence[ProvenFix],
        left_out: Sequence[str],
    ) -> None:
        with self.session() as s:
            s.add(
                FixApplication(
                    repository_id=repository_id,
                    pr_number=number,
                    head_sha=head_sha,
                    pushed_sha=pushed_sha,
                    sender=sender,
                    suggestion_ids=" ".join(f.suggestion_id for f in applied),
                    left_out="\n".join(left_out),
                )
            )

    def applications(self, repository_id: int, number: int) -> list[FixApplication]:
        with self.session() as s:
            rows = s.scalars(
                select(FixApplication)
                .where(FixApplication.repository_id == repository_id)
                .where(FixApplication.pr_number == number)
                .order_by(FixApplication.id)
            )
            return list(rows)

    def proven_fixes(self, repository_id: int, number: int, head_sha: str) -> list[ProvenFix]:
        """The proven fixes of the latest completed run of that head, best first."""
        with self.session() as s:
            run_id = s.scalar(
                select(Run.id)
                .where(
                    Run.repository_id == repository_id,
                    Run.pr_number == number,
                    Run.head_sha == head_sha,
                    Run.status == "completed",
                )
                .order_by(Run.id.desc())
                .limit(1)
            )
            if run_id is None:
                return []
            rows = s.scalars(
                select(ProvenFix)
                .where(ProvenFix.run_id == run_id)
                .order_by(ProvenFix.reliability.desc(), ProvenFix.path, ProvenFix.start_line)
            )
            return list(rows)


def upsert_repository(
    session: Session,
    repository_id: int,
    full_name: str,
    *,
    installation_id: int | None = None,
    private: bool | None = None,
    active: bool | None = None,
) -> None:
    """Create or update a repository's row in one statement (INSERT … ON CONFLICT): two
    deliveries recording the same repository at once both succeed. What is None is left
    as it was."""
    now = utcnow()
    changes: dict[str, Any] = {"full_name": full_name}
    if installation_id is not None:
        changes["installation_id"] = installation_id
    if private is not None:
        changes["private"] = private
    if active is not None:
        changes.update(active=active, removed_at=None if active else now)
        if active:
            changes["added_at"] = now
    values = {"id": repository_id, "private": bool(private), "added_at": now, **changes}
    statement = _insert(session, Repository, values)
    session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=changes))


def record_proven_fixes(session: Session, run_id: int, report: Report) -> int:
    """Store every proven fix of `report` for run `run_id`; how many."""
    rules = {f.id: f.rule_id for f in report.findings}
    count = 0
    for s in report.suggestions:
        if not s.committable:
            continue
        session.add(
            ProvenFix(
                run_id=run_id,
                suggestion_id=s.id,
                finding_ids=" ".join(s.finding_ids),
                kind=str(s.kind),
                source=s.source,
                path=s.path,
                start_line=s.start_line,
                end_line=s.end_line,
                original=s.original,
                replacement=s.replacement,
                rule_ids=" ".join(sorted({rules[i] for i in s.finding_ids if i in rules})),
                reliability=s.score.reliability,
            )
        )
        count += 1
    return count


def record_installation_event(
    db: Database,
    installation: InstallationModel,
    action: str,
    repositories: Sequence[tuple[InstalledRepository, bool]],
) -> None:
    """An `installation` or `installation_repositories` event: the installation, then its
    repositories (active or removed) in id order, so that concurrent deliveries for one
    installation lock the same rows in the same order."""
    account = installation.account
    with db.session() as session:
        record_installation(
            session,
            installation.id,
            action,
            account_login=account.login if account else None,
            account_type=account.type if account else None,
            repository_selection=installation.repository_selection,
        )
        for repo, active in sorted(repositories, key=lambda item: item[0].id):
            upsert_repository(
                session,
                repo.id,
                repo.full_name,
                installation_id=installation.id,
                private=repo.private,
                active=active,
            )


def record_installation(
    session: Session,
    installation_id: int,
    action: str,
    *,
    account_login: str | None = None,
    account_type: str | None = None,
    repository_selection: str | None = None,
) -> None:
    """Apply an `installation` event (created, deleted, suspend, unsuspend, ...) or an
    `installation_repositories` one ("updated") to the installation's row, in one
    statement (INSERT … ON CONFLICT): simultaneous deliveries for a new installation both
    succeed. What is None is left as it was."""
    now = utcnow()
    changes: dict[str, Any] = {"updated_at": now}
    if account_login is not None:
        changes["account_login"] = account_login
    if account_type is not None:
        changes["account_type"] = account_type
    if repository_selection is not None:
        changes["repository_selection"] = repository_selection
    if action == "deleted":
        changes["deleted_at"] = now
    elif action in ("created", "new_permissions_accepted", "unsuspend"):
        changes["deleted_at"] = None
    if action == "suspend":
        changes["suspended_at"] = now
    elif action == "unsuspend":
        changes["suspended_at"] = None
    values = {"id": installation_id, "account_login": "", "account_type": "", **changes}
    statement = _insert(session, Installation, values)
    session.execute(statement.on_conflict_do_update(index_elements=["id"], set_=changes))


def _insert(session: Session, table: type[Base], values: dict[str, Any]) -> Any:
    """The dialect's INSERT (PostgreSQL's and SQLite's both have ON CONFLICT)."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table).values(values)
    if dialect == "sqlite":
        return sqlite.insert(table).values(values)
    raise UnsupportedDatabase(f"{dialect} is not supported: use PostgreSQL or SQLite")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The web and worker processes share the file: wait for locks instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout = 10000")
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.close()
