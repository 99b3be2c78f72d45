"""bot.publish against the stand-in: the check run's external id and button, whose comments
count as ours, and comments whose finding comes back after they were retired."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from github_support import CART_HEAD, finding, lines_of, report, suggestion

from provenfix.bot.check_summary import APPLY_ACTION_ID
from provenfix.jobs.report import ValidationStatus

CART = "shop/cart.py"


def test_the_check_run_names_the_job_and_offers_the_button_only_with_a_proven_fix(
    shop_pr: Any, make_publisher: Any
) -> None:
    standin = shop_pr.standin
    publisher = make_publisher(shop_pr.ref, external_id="provenfix-1-7-abc", apply_action=True)
    result = publisher.finish(publisher.start(), shop_pr.report)
    run = standin.check_runs[0]
    assert run.external_id == "provenfix-1-7-abc"
    create = next(r for r in standin.requests if r.method == "POST" and "/check-runs" in r.path)
    assert create.body["external_id"] == "provenfix-1-7-abc"
    assert result.actions == (APPLY_ACTION_ID,)
    (action,) = run.actions
    assert action["identifier"] == APPLY_ACTION_ID and len(action["label"]) <= 20

    # without Contents: write (apply_action=False), or with nothing proven: no button
    plain = make_publisher(shop_pr.ref)
    assert plain.finish(plain.start(), shop_pr.report).actions == ()
    f = finding("pf-6", CART, 6)
    unproven = suggestion(
        "s-6",
        f,
        lines_of(CART_HEAD, 6, 6),
        "    if code is None:\n",
        status=ValidationStatus.FAILED,
    )
    nothing = make_publisher(shop_pr.ref, apply_action=True)
    assert nothing.finish(nothing.start(), report((f,), (unproven,))).actions == ()
    assert [r.actions for r in standin.check_runs[1:]] == [[], []]


def test_only_the_apps_own_account_writes_our_comments(shop_pr: Any, make_publisher: Any) -> None:
    """The login comes from GET /app (`<slug>[bot]`); another bot's comments are not ours,
    even with our fingerprint in them."""
    standin = shop_pr.standin
    first = make_publisher(shop_pr.ref)
    first.finish(first.start(), shop_pr.report)
    assert len(standin.review_comments) == 2

    shop_pr.push({"README.md": "shop\n"})  # a new head, same findings
    stranger = make_publisher(shop_pr.ref, bot_login="another-app[bot]")
    result = stranger.finish(stranger.start(), replace(shop_pr.report, suggestions=()))
    assert result.outdated == result.applied == () and result.already_posted == ()
    ours = make_publisher(shop_pr.ref)
    result = ours.finish(ours.start(), shop_pr.report)
    assert len(result.already_posted) == 2 and result.posted == ()


def test_a_finding_that_comes_back_after_its_comment_was_retired_gets_a_new_one(
    shop_pr: Any, make_publisher: Any
) -> None:
    standin, rep = shop_pr.standin, shop_pr.report
    publisher = make_publisher(shop_pr.ref)
    publisher.finish(publisher.start(), rep)

    shop_pr.push({"README.md": "one\n"})
    gone = make_publisher(shop_pr.ref)
    result = gone.finish(gone.start(), replace(rep, findings=(), suggestions=()))
    assert len(result.outdated) == 2  # the threads stay: edited, not resolved

    shop_pr.push({"README.md": "two\n"})  # the problems are back (a revert, say)
    back = make_publisher(shop_pr.ref)
    result = back.finish(back.start(), rep)
    assert len(result.posted) == 2 and result.already_posted == ()
    assert len(standin.reviews) == 2
    live = [c for c in standin.review_comments if "```suggestion" in c["body"]]
    assert len(live) == 2 and all(c["commit_id"] == shop_pr.ref.head_sha for c in live)


def test_a_fix_without_a_finding_is_posted_once_and_kept_while_offered(
    shop_pr: Any, make_publisher: Any
) -> None:
    """A codemod's optimization has no finding: its suggestion id stands for it."""
    f = finding("pf-44", CART, 45)
    fix = replace(
        suggestion("s-44", f, lines_of(CART_HEAD, 45, 45), "        if item == name:\n"),
        finding_ids=(),
    )
    rep = report((), (fix,))
    first = make_publisher(shop_pr.ref)
    assert len(first.finish(first.start(), rep).posted) == 1
    shop_pr.push({"README.md": "shop\n"})
    again = make_publisher(shop_pr.ref)
    result = again.finish(again.start(), rep)
    assert result.already_posted == ("s-44",) and result.outdated == ()
    (comment,) = shop_pr.standin.review_comments
    assert "<!-- provenfix:finding= suggestion=s-44 -->" in comment["body"]
