"""The model generator inside the real pipeline: a failing test, a rewrite, proven by the tests.

The model is scripted (the real ones are far too slow for a unit test); the
diff, the baseline test run, the failure finding, the validation of the
candidate and the report are the real ones, with tests run as subprocesses.
"""

from __future__ import annotations

import sys
from pathlib import Path

from model_support import ScriptedModel
from repo_support import MakeRepo

from provenfix.jobs.complexity import ComplexityAnalyzer
from provenfix.jobs.generation.code_model.generator import ModelRepairGenerator
from provenfix.jobs.pipeline import AnalysisRequest, Pipeline, Stages
from provenfix.jobs.report import Report, ValidationStatus
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.validation.stage import LocalTestEnvironment, ValidationStage

DEF = 'def mean(values):\n    """The mean."""\n'
BASE = {
    "calc.py": DEF + "    return sum(values) / len(values)\n",
    "test_calc.py": "from calc import mean\n\n\n"
    "def test_mean():\n    assert mean([1, 2, 3]) == 2\n",
}
HEAD = {"calc.py": DEF + "    return sum(values) / (len(values) + 1)\n"}
RIGHT = "    return sum(values) / len(values)\n```"
WRONG = "    return sum(values) // (len(values) + 1)\n```"


def run(repo: Path, model: ScriptedModel) -> tuple[Report, ModelRepairGenerator]:
    settings = AnalysisSettings()
    generator = ModelRepairGenerator(model, samples=2)
    stages = Stages(
        analyzers=lambda change, scratch: [ComplexityAnalyzer(settings)],
        generators=[generator],
        validation=ValidationStage(LocalTestEnvironment(python=sys.executable, timeout_s=120)),
    )
    return Pipeline(settings, stages).run(AnalysisRequest(repo, "main", "pr")), generator


def test_a_model_rewrite_is_proven_by_the_failing_test(make_repo: MakeRepo) -> None:
    repo = make_repo(BASE, HEAD)
    model = ScriptedModel([WRONG, RIGHT], name="scripted", prefill=True)
    report, generator = run(repo.path, model)
    (failure,) = [f for f in report.findings if f.rule_id == "test-failure"]
    assert failure.test == "test_calc.py::test_mean" and failure.function == "mean"
    (messages,) = [c["messages"] for c in model.calls]
    assert messages[-1].content == '```python\ndef mean(values):\n    """..."""\n'
    (suggestion,) = report.suggestions
    assert suggestion.source == "model:scripted"
    assert suggestion.validation.status is ValidationStatus.PASSED
    assert suggestion.validation.fixed_tests == ("test_calc.py::test_mean",)
    assert suggestion.replacement == "    return sum(values) / len(values)\n"
    assert (suggestion.start_line, suggestion.end_line) == (3, 3)
    assert suggestion.finding_ids == (failure.id,)
    assert "so that `test_calc.py::test_mean` passes" in suggestion.rationale
    assert generator.notes == []


def test_unproven_rewrites_are_never_committable(make_repo: MakeRepo) -> None:
    repo = make_repo(BASE, HEAD)
    report, _ = run(repo.path, ScriptedModel([WRONG], prefill=True))
    assert report.suggestions
    assert not any(s.committable for s in report.suggestions)
