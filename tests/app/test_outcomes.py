"""What became of posted suggestions (bot.outcomes), what it teaches (bot.acceptance), and
the webhooks that tell it (bot.review_feedback), on a real database and Redis."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from app_support import example
from rq import Queue
from sqlalchemy import func, select

from provenfix.bot.acceptance import (
    AcceptanceBook,
    AcceptancePolicy,
    Tally,
    posterior_mean,
    source_family,
)
from provenfix.bot.db import Database, record_installation, upsert_repository
from provenfix.bot.outcomes import (
    APPLIED,
    DISMISSED,
    LEFT_OPEN,
    OPEN,
    SUPERSEDED,
    Decision,
    OutcomeStore,
    can_replace,
)
from provenfix.bot.tables import (
    IgnoredRule,
    Installation,
    PostedSuggestion,
    ProvenFix,
    Repository,
    Run,
    SuggestionOutcome,
)

_ids = itertools.count(5000)
REPO_ID = 186853002  # Codertocat/Hello-World in the webhook examples


def posted(
    db: Database,
    *,
    repository_id: int = REPO_ID,
    number: int = 2,
    rule: str = "comparison-to-none-eq",
    source: str = "semgrep-autofix",
    state: str = OPEN,
    installation_id: int = 1,
) -> int:
    """One run with one posted suggestion and its outcome; the comment's id."""
    comment = next(_ids)
    with db.session() as s:
        upsert_repository(
            s, repository_id, "Codertocat/Hello-World", installation_id=installation_id
        )
        run = Run(
            job_id=f"job-{comment}",
            repository_id=repository_id,
            repository="Codertocat/Hello-World",
            pr_number=number,
            head_sha="a" * 40,
            trigger="pull_request.opened",
            status="completed",
        )
        s.add(run)
        s.flush()
        row = PostedSuggestion(
            run_id=run.id, suggestion_id=f"s{comment}", path="x.py", start_line=1, end_line=1,
            kind="repair", source=source, rule_ids=rule, validation="passed", committable=True,
            reliability=0.8, comment_id=comment,
        )  # fmt: skip
        s.add(row)
        s.add(
            ProvenFix(
                run_id=run.id, suggestion_id=row.suggestion_id, kind="repair", source=source,
                path="x.py", start_line=1, end_line=1, original="a == None\n",
                replacement="a is None\n", rule_ids=rule, reliability=0.8,
            )
        )  # fmt: skip
        s.flush()
        s.add(
            SuggestionOutcome(
                suggestion_row_id=row.id, installation_id=installation_id,
                repository_id=repository_id, pr_number=number, comment_id=comment,
                suggestion_id=row.suggestion_id, rule_id=rule,
                source_family=source_family(source), reliability=0.8, state=state,
            )
        )  # fmt: skip
    return comment


def state_of(db: Database, comment: int) -> tuple[str, str, str]:
    with db.session() as s:
        row = s.scalars(
            select(SuggestionOutcome).where(SuggestionOutcome.comment_id == comment)
        ).one()
        return row.state, row.via, row.actor


# --- the states --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "new", "via", "allowed"),
    [
        (OPEN, APPLIED, "", True),
        (DISMISSED, APPLIED, "thread_resolved", True),  # the content beats a gesture
        (LEFT_OPEN, APPLIED, "merged", True),
        (APPLIED, DISMISSED, "content", False),
        (OPEN, DISMISSED, "", True),
        (SUPERSEDED, DISMISSED, "lines_changed", True),
        (OPEN, SUPERSEDED, "", True),
        (DISMISSED, SUPERSEDED, "reply", False),
        (APPLIED, LEFT_OPEN, "content", False),
        (DISMISSED, OPEN, "thread_resolved", True),  # unresolved: only what resolving closed
        (DISMISSED, OPEN, "reply", False),
        (APPLIED, OPEN, "content", False),
        (OPEN, OPEN, "", False),
    ],
)
def test_which_state_may_replace_which(current: str, new: str, via: str, allowed: bool) -> None:
    assert can_replace(current, new, via) is allowed


