"""bot.publish against the stand-in, with real git repositories and real reports."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import replace
from typing import Any

import pytest
from github_support import (
    CART_HEAD,
    NUMBER,
    Severity,
    finding,
    lines_of,
    report,
    run_pipeline,
    suggestion,
)

from provenfix.bot.check_summary import Placement, render_check_summary
from provenfix.bot.github_api import GitHubUnavailable
from provenfix.bot.review_comments import evidence_details, suggestion_block
from provenfix.jobs.diff import parse_patch
from provenfix.jobs.report import (
    ReplayEvidence,
    Skipped,
    SpeedEvidence,
    Validation,
    ValidationStatus,
)

CART = "shop/cart.py"


def hunks_of(shop_pr: Any, path: str) -> Any:
    """The head-side hunks of `path`, from git itself (not from the stand-in)."""
    diff = shop_pr.repo.git("diff", "-U3", "main...pr", "--", path)
    return parse_patch(diff[diff.index("@@") :].encode())[1]


def block(replacement: str) -> str:
    text = replacement[:-1] if replacement.endswith("\n") else replacement
    return f"```suggestion\n{text}\n```"


def check_run_requests(standin: Any) -> list[Any]:
    return [r for r in standin.requests if "/check-runs" in r.path]


def test_proven_fixes_become_suggested_changes_in_one_review(
    shop_pr: Any, make_publisher: Any
) -> None:
    standin, rep = shop_pr.standin, shop_pr.report
    publisher = make_publisher(shop_pr.ref)
    run_id = publisher.start()
    publisher.progress(run_id, "diff: 2 files changed")
    publisher.progress(run_id, "analyze: 2 findings on changed lines")
    running = standin.check_runs[0]
    assert (running.status, running.head_sha) == ("in_progress", shop_pr.ref.head_sha)
    assert "- diff: 2 files changed\n- analyze: 2 findings" in (running.summary or "")

    result = publisher.finish(run_id, rep)

    [review] = standin.reviews
    assert (review["state"], review["commit_id"]) == ("COMMENTED", shop_pr.ref.head_sha)
    assert result.review_id == review["id"]
    comments = {c["id"]: c for c in standin.review_comments}
    assert len(comments) == 2 == len(rep.suggestions)
    hunks = hunks_of(shop_pr, CART)
    for s in rep.suggestions:
        [posted] = [p for p in result.posted if p.suggestion_id == s.id]
        comment = comments[posted.comment_id]
        assert comment["path"] == s.path and comment["line"] == s.end_line
        assert comment["side"] == "RIGHT" and comment["pull_request_review_id"] == review["id"]
        assert any(h.start <= s.start_line and s.end_line <= h.end for h in hunks)
        assert block(s.replacement) in comment["body"]
        assert s.original.strip() not in comment["body"].split("```suggestion")[1]
        assert f"<!-- provenfix:finding={s.finding_ids[0]} suggestion={s.id} -->" in comment["body"]
        assert f"reliability **{s.score.reliability:.2f}**" in comment["body"]
        assert "<summary>Evidence</summary>" in comment["body"]
        assert "What was wrong" in comment["body"]  # the rationale
    done = standin.check_runs[0]
    assert (done.status, done.conclusion) == ("completed", "neutral")  # info findings only
    assert done.annotations == []  # every finding has its proven fix on the diff
    assert "### On the diff" in (done.summary or "") and "### Findings" in (done.summary or "")
    assert done.title == "2 findings, 2 proven fixes (2 on the diff)"


def test_later_pushes_post_nothing_twice_and_mark_applied_and_gone(
    shop_pr: Any, make_publisher: Any
) -> None:
    standin, first = shop_pr.standin, shop_pr.report
    publisher = make_publisher(shop_pr.ref)
    publisher.finish(publisher.start(), first)
    by_rule = {f.rule_id: f for f in first.findings}
    none_fix = next(
        s for s in first.suggestions if by_rule["comparison-to-none-eq"].id in s.finding_ids
    )
    type_fix = next(s for s in first.suggestions if s is not none_fix)
    comment_of = {
        re.search(r"suggestion=(\S+) -->", c["body"]).group(1): c["id"]  # type: ignore[union-attr]
        for c in standin.review_comments
    }

    # the author clicks "Commit suggestion" on the first one; the pipeline runs again
    applied_at = standin.commit_suggestion(comment_of[none_fix.id])
    second = run_pipeline(shop_pr.repo.path)
    assert [f.rule_id for f in second.findings] == ["type-comparison-eq"]
    assert second.findings[0].id == by_rule["type-comparison-eq"].id  # stable across pushes
    publisher = make_publisher(shop_pr.ref)
    result = publisher.finish(publisher.start(), second)

    assert len(standin.reviews) == 1 and len(standin.review_comments) == 2  # nothing twice
    assert result.review_id is None and result.posted == ()
    assert result.already_posted == (type_fix.id,)
    assert result.applied == (comment_of[none_fix.id],) and result.outdated == ()
    applied = next(c for c in standin.review_comments if c["id"] == comment_of[none_fix.id])
    assert f"Applied in `{applied_at[:10]}`" in applied["body"]
    assert "```suggestion" not in applied["body"]  # no longer a one-click change

    # a third push rewrites the other line by hand: that finding disappears too
    third_head = shop_pr.push(
        {
            CART: CART_HEAD.replace("type(item) == str", "isinstance(item, str)").replace(
                "code == None", "code is None"
            )
        }
    )
    publisher = make_publisher(shop_pr.ref)
    result = publisher.finish(publisher.start(), replace(second, findings=(), suggestions=()))
    assert result.outdated == (comment_of[type_fix.id],) and result.applied == ()
    gone = next(c for c in standin.review_comments if c["id"] == comment_of[type_fix.id])
    assert f"No longer reported at `{third_head[:10]}`" in gone["body"]
    assert "```suggestion" not in gone["body"]
    assert len(standin.reviews) == 1
    assert [r.conclusion for r in standin.check_runs] == ["neutral", "neutral", "success"]


def test_fixes_that_cannot_be_anchored_go_to_the_check_run(
    shop_pr: Any, make_publisher: Any
) -> None:
    standin = shop_pr.standin
    ok = finding("pf-ok", CART, 6)
    outside = finding("pf-outside", CART, 20)  # an unchanged line between the two hunks
    across = finding("pf-across", CART, 8, 45)  # spans both hunks
    elsewhere = finding("pf-elsewhere", "shop/__init__.py", 1)  # not in the diff
    suggestions = (
        suggestion("s-ok", ok, lines_of(CART_HEAD, 6, 6), "    if code is None:\n"),
        suggestion("s-outside", outside, lines_of(CART_HEAD, 20, 20), "RATE_9 = 9  # fixed\n"),
        suggestion("s-across", across, lines_of(CART_HEAD, 8, 45), "    pass\n"),
        suggestion("s-elsewhere", elsewhere, "\n", "# fixed\n"),
    )
    rep = report((ok, outside, across, elsewhere), suggestions)
    publisher = make_publisher(shop_pr.ref)
    result = publisher.finish(publisher.start(), rep)

    assert [c["body"].count("```suggestion") for c in standin.review_comments] == [1]
    assert [p.suggestion_id for p in result.posted] == ["s-ok"]
    assert "not inside one hunk" in result.not_posted["s-outside"]
    assert "not inside one hunk" in result.not_posted["s-across"]
    assert "not part of the pull request's diff" in result.not_posted["s-elsewhere"]
    assert all(r.status != 422 for r in standin.requests)  # never made GitHub say 422
    run = standin.check_runs[0]
    summary = run.summary or ""
    assert "### Proven fixes not on the diff" in summary
    assert "```diff\n-RATE_9 = 9\n+RATE_9 = 9  # fixed\n```" in summary
    assert "```suggestion" not in summary
    assert sorted(a["path"] + ":" + str(a["start_line"]) for a in run.annotations) == [
        "shop/__init__.py:1",
        "shop/cart.py:20",
        "shop/cart.py:8",
    ]
    assert all("check run summary" in a["raw_details"] for a in run.annotations)


def test_unproven_fixes_are_never_suggested_changes(shop_pr: Any, make_publisher: Any) -> None:
    standin = shop_pr.standin
    warn = finding("pf-warn", CART, 6)
    error = finding("pf-error", CART, 45, severity=Severity.ERROR, rule="broken")
    rep = report(
        (warn, error),
        (
            suggestion(
                "s-failed",
                warn,
                lines_of(CART_HEAD, 6, 6),
                "    if code is None:\n",
                status=ValidationStatus.FAILED,
                reliability=0.0,
            ),
            suggestion(
                "s-not-run",
                error,
                lines_of(CART_HEAD, 45, 45),
                "        if x:\n",
                status=ValidationStatus.NOT_RUN,
                reliability=0.0,
            ),
        ),
    )
    publisher = make_publisher(shop_pr.ref)
    result = publisher.finish(publisher.start(), rep)

    assert standin.reviews == [] and standin.review_comments == []  # silent on the diff
    assert result.posted == () and result.review_id is None
    run = standin.check_runs[0]
    assert run.conclusion == "failure"  # an error-severity finding
    assert "### Not proven (never offered as one-click changes)" in (run.summary or "")
    assert "```suggestion" not in (run.summary or "")
    assert [a["annotation_level"] for a in run.annotations] == ["failure", "warning"]
    assert "was not proven (failed)" in run.annotations[1]["raw_details"]


def test_nothing_to_post_stays_silent(shop_pr: Any, make_publisher: Any) -> None:
    standin = shop_pr.standin
    publisher = make_publisher(shop_pr.ref)
    result = publisher.finish(publisher.start(), report())
    assert standin.reviews == [] and standin.review_comments == []
    assert (result.conclusion, result.annotations) == ("success", 0)
    assert standin.check_runs[0].title == "No problems found on the changed lines"
    posted = [r for r in standin.requests if r.method == "POST" and "/pulls/" in r.path]
    assert posted == []


def test_at_most_max_suggestions_best_first(shop_pr: Any, make_publisher: Any) -> None:
    standin = shop_pr.standin
    lines = {5: 0.5, 6: 0.9, 7: 0.7, 8: 0.6}
    findings = [finding(f"pf-{n}", CART, n) for n in lines] + [finding("pf-44", CART, 44, 46)]
    suggestions = [
        suggestion(f"s-{n}", f, lines_of(CART_HEAD, n, n), f"# line {n}\n", reliability=r)
        for (n, r), f in zip(lines.items(), findings, strict=False)
    ]
    multi = suggestion(
        "s-44",
        findings[-1],
        lines_of(CART_HEAD, 44, 46),
        "    for item in items:\n        if item == name:\n",
        reliability=0.8,
    )
    rep = report(tuple(findings), (*suggestions, multi))
    publisher = make_publisher(shop_pr.ref, max_suggestions=2)
    result = publisher.finish(publisher.start(), rep)

    assert [p.suggestion_id for p in result.posted] == ["s-6", "s-44"]
    assert all("limit of 2" in result.not_posted[s] for s in ("s-5", "s-7", "s-8"))
    [single, ranged] = standin.review_comments
    assert (single["line"], single["start_line"]) == (6, None)
    assert (ranged["start_line"], ranged["line"], ranged["start_side"]) == (44, 46, "RIGHT")
    assert block(multi.replacement) in ranged["body"]
    # the three left out are annotated instead
    assert sorted(a["start_line"] for a in standin.check_runs[0].annotations) == [5, 7, 8]


def test_annotations_are_sent_at_most_50_per_request(shop_pr: Any, make_publisher: Any) -> None:
    standin = shop_pr.standin
    changed = [5, 6, 7, 8, 43, 44, 45, 46, 47]
    findings = tuple(
        finding(
            f"pf-{i}",
            CART,
            changed[i % len(changed)],
            rule=f"rule-{i}",
            severity=Severity.ERROR if i == 77 else Severity.WARNING,
        )
        for i in range(120)
    )
    publisher = make_publisher(shop_pr.ref)
    result = publisher.finish(publisher.start(), report(findings))

    run = standin.check_runs[0]
    assert result.annotations == 120 == len(run.annotations)
    assert run.annotations[0]["title"] == "rule-77"  # worst first
    updates = [r for r in check_run_requests(standin) if r.method == "PATCH"]
    assert [len(r.body["output"].get("annotations", [])) for r in updates] == [50, 50, 20]
    assert [r.body.get("conclusion") for r in updates] == [None, None, "failure"]
    assert run.conclusion == "failure"


def test_a_rejected_review_falls_back_to_single_comments(shop_pr: Any, make_publisher: Any) -> None:
    standin, rep = shop_pr.standin, shop_pr.report
    rejected = {
        "message": "Unprocessable Entity",
        "errors": ["Line could not be resolved"],
        "documentation_url": "https://docs.github.com/rest",
    }
    standin.fail_next(1, 422, match=rf"^POST /repos/.*/pulls/{NUMBER}/reviews$", body=rejected)
    standin.fail_next(
        1,
        422,
        match=rf"^POST /repos/.*/pulls/{NUMBER}/comments$",
        body={
            "message": "Validation Failed",
            "documentation_url": "https://docs.github.com/rest",
            "errors": [
                {
                    "resource": "PullRequestReviewComment",
                    "code": "custom",
                    "field": "pull_request_review_thread.line",
                    "message": "could not be resolved",
                }
            ],
        },
    )
    publisher = make_publisher(shop_pr.ref)
    result = publisher.finish(publisher.start(), rep)

    best, second = sorted(rep.suggestions, key=lambda s: -s.score.reliability)
    assert [p.suggestion_id for p in result.posted] == [second.id]
    assert "would not place it" in result.not_posted[best.id]
    assert len(standin.review_comments) == 1
    assert block(second.replacement) in standin.review_comments[0]["body"]
    summary = standin.check_runs[0].summary or ""
    assert "comments posted singly" in summary and "Proven fixes not on the diff" in summary


def test_publishing_rides_out_rate_limits_and_server_errors(
    shop_pr: Any, make_publisher: Any
) -> None:
    standin = shop_pr.standin
    standin.rate_limit_next(1, retry_after=1, match=r"^POST .*/reviews$")
    standin.fail_next(2, 502, match=r"^PATCH .*/check-runs/")
    standin.fail_next(1, 503, match=r"^GET .*/pulls/\d+/files")
    publisher = make_publisher(shop_pr.ref)
    result = publisher.finish(publisher.start(), shop_pr.report)

    assert len(result.posted) == 2 and result.errors == ()
    assert len(standin.reviews) == 1 and len(standin.review_comments) == 2
    reviews = [
        r.status for r in standin.requests if r.path.endswith("/reviews") and r.method == "POST"
    ]
    assert reviews == [403, 200]
    assert standin.check_runs[0].conclusion == "neutral"


def test_one_review_per_head_when_a_job_runs_twice(shop_pr: Any, make_publisher: Any) -> None:
    standin = shop_pr.standin
    for _ in range(2):
        publisher = make_publisher(shop_pr.ref)
        result = publisher.finish(publisher.start(), shop_pr.report)
    assert len(standin.reviews) == 1 and len(standin.review_comments) == 2
    assert result.review_id is None and len(result.already_posted) == 2
    assert "already suggested on an earlier push" in (standin.check_runs[1].summary or "")


def test_a_head_that_moved_on_gets_no_review(shop_pr: Any, make_publisher: Any) -> None:
    standin = shop_pr.standin
    old = shop_pr.ref
    new_head = shop_pr.push({"README.md": "shop\n"})
    publisher = make_publisher(old)
    result = publisher.finish(publisher.start(), shop_pr.report)
    assert standin.reviews == [] and result.posted == ()
    assert all(f"moved on to `{new_head[:10]}`" in why for why in result.not_posted.values())
    assert standin.check_runs[0].head_sha == old.head_sha


def test_fail_completes_the_check_run_with_the_reason(shop_pr: Any, make_publisher: Any) -> None:
    standin = shop_pr.standin
    publisher = make_publisher(shop_pr.ref)
    secret = "ghs_" + "s3cr3t" * 6
    run_id = publisher.start()
    publisher.fail(run_id, f"git fetch https://x-access-token:{secret}@example failed")
    other = publisher.start()
    publisher.fail(other, "the sandbox is down", conclusion="failure")
    first, second = standin.check_runs
    assert (first.conclusion, second.conclusion) == ("neutral", "failure")
    assert first.title == "ProvenFix could not finish"
    assert "x-access-token:***@example failed" in (first.summary or "")
    assert secret not in (first.summary or "")
    assert "the sandbox is down" in (second.summary or "")


def test_a_transient_failure_propagates_and_a_retry_posts_once(
    shop_pr: Any, make_publisher: Any
) -> None:
    standin = shop_pr.standin
    # a POST is never repeated after a 5xx: GitHub may have created the review anyway
    standin.fail_next(1, 502, match=r"^POST .*/pulls/\d+/reviews$")
    publisher = make_publisher(shop_pr.ref)
    run_id = publisher.start()
    with pytest.raises(GitHubUnavailable, match="502"):
        publisher.finish(run_id, shop_pr.report)
    assert standin.check_runs[0].status == "in_progress" and standin.reviews == []
    posts = [r for r in standin.requests if r.method == "POST" and r.path.endswith("/reviews")]
    assert [r.status for r in posts] == [502]
    result = make_publisher(shop_pr.ref).finish(run_id, shop_pr.report)  # the job's retry
    assert len(result.posted) == 2 and len(standin.reviews) == 1
    assert standin.check_runs[0].conclusion == "neutral"


def test_suggestion_blocks_and_hunks() -> None:
    assert suggestion_block("x = 1\n") == "```suggestion\nx = 1\n```"
    assert suggestion_block("") == "```suggestion\n```"  # deletes the lines
    assert suggestion_block("\n") == "```suggestion\n\n```"  # one empty line
    assert suggestion_block('s = """```py"""\n') == '````suggestion\ns = """```py"""\n````'
    patch = "@@ -1,3 +1,4 @@\n a\n+b\n c\n d\n@@ -10 +11 @@\n-x\n+y\n@@ -20,2 +21,0 @@\n-p\n-q"
    added, hunks = parse_patch(patch.encode())  # as GitHub's files API gives it
    assert [(r.start, r.end) for r in hunks] == [(1, 4), (11, 11)]
    assert [(r.start, r.end) for r in added] == [(2, 2), (11, 11)]
    assert parse_patch(b"") == ((), ())


def test_the_summary_stays_under_githubs_limit() -> None:
    f = finding("pf-1", CART, 6)
    s = suggestion("s-1", f, "x\n" * 40_000, "y\n" * 40_000)
    placement = Placement(not_posted={"s-1": "not on the diff"})
    text = render_check_summary(report((f,), (s,)), placement)
    assert len(text) <= 65_535 and text.endswith("summary to 65,535 characters.*\n")
    assert "### Findings" in text


def test_the_summary_shows_the_evidence_and_what_was_not_posted() -> None:
    f = finding("pf-1", CART, 6)
    replay = ReplayEvidence(("Cart.add",), 12, 5, 2, 40, 0)
    speed = SpeedEvidence(speedup=2.5, low=2.1, high=2.9, rounds=15, calls=5)
    proven = Validation(
        ValidationStatus.PASSED,
        tests_selected=3,
        passing_tests=("t::a", "t::b"),
        runs=3,
        replay=replay,
        speed=speed,
    )
    s = dataclasses.replace(suggestion("s-1", f, "x\n", "y\n"), validation=proven)
    turned_away = Skipped(CART, "codemod:hoist-loop-lookup: measured 0.97x (95% ...)", 14)
    text = render_check_summary(
        report((f,), (s,), (turned_away, Skipped("big.py", "too large"))),
        Placement(not_posted={"s-1": "not on the diff"}),
    )
    assert "| 2/3 pass ×3 (0.0 s) |" in text and "2.50x [2.10, 2.90]" in text
    assert "Skipped: not analyzed or not posted (2)" in text
    assert f"`{CART}:14`: codemod:hoist-loop-lookup: measured 0.97x" in text
    assert "`big.py`: too large" in text
    details = evidence_details(s)
    assert "2 of 3 selected pass and check this code in all 3 runs" in details
    assert "5 recorded + 40 generated, 0 changed (2 not replayable)" in details
    assert "2.50x (95% interval 2.10-2.90x, significant)" in details
