"""Ranking and the posting gate: at most one suggestion per finding, a suggestion claims only
what it resolves, and a proven candidate that resolves nothing (or rewrites lines the change
did not touch, or is an optimization without a significant measured speed-up) is not posted."""

from __future__ import annotations

from provenfix.jobs.report import (
    Candidate,
    Category,
    Finding,
    FindingSource,
    LineRange,
    ReplayEvidence,
    Severity,
    SpeedEvidence,
    SuggestionKind,
    Validation,
    ValidationStatus,
    Weights,
)
from provenfix.jobs.scoring import Evidence
from provenfix.jobs.suggest import assemble_suggestions

PROVEN = Validation(
    ValidationStatus.PASSED, tests_selected=2, tests_run=2, passing_tests=("t::a", "t::b"), runs=3
)


def semgrep_finding(rule: str, line: int) -> Finding:
    return Finding(
        id=f"{rule}@{line}",
        source=FindingSource.SEMGREP,
        rule_id=rule,
        category=Category.DEFECT,
        severity=Severity.WARNING,
        path="m.py",
        start_line=line,
        end_line=line,
        message=rule,
        function="load",
    )


def candidate(
    cid: str,
    source: str,
    line: int,
    finding_ids: tuple[str, ...],
    kind: SuggestionKind = SuggestionKind.REPAIR,
) -> Candidate:
    return Candidate(
        id=cid,
        finding_ids=finding_ids,
        kind=kind,
        source=source,
        path="m.py",
        start_line=line,
        end_line=line,
        original="old\n",
        replacement="new\n",
        description=cid,
    )


def evidence(before: int, after: int, rules_after: frozenset[str] = frozenset()) -> Evidence:
    return Evidence(1, 1, before, after, 3, 3, coverage=1.0, rules_after=rules_after)


def test_a_rewrite_asked_about_two_findings_claims_only_the_one_it_fixed() -> None:
    mutable = semgrep_finding("mutable-default-arg", 14)
    bare = semgrep_finding("bare-except", 19)
    # the model was asked about both (same function) but changed line 19 only
    model = candidate("model", "model:coder", 19, (mutable.id, bare.id))
    codemod = candidate("codemod", "codemod:mutable-default-arg", 14, (mutable.id,))
    suggestions, _ = assemble_suggestions(
        [model, codemod],
        [mutable, bare],
        {"model": PROVEN, "codemod": PROVEN},
        {"model": evidence(1, 0), "codemod": evidence(1, 1)},  # the model's scores better
        weights=Weights(),
        complexity_threshold=10,
    )
    by_id = {s.id: s for s in suggestions}
    assert by_id["model"].score.reliability > by_id["codemod"].score.reliability
    assert by_id["model"].finding_ids == (bare.id,)
    assert by_id["codemod"].finding_ids == (mutable.id,)  # kept: nobody else fixes it


def test_a_rule_that_still_matches_afterwards_is_not_claimed() -> None:
    bare = semgrep_finding("bare-except", 19)
    other = semgrep_finding("broad-except", 19)
    model = candidate("model", "model:coder", 19, (bare.id, other.id))
    fix = candidate("autofix", "semgrep-autofix", 19, (other.id,))
    suggestions, _ = assemble_suggestions(
        [model, fix],
        [bare, other],
        {"model": PROVEN, "autofix": PROVEN},
        {
            "model": evidence(2, 1, frozenset({"broad-except"})),
            "autofix": evidence(2, 1, frozenset({"bare-except"})),
        },
        weights=Weights(),
        complexity_threshold=10,
    )
    assert {s.id: s.finding_ids for s in suggestions} == {
        "model": (bare.id,),
        "autofix": (other.id,),
    }


def test_a_candidate_that_resolves_nothing_is_turned_away_with_the_reason() -> None:
    bare = semgrep_finding("bare-except", 19)
    hoist = candidate("hoist", "codemod:hoist-loop-lookup", 19, (bare.id,))  # still bare
    elsewhere = candidate("elsewhere", "model:coder", 30, (bare.id,))  # not on its lines
    fix = candidate("fix", "model:coder", 19, (bare.id,))
    proven = {"hoist": PROVEN, "elsewhere": PROVEN, "fix": PROVEN}
    unresolved = evidence(1, 1, frozenset({"bare-except"}))

    alone, skipped = assemble_suggestions(
        [hoist, elsewhere],
        [bare],
        proven,
        {"hoist": unresolved, "elsewhere": evidence(0, 0)},
        weights=Weights(),
        complexity_threshold=10,
    )
    assert alone == ()
    assert [(s.path, s.line) for s in skipped] == [("m.py", 19), ("m.py", 30)]
    assert all("resolves none of the findings" in s.reason for s in skipped)

    with_fix, _ = assemble_suggestions(
        [hoist, elsewhere, fix],
        [bare],
        proven,
        {"hoist": unresolved, "elsewhere": evidence(0, 0), "fix": evidence(1, 0)},
        weights=Weights(),
        complexity_threshold=10,
    )
    assert {s.id: s.finding_ids for s in with_fix} == {"fix": (bare.id,)}
    (posted,) = with_fix
    assert posted.committable and "bare-except" in posted.rationale