def test_decisions_follow_the_rules_and_count_what_changed(db: Database) -> None:
    store = OutcomeStore(db)
    a, b, c = posted(db), posted(db), posted(db)
    other_repository = posted(db, repository_id=999)
    entered = store.decide(
        REPO_ID,
        [
            Decision(a, DISMISSED, "thread_resolved", "mona"),
            Decision(b, APPLIED, "content", "hubot"),
            Decision(other_repository, DISMISSED, "reaction", "mona"),  # not this repository's
            Decision(123, DISMISSED, "reply", "mona"),  # not one of ours
        ],
    )
    assert entered == {DISMISSED: 1, APPLIED: 1}
    assert state_of(db, a) == (DISMISSED, "thread_resolved", "mona")
    assert state_of(db, other_repository)[0] == OPEN
    assert store.decide(REPO_ID, [Decision(b, DISMISSED, "thread_resolved", "mona")]) == {}
    assert store.decide(REPO_ID, [Decision(a, OPEN, "", "mona")]) == {OPEN: 1}  # unresolved
    assert state_of(db, a) == (OPEN, "", "mona")
    assert store.end_pull_request(REPO_ID, 2, merged=False) == {LEFT_OPEN: 2}
    assert state_of(db, c) == (LEFT_OPEN, "closed", "")
    assert state_of(db, b)[0] == APPLIED
    assert store.open_comments(REPO_ID, 2) == []


def test_acceptance_counts_this_repository_apart_from_the_others(db: Database) -> None:
    for state in (APPLIED, APPLIED, DISMISSED, LEFT_OPEN, SUPERSEDED, OPEN):
        posted(db, state=state)
    for state in (APPLIED, DISMISSED, DISMISSED):
        posted(db, repository_id=999, state=state, source="codemod:x")
    book = OutcomeStore(db).acceptance_book(REPO_ID, AcceptancePolicy(0.5, 3, 2.0))
    assert book.repository_rules == {"comparison-to-none-eq": Tally(2, 4)}
    assert book.pooled_rules == {"comparison-to-none-eq": Tally(1, 3)}
    assert book.repository_sources == {"rule_fix": Tally(2, 4)}
    assert book.pooled_sources == {"codemod": Tally(1, 3)}
    expected = book.for_suggestion(["comparison-to-none-eq"], "semgrep-autofix")
    # prior (1 + 1) / (3 + 2) = 0.4 weighing 2; (0.8 + 2) / (2 + 4)
    assert expected.probability == pytest.approx(2.8 / 6)
    assert expected.demoted_by is expected.rules[0]  # 0.47 < 0.5 after 4 ≥ 3 decisions
    assert expected.headline.line() == (
        "`comparison-to-none-eq` suggestions were accepted 2 of 4 times in this repository "
        "(expected acceptance 47%)"
    )


def test_a_new_repository_starts_from_everyone_and_is_never_demoted_without_its_own_record() -> (
    None
):
    policy = AcceptancePolicy(floor=0.5, min_outcomes=3, prior_strength=5)
    book = AcceptanceBook(policy, pooled_rules={"r": Tally(0, 50)})
    fresh = book.expect("rule", "r")
    assert fresh.probability == pytest.approx(1 / 52) and not fresh.demoted
    assert fresh.line() == (
        "No `r` suggestions decided in this repository yet; accepted 0 of 50 times across "
        "installations (expected acceptance 2%)"
    )
    # the repository's own record outweighs the prior as it grows
    assert posterior_mean(Tally(9, 10), Tally(0, 50), 5) == pytest.approx((5 / 52 + 9) / 15)
    model = book.for_suggestion([], "model:qwen").headline
    assert (model.key_kind, model.key, model.line()) == (
        "source",
        "model",
        "No model fixes decided yet (expected acceptance 50%)",
    )


def test_uninstalling_deletes_everything_about_the_installations_repositories(
    db: Database,
) -> None:
    mine, other = posted(db), posted(db, repository_id=999, installation_id=7)
    with db.session() as s:
        record_installation(s, 1, "created", account_login="Codertocat", account_type="User")
        s.add(IgnoredRule(repository_id=REPO_ID, rule_id="x", created_by="mona"))
    assert OutcomeStore(db).purge_installation(1) == 1
    with db.session() as s:
        for table in (Run, PostedSuggestion, ProvenFix, SuggestionOutcome, IgnoredRule):
            assert s.scalar(select(func.count()).select_from(table)) == (
                0 if table is IgnoredRule else 1
            ), table  # only the other installation's rows are left
        assert s.get(Repository, REPO_ID) is None and s.get(Repository, 999) is not None
        installation = s.get(Installation, 1)
        assert installation is not None and installation.account_login == ""
    assert state_of(db, other)[0] == OPEN
    with pytest.raises(Exception, match="No row was found"):
        state_of(db, mine)


# --- the webhooks ------------------------------------------------------------------------


