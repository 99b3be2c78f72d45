"""Ranking: at most one suggestion per finding, and a suggestion claims only what it resolves."""

from __future__ import annotations

from jobs.model import (
    Candidate,
    Category,
    Finding,
    FindingSource,
    Severity,
    SuggestionKind,
    Validation,
    ValidationStatus,
    Weights,
)
from jobs.scoring import Evidence
from jobs.suggest import assemble_suggestions

PROVEN = Validation(ValidationStatus.PASSED, tests_selected=2, tests_run=2)


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


def candidate(cid: str, source: str, line: int, finding_ids: tuple[str, ...]) -> Candidate:
    return Candidate(
        id=cid,
        finding_ids=finding_ids,
        kind=SuggestionKind.REPAIR,
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
    suggestions = assemble_suggestions(
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
    suggestions = assemble_suggestions(
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


def test_a_candidate_that_resolves_nothing_claims_nothing_and_yields_to_better_ones() -> None:
    bare = semgrep_finding("bare-except", 19)
    hoist = candidate("hoist", "codemod:hoist-loop-lookup", 19, (bare.id,))  # still bare
    elsewhere = candidate("elsewhere", "model:coder", 30, (bare.id,))  # not on its lines
    fix = candidate("fix", "model:coder", 19, (bare.id,))
    proven = {"hoist": PROVEN, "elsewhere": PROVEN, "fix": PROVEN}
    unresolved = evidence(1, 1, frozenset({"bare-except"}))

    alone = assemble_suggestions(
        [hoist, elsewhere],
        [bare],
        proven,
        {"hoist": unresolved, "elsewhere": evidence(0, 0)},
        weights=Weights(),
        complexity_threshold=10,
    )
    assert {s.id: s.finding_ids for s in alone} == {"hoist": (), "elsewhere": ()}

    with_fix = assemble_suggestions(
        [hoist, elsewhere, fix],
        [bare],
        proven,
        {"hoist": unresolved, "elsewhere": evidence(0, 0), "fix": evidence(1, 0)},
        weights=Weights(),
        complexity_threshold=10,
    )
    # the fix claims the finding; the hoist changes the same line and yields to it
    assert {s.id: s.finding_ids for s in with_fix} == {"fix": (bare.id,), "elsewhere": ()}