def test_a_fix_that_rewrites_lines_the_change_did_not_touch_is_not_posted() -> None:
    bare = semgrep_finding("bare-except", 19)
    wide = Candidate(
        id="wide",
        finding_ids=(bare.id,),
        kind=SuggestionKind.REPAIR,
        source="codemod:x",
        path="m.py",
        start_line=18,
        end_line=19,
        original="a\nb\n",
        replacement="c\nd\n",
        description="rewrites two lines",
    )
    kwargs = {"weights": Weights(), "complexity_threshold": 10}
    posted, skipped = assemble_suggestions(
        [wide],
        [bare],
        {"wide": PROVEN},
        {"wide": evidence(1, 0)},
        changed={"m.py": (LineRange(19, 25),)},
        **kwargs,  # type: ignore[arg-type]
    )
    assert posted == () and "rewrites line 18, which this change did not touch" in skipped[0].reason
    posted, _ = assemble_suggestions(
        [wide],
        [bare],
        {"wide": PROVEN},
        {"wide": evidence(1, 0)},
        changed={"m.py": (LineRange(18, 19),)},
        **kwargs,  # type: ignore[arg-type]
    )
    assert [s.id for s in posted] == ["wide"]


def speed(speedup: float, low: float, high: float) -> SpeedEvidence:
    return SpeedEvidence(speedup=speedup, low=low, high=high, rounds=15, calls=4)


def test_an_optimization_is_posted_only_with_a_significant_measured_speed_up() -> None:
    loop = semgrep_finding("membership-in-list-in-loop", 19)
    opt = candidate(
        "opt", "codemod:list-membership-to-set", 19, (loop.id,), SuggestionKind.OPTIMIZATION
    )
    kwargs = {"weights": Weights(), "complexity_threshold": 10}
    for measured, posted_ids in (
        (None, []),
        (speed(1.3, 0.97, 1.6), []),  # faster on average, but the interval reaches 1.0
        (speed(0.97, 0.95, 0.99), []),  # slower
        (speed(3.0, 2.5, 3.6), ["opt"]),
    ):
        proven = Validation(
            ValidationStatus.PASSED, passing_tests=("t::a",), runs=3, speed=measured
        )
        posted, skipped = assemble_suggestions(
            [opt],
            [loop],
            {"opt": proven},
            {"opt": evidence(1, 0)},
            **kwargs,  # type: ignore[arg-type]
        )
        assert [s.id for s in posted] == posted_ids
        if posted:
            c = posted[0].score.components
            assert c.performance_efficiency == round(3.0 / 4.0, 4)
            assert "3.00x (95% interval 2.50-3.60x, faster)" in posted[0].rationale
        else:
            assert skipped and "speed" in skipped[0].reason


def test_a_test_failure_counts_as_resolved_only_when_its_test_now_passes() -> None:
    failure = Finding(
        id="tf",
        source=FindingSource.TESTS,
        rule_id="test-failure",
        category=Category.TEST_FAILURE,
        severity=Severity.ERROR,
        path="m.py",
        start_line=19,
        end_line=19,
        message="fails",
        test="t::broken",
    )
    repair = candidate("repair", "model:coder", 19, ("tf",))
    kwargs = {"weights": Weights(), "complexity_threshold": 10}
    not_fixed, skipped = assemble_suggestions(
        [repair],
        [failure],
        {"repair": PROVEN},
        {"repair": evidence(0, 0)},
        **kwargs,  # type: ignore[arg-type]
    )
    assert not_fixed == () and "resolves none" in skipped[0].reason
    fixed = Validation(
        ValidationStatus.PASSED, passing_tests=("t::broken",), fixed_tests=("t::broken",), runs=3
    )
    posted, _ = assemble_suggestions(
        [repair],
        [failure],
        {"repair": fixed},
        {"repair": evidence(0, 0)},
        **kwargs,  # type: ignore[arg-type]
    )
    assert [s.finding_ids for s in posted] == [("tf",)]


def test_unexercised_suggestions_never_outrank_exercised_and_replayed_ones() -> None:
    a = semgrep_finding("comparison-to-none-eq", 10)
    b = semgrep_finding("comparison-to-none-eq", 20)
    blind = candidate("blind", "semgrep-autofix", 10, (a.id,))
    seen = candidate("seen", "semgrep-autofix", 20, (b.id,))
    replayed = ReplayEvidence(("f",), 5, 5, 0, 20, 0)
    blind_v = Validation(ValidationStatus.PASSED, passing_tests=("t::a",), runs=3)
    seen_v = Validation(ValidationStatus.PASSED, passing_tests=("t::b",), runs=3, replay=replayed)
    posted, _ = assemble_suggestions(
        [blind, seen],
        [a, b],
        {"blind": blind_v, "seen": seen_v},
        {
            # the unexercised one has the better defect and complexity numbers
            "blind": Evidence(1, 1, 1, 0, 1, 1, coverage=0.0),
            "seen": Evidence(1, 1, 1, 0, 9, 9, coverage=1.0),
        },
        weights=Weights(),
        complexity_threshold=10,
    )
    assert [s.id for s in posted] == ["seen", "blind"]
    assert posted[0].score.reliability > posted[1].score.reliability
    assert "5 recorded call(s) and 20 generated input(s)" in posted[0].rationale


def test_an_unproven_candidate_without_a_finding_is_not_listed() -> None:
    hoist = candidate("hoist", "codemod:hoist-loop-lookup", 19, ())
    failed = Validation(ValidationStatus.NO_TESTS, detail="unproven: no test checks this code")
    posted, skipped = assemble_suggestions(
        [hoist], [], {"hoist": failed}, {}, weights=Weights(), complexity_threshold=10
    )
    assert posted == () and "not proven and resolves no finding" in skipped[0].reason