def thread(action: str, comment_ids: list[int], sender: str = "Codertocat") -> dict[str, Any]:
    payload = example("pull_request_review_thread", f"{action}.payload.json")
    template = payload["thread"]["comments"][0]
    payload["thread"]["comments"] = [{**template, "id": c} for c in comment_ids]
    payload["sender"]["login"] = sender
    return payload


def reply(to: int, body: str, association: str = "MEMBER", kind: str = "User") -> dict[str, Any]:
    payload = example("pull_request_review_comment", "created.payload.json")
    payload["comment"].update(in_reply_to_id=to, body=body, author_association=association)
    payload["comment"]["user"]["type"] = kind
    return payload


def test_resolving_a_thread_dismisses_and_unresolving_reopens(deliver: Any, db: Database) -> None:
    ours, applied = posted(db), posted(db, state=APPLIED)
    resolved = deliver("pull_request_review_thread", thread("resolved", [ours, applied, 77]))
    assert resolved.status_code == 202
    assert resolved.json["outcome"] == "recorded" and resolved.json["changed"] == 1
    assert state_of(db, ours) == (DISMISSED, "thread_resolved", "Codertocat")
    assert state_of(db, applied)[0] == APPLIED
    reopened = deliver("pull_request_review_thread", thread("unresolved", [ours]))
    assert reopened.json["changed"] == 1 and state_of(db, ours)[0] == OPEN


def test_a_wrong_reply_counts_only_from_write_access_and_is_answered(
    deliver: Any, db: Database, queue: Queue
) -> None:
    ours = posted(db)
    for payload, outcome in (
        (reply(ours, "/provenfix wrong", association="NONE"), "refused"),
        (reply(ours, "/provenfix wrong", kind="Bot"), "ignored"),
        (reply(ours, "thanks, /provenfix wrong is a command"), "ignored"),
        (reply(4242, "/provenfix wrong"), "recorded"),  # not ours: nothing changes
    ):
        response = deliver("pull_request_review_comment", payload)
        assert response.json["outcome"] == outcome, response.json
    assert state_of(db, ours)[0] == OPEN and queue.count == 0
    response = deliver("pull_request_review_comment", reply(ours, "/provenfix  wrong\nreason"))
    assert response.json == response.json | {"outcome": "recorded", "dismissed": 1}
    assert state_of(db, ours) == (DISMISSED, "reply", "Codertocat")
    (job,) = queue.jobs
    assert job.func_name == "provenfix.bot.settle.reply_in_thread"
    assert job.args[0].comment_id == ours and "recorded as not accepted" in job.args[0].body


def test_closing_enqueues_the_settling_only_when_something_is_open(
    deliver: Any, db: Database, queue: Queue
) -> None:
    payload = example("pull_request", "closed.payload.json")
    payload["installation"] = {"id": 1}
    assert deliver("pull_request", payload).json["settle"] is None
    posted(db, number=payload["pull_request"]["number"])
    payload["pull_request"]["merged"] = True
    settled = deliver("pull_request", payload)
    (job,) = queue.jobs
    assert settled.json["settle"] == job.id
    assert job.func_name == "provenfix.bot.settle.settle_pull_request"
    assert job.args[0].merged is True and job.args[0].number == payload["pull_request"]["number"]


def test_uninstall_webhook_purges(deliver: Any, db: Database) -> None:
    posted(db)
    payload = example("installation", "deleted.payload.json")
    payload["installation"]["id"] = 1
    assert deliver("installation", payload).json["outcome"] == "recorded"
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(SuggestionOutcome)) == 0
        assert s.scalar(select(func.count()).select_from(Run)) == 0


def test_after_review_names_the_apply_button_when_its_commit_is_the_head(db: Database) -> None:
    by_hand, by_button, reacted, moved = posted(db), posted(db), posted(db), posted(db)
    store = OutcomeStore(db)
    entered = store.after_review(
        REPO_ID, "b" * 40, "octocat", applied=[by_hand], outdated=[moved],
        disliked=[(reacted, "mona")],
    )  # fmt: skip
    assert entered == {APPLIED: 1, SUPERSEDED: 1, DISMISSED: 1}
    assert state_of(db, by_hand) == (APPLIED, "content", "octocat")
    assert state_of(db, moved) == (SUPERSEDED, "lines_changed", "")
    assert state_of(db, reacted) == (DISMISSED, "reaction", "mona")
    db.record_application(REPO_ID, 2, "a" * 40, "c" * 40, "mona", [], [])
    store.after_review(
        REPO_ID, "c" * 40, "provenfix[bot]", applied=[by_button], outdated=[], disliked=[]
    )
    assert state_of(db, by_button) == (APPLIED, "apply_button", "provenfix[bot]")
