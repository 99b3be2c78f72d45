"""Codemods focused on the functions that matter: those with a finding, and hotspots.

The pipeline tells the codemod generator the complexity hotspots while semgrep
still scans (`focused(...).warm()`), then asks for candidates once the findings
are known. A function with a finding must get exactly the candidates the
unfocused generator gives it, linked to the same findings.
"""

from __future__ import annotations

from pathlib import Path

from repo_support import MakeRepo

from provenfix.jobs.complexity import ComplexityAnalyzer, hotspots
from provenfix.jobs.diff import compute_change, open_repo
from provenfix.jobs.fingerprint import Fingerprinter
from provenfix.jobs.generation.codemods import CodemodGenerator
from provenfix.jobs.pipeline import AnalysisRequest, Pipeline, Stages
from provenfix.jobs.report import (
    Candidate,
    Category,
    Finding,
    FindingSource,
    FunctionMetrics,
    Severity,
)
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.snapshot import Snapshot, take_snapshot

PATH = "m.py"


def branchy(name: str, branches: int) -> str:
    """A function with a mutable default (a codemod site) and `branches` ifs."""
    body = "".join(f"    if x == {i}:\n        acc.append({i})\n" for i in range(branches))
    return f"def {name}(x, acc=[]):\n{body}    return acc\n"


HEAD = "\n\n".join([branchy("flagged", 1), branchy("complex_one", 12), branchy("plain", 1)])
LINES = {
    name: HEAD.splitlines().index(f"def {name}(x, acc=[]):") + 1
    for name in ("flagged", "complex_one", "plain")
}


def finding(line: int) -> Finding:
    return Finding(
        id=f"f-{line}",
        source=FindingSource.SEMGREP,
        rule_id="some-rule",
        category=Category.DEFECT,
        severity=Severity.WARNING,
        path=PATH,
        start_line=line,
        end_line=line,
        message="something",
    )


def snapshot_of(make_repo: MakeRepo, tmp_path: Path) -> Snapshot:
    repo = make_repo({PATH: "x = 1\n"}, {PATH: HEAD})
    change = compute_change(open_repo(repo.path), "main", "pr")
    return take_snapshot(change, AnalysisSettings(), tmp_path / "snap")


def hot_metrics(snapshot: Snapshot) -> tuple[FunctionMetrics, ...]:
    part = ComplexityAnalyzer(AnalysisSettings()).analyze(snapshot, Fingerprinter())
    return hotspots(part.metrics, AnalysisSettings().complexity_threshold)


def functions(candidates: list[Candidate]) -> set[str]:
    by_line = {line: name for name, line in LINES.items()}
    return {by_line[c.start_line] for c in candidates}


def test_hotspots_are_the_changed_functions_above_the_threshold(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    hot = hot_metrics(snapshot_of(make_repo, tmp_path))
    assert [(m.name, m.start_line) for m in hot] == [("complex_one", LINES["complex_one"])]


def test_a_complex_function_is_a_hotspot_only_if_the_change_adds_to_it() -> None:
    def metrics(name: str, base: int | None, head: int) -> FunctionMetrics:
        return FunctionMetrics(
            PATH, name, 1, 2, cc_head=head, cc_base=base, mi_head=50.0, mi_base=50.0
        )

    found = [
        metrics("new", None, 12),
        metrics("grown", 11, 12),
        metrics("untouched_complexity", 12, 12),
        metrics("simpler", 14, 12),
        metrics("small", 3, 10),
    ]
    assert [m.name for m in hotspots(found, 10)] == ["new", "grown"]


def test_only_functions_with_a_finding_or_a_hotspot_are_rewritten(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    snapshot = snapshot_of(make_repo, tmp_path)
    findings = [finding(LINES["flagged"] + 1)]  # inside `flagged`, not on its def line
    generator = CodemodGenerator()
    everything = generator.generate(findings, snapshot)
    assert functions(everything) == {"flagged", "complex_one", "plain"}

    focused = generator.focused(snapshot, hot_metrics(snapshot)).generate(findings, snapshot)
    assert functions(focused) == {"flagged", "complex_one"}
    assert focused == [c for c in everything if functions([c]) != {"plain"}]
    (flagged,) = [c for c in focused if functions([c]) == {"flagged"}]
    assert flagged.finding_ids == ()  # its lines (the def line) do not reach the finding


def test_warming_up_changes_nothing_but_when_the_work_is_done(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    snapshot = snapshot_of(make_repo, tmp_path)
    hot = hot_metrics(snapshot)
    findings = [finding(LINES["complex_one"]), finding(LINES["plain"])]
    cold = CodemodGenerator().focused(snapshot, hot).generate(findings, snapshot)
    warmed = CodemodGenerator().focused(snapshot, hot)
    warmed.warm()  # before the findings are known: the hotspot's candidates link nothing yet
    assert warmed.generate(findings, snapshot) == cold
    assert functions(cold) == {"complex_one", "plain"}
    assert all(c.finding_ids for c in cold)


def test_nothing_to_focus_on_means_no_rewrite(make_repo: MakeRepo, tmp_path: Path) -> None:
    snapshot = snapshot_of(make_repo, tmp_path)
    assert CodemodGenerator().focused(snapshot, ()).generate([], snapshot) == []


def test_the_pipeline_rewrites_hotspots_not_every_touched_function(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo({PATH: "x = 1\n"}, {PATH: HEAD})
    settings = AnalysisSettings()
    stages = Stages(
        analyzers=lambda change, scratch: [ComplexityAnalyzer(settings)],
        generators=[CodemodGenerator()],
    )
    report = Pipeline(settings, stages).run(AnalysisRequest(repo.path, "main", "pr"))
    (complexity,) = report.findings
    assert complexity.function == "complex_one"
    assert {s.start_line for s in report.suggestions} == {LINES["complex_one"]}
    # `flagged` and `plain` hold no finding: no candidate was made for them, so none was
    # turned away either (the unfocused generator made one each, "resolves no finding").
    refused = [s for s in report.skipped if "resolves no finding" in s.reason]
    assert refused == []
