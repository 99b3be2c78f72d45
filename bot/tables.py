"""The service's tables (bot.db has the engine and the queries).

GitHub ids (installation, repository) are the primary keys of their tables: an
event for a repository recorded before the service was deployed still finds
its row, and a rename changes `full_name` only.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "FixApplication",
    "IgnoredRule",
    "Installation",
    "PostedSuggestion",
    "ProvenFix",
    "Repository",
    "Run",
    "SuggestionOutcome",
    "utcnow",
]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Base(DeclarativeBase):
    pass


class Installation(Base):
    __tablename__ = "installations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    account_login: Mapped[str] = mapped_column(String(255))
    account_type: Mapped[str] = mapped_column(String(32))  # User | Organization
    repository_selection: Mapped[str | None] = mapped_column(String(16))  # all | selected
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    suspended_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Repository(Base):
    __tablename__ = "repositories"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    installation_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    full_name: Mapped[str] = mapped_column(String(255), index=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # False once removed
    added_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    removed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class Run(Base):
    """One analysis of one pull request head (one rq job execution that got that far)."""

    __tablename__ = "runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[str] = mapped_column(String(200), index=True)
    repository_id: Mapped[int] = mapped_column(BigInteger, index=True)
    repository: Mapped[str] = mapped_column(String(255))
    pr_number: Mapped[int] = mapped_column(Integer)
    head_sha: Mapped[str] = mapped_column(String(64))
    base_sha: Mapped[str | None] = mapped_column(String(64))
    trigger: Mapped[str] = mapped_column(String(64))  # e.g. pull_request.opened
    status: Mapped[str] = mapped_column(String(16))  # running|completed|failed|superseded
    check_run_id: Mapped[int | None] = mapped_column(BigInteger)
    findings: Mapped[int] = mapped_column(Integer, default=0)
    suggestions_posted: Mapped[int] = mapped_column(Integer, default=0)
    suggestions_proven: Mapped[int] = mapped_column(Integer, default=0)
    config_errors: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None] = mapped_column(Float)
    # when GitHub delivered the webhook that asked for this run, and when its review (or
    # the completed check run, when there was nothing to post) reached GitHub
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class PostedSuggestion(Base):
    __tablename__ = "suggestions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    suggestion_id: Mapped[str] = mapped_column(String(128))  # jobs.report.Suggestion.id
    path: Mapped[str] = mapped_column(String(1024))
    start_line: Mapped[int] = mapped_column(Integer)
    end_line: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(128))
    rule_ids: Mapped[str] = mapped_column(Text, default="")  # space separated
    validation: Mapped[str] = mapped_column(String(16))
    committable: Mapped[bool] = mapped_column(Boolean)
    reliability: Mapped[float] = mapped_column(Float)
    comment_id: Mapped[int | None] = mapped_column(BigInteger)


class ProvenFix(Base):
    """Every fix the tests proved in a completed run, posted on the diff or not: what the
    "Apply proven fixes" button commits (bot.apply_fixes)."""

    __tablename__ = "proven_fixes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    suggestion_id: Mapped[str] = mapped_column(String(128))
    finding_ids: Mapped[str] = mapped_column(Text, default="")  # space separated
    kind: Mapped[str] = mapped_column(String(32))
    source: Mapped[str] = mapped_column(String(128))
    path: Mapped[str] = mapped_column(String(1024))
    start_line: Mapped[int] = mapped_column(Integer)
    end_line: Mapped[int] = mapped_column(Integer)
    original: Mapped[str] = mapped_column(Text)
    replacement: Mapped[str] = mapped_column(Text)
    rule_ids: Mapped[str] = mapped_column(Text, default="")  # space separated
    reliability: Mapped[float] = mapped_column(Float)


class FixApplication(Base):
    """One press of "Apply proven fixes" that pushed a commit: which fixes, by whom."""

    __tablename__ = "fix_applications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(BigInteger, index=True)
    pr_number: Mapped[int] = mapped_column(Integer)
    head_sha: Mapped[str] = mapped_column(String(64))  # the analyzed head the fixes were for
    pushed_sha: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(255))
    suggestion_ids: Mapped[str] = mapped_column(Text)  # space separated, the applied ones
    left_out: Mapped[str] = mapped_column(Text, default="")  # one "path:lines: why" a line
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IgnoredRule(Base):
    """`/provenfix ignore <rule>`: a rule this repository switched off for later runs."""

    __tablename__ = "ignored_rules"
    __table_args__ = (UniqueConstraint("repository_id", "rule_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repository_id: Mapped[int] = mapped_column(BigInteger, index=True)
    rule_id: Mapped[str] = mapped_column(String(255))
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class SuggestionOutcome(Base):
    """What became of one posted suggestion (bot.outcomes): `open` until a maintainer's
    action or the pull request's end decides it. Holds no source code: the suggested
    text is in `proven_fixes`, the comment on GitHub."""

    __tablename__ = "suggestion_outcomes"
    __table_args__ = (UniqueConstraint("suggestion_row_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    suggestion_row_id: Mapped[int] = mapped_column(ForeignKey("suggestions.id", ondelete="CASCADE"))
    installation_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    repository_id: Mapped[int] = mapped_column(BigInteger, index=True)
    pr_number: Mapped[int] = mapped_column(Integer)
    comment_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    suggestion_id: Mapped[str] = mapped_column(String(128))
    rule_id: Mapped[str] = mapped_column(String(255), default="")  # "" for a fix of no rule
    source_family: Mapped[str] = mapped_column(String(16))  # rule_fix | codemod | model
    reliability: Mapped[float] = mapped_column(Float)
    expected_acceptance: Mapped[float | None] = mapped_column(Float)  # shown when posted
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    via: Mapped[str] = mapped_column(String(32), default="")  # what decided the state
    actor: Mapped[str] = mapped_column(String(255), default="")
    posted_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    decided_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
