"""The fixes maintainers accepted, read back as the model's examples (bot.accepted_examples),
on SQLite and on real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session

from provenfix.bot.accepted_examples import AcceptedFixExamples, similarity
from provenfix.bot.db import Database
from provenfix.bot.tables import PostedSuggestion, ProvenFix, Run, SuggestionOutcome
from provenfix.jobs.generation.code_model.examples import AcceptedExample, ExampleSource

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
REPO, OTHER_REPO = 101, 202
RULE, OTHER_RULE = "python.eval-use", "python.none-compare"
CODE = "def load(raw):\n    value = eval(raw)\n    return value\n"
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'provenfix.db'}")
        database.create_all()
        yield database
        database.dispose()
        return
    schema = f"provenfix_test_{uuid.uuid4().hex[:12]}"  # as test_db_and_metrics does
    admin = create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    database = Database(POSTGRES, connect_args={"options": f"-csearch_path={schema}"})
    try:
        database.create_all()
        yield database
    finally:
        database.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


_numbers = itertools.count(1)


def fix(
    session: Session,
    original: str,
    replacement: str,
    *,
    repository_id: int = REPO,
    rule_id: str = RULE,
    state: str = "applied",
    path: str = "app/io.py",
    decided: int = 0,  # days after T0
) -> str:
    """A run with one posted, proven suggestion and what became of it; the suggestion's id."""
    number = next(_numbers)
    run = Run(
        job_id=f"job-{number}",
        repository_id=repository_id,
        repository="octo/shop",
        pr_number=number,
        head_sha="a" * 40,
        trigger="pull_request.opened",
        status="completed",
    )
    session.add(run)
    session.flush()
    suggestion_id = f"s-{number}"
    posted = PostedSuggestion(
        run_id=run.id,
        suggestion_id=suggestion_id,
        path=path,
        start_line=2,
        end_line=2,
        kind="fix",
        source="semgrep-autofix",
        rule_ids=rule_id,
        validation="passed",
        committable=True,
        reliability=0.9,
    )
    session.add(posted)
    session.flush()
    session.add(
        ProvenFix(
            run_id=run.id,
            suggestion_id=suggestion_id,
            kind="fix",
            source="semgrep-autofix",
            path=path,
            start_line=2,
            end_line=2,
            original=original,
            replacement=replacement,
            rule_ids=rule_id,
            reliability=0.9,
        )
    )
    session.add(
        SuggestionOutcome(
            suggestion_row_id=posted.id,
            repository_id=repository_id,
            pr_number=number,
            suggestion_id=suggestion_id,
            rule_id=rule_id,
            source_family="rule_fix",
            reliability=0.9,
            state=state,
            posted_at=T0,
            decided_at=None if state == "open" else T0 + dt.timedelta(days=decided),
        )
    )
    return suggestion_id


CLOSE = ("    value = eval(raw)\n", "    value = json.loads(raw)\n")
FAR = ("x = eval(s)\n", "x = ast.literal_eval(s)\n")


def test_only_this_repositorys_applied_fixes_of_the_rule_closest_first(
    database: Database,
) -> None:
    with database.session() as s:
        far = fix(s, *FAR, path="cfg.py", decided=5)
        fix(s, *CLOSE, path="io.py", decided=1)
        fix(s, *CLOSE, path="io_again.py", decided=2)  # a twin: shown once, the newest
        fix(s, "    value = eval(raw)\n", "    value = raw\n", state="dismissed", decided=9)
        fix(s, "    value = eval(raw)\n", "    value = 0\n", state="superseded", decided=9)
        fix(s, "    value = eval(raw)\n", "    pass\n", state="open")
        fix(s, "    value = eval(raw)\n", "    value = 1\n", rule_id=OTHER_RULE, decided=9)
        fix(s, "    value = eval(raw)\n", "    value = 2\n", repository_id=OTHER_REPO)
        # the same suggestion id proven again by a later run, never posted from it
        later = Run(
            job_id="later",
            repository_id=REPO,
            repository="octo/shop",
            pr_number=999,
            head_sha="b" * 40,
            trigger="pull_request.synchronize",
            status="completed",
        )
        s.add(later)
        s.flush()
        s.add(
            ProvenFix(
                run_id=later.id,
                suggestion_id=far,
                kind="fix",
                source="semgrep-autofix",
                path="x.py",
                start_line=1,
                end_line=1,
                original=CODE,
                replacement="    value = 3\n",
                reliability=0.9,
            )
        )

    examples: ExampleSource = AcceptedFixExamples(database, REPO)
    assert list(examples.examples(RULE, CODE, 5)) == [
        AcceptedExample(RULE, "io_again.py", *CLOSE),
        AcceptedExample(RULE, "cfg.py", *FAR),
    ]
    assert list(examples.examples(RULE, CODE, 1)) == [AcceptedExample(RULE, "io_again.py", *CLOSE)]
    assert list(examples.examples(RULE, CODE, 0)) == []
    assert list(examples.examples("no-such-rule", CODE, 5)) == []
    assert [e.replacement for e in examples.examples(OTHER_RULE, CODE, 5)] == ["    value = 1\n"]
    other = AcceptedFixExamples(database, OTHER_REPO)
    assert [e.replacement for e in other.examples(RULE, CODE, 5)] == ["    value = 2\n"]
    # only the newest candidates are ranked: here the far one, applied last
    newest = AcceptedFixExamples(database, REPO, max_candidates=1)
    assert list(newest.examples(RULE, CODE, 5)) == [AcceptedExample(RULE, "cfg.py", *FAR)]


def test_equally_close_fixes_come_newest_first(database: Database) -> None:
    with database.session() as s:
        fix(s, "a = eval(b)\n", "a = int(b)\n", path="old.py", decided=1)
        fix(s, "a = eval(b)\n", "a = float(b)\n", path="new.py", decided=3)
        fix(s, "a = eval(b)\n", "a = str(b)\n", path="mid.py", decided=2)
    found = AcceptedFixExamples(database, REPO).examples(RULE, "c = eval(d)", 3)
    assert [e.path for e in found] == ["new.py", "mid.py", "old.py"]


def test_similarity_is_jaccard_over_tokens() -> None:
    assert similarity(frozenset({"a", "b"}), frozenset({"b", "c"})) == 1 / 3
    assert similarity(frozenset(), frozenset()) == 0.0
