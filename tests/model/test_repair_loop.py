"""Generate → evaluate → regenerate: the code model's rounds (repair_loop.py, narrow.py).

The rounds run on the real SmolLM2-135M (it repairs nothing, but it answers:
what it is asked, what is dropped, counted and spent is real), behind a thin
wrapper that records each call. One test drives the control flow through the
real pipeline with a scripted backend, and says so in its name.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from model_support import snapshot_of, test_failure
from repo_support import MakeRepo
from test_model_pipeline import BASE, HEAD, RIGHT, WRONG

from provenfix.jobs.complexity import ComplexityAnalyzer
from provenfix.jobs.formats.json_report import report_to_dict
from provenfix.jobs.formats.markdown import render_markdown
from provenfix.jobs.formats.text import render_text
from provenfix.jobs.generation.code_model.backend import (
    ChatMessage,
    Completions,
    ModelUnavailable,
    TokenUsage,
    usage_of,
)
from provenfix.jobs.generation.code_model.generator import ModelRepairGenerator
from provenfix.jobs.generation.code_model.narrow import (
    narrow,
    span_tokens,
    splice,
    suspicious_span,
)
from provenfix.jobs.generation.code_model.openai_backend import OpenAICompatibleModel
from provenfix.jobs.generation.code_model.parse import rewrite
from provenfix.jobs.generation.code_model.prompt import select_targets
from provenfix.jobs.generation.code_model.registry import ensure_local_model
from provenfix.jobs.generation.code_model.repair_loop import (
    TargetState,
    excerpt,
    feedback,
    verdict_end,
)
from provenfix.jobs.generation.edits import apply_candidates, parse_error
from provenfix.jobs.pipeline import AnalysisRequest, Pipeline, Stages
from provenfix.jobs.report import (
    Candidate,
    Finding,
    Report,
    RoundsEnd,
    Suspect,
    Validation,
    ValidationStatus,
)
from provenfix.jobs.settings import AnalysisSettings, load_repo_config
from provenfix.jobs.validation.stage import LocalTestEnvironment, ValidationStage

OUTPUT = "E       assert add(2, 2) == 4\nE        +  where 0 = add(2, 2)"
UNFIXED = "does not make the failing test(s) pass in every run: tests/test_m.py::test_it"


def failure(path: str, function: str, *suspects: tuple[int, float]) -> Finding:
    found = tuple(Suspect(path, line, score, 1, int(score < 1)) for line, score in suspects)
    line = suspects[0][0] if suspects else 2
    return replace(test_failure(path, line, function), suspects=found)


def failed(candidates: Sequence[Candidate], output: str = OUTPUT) -> dict[str, Validation]:
    return {
        c.id: Validation(ValidationStatus.FAILED, detail=UNFIXED, failure_output=output)
        for c in candidates
    }


# --- without a model: the parts ----------------------------------------------------------

BRANCHY = (
    "def grade(score):\n"  # 1
    '    """A letter."""\n'  # 2
    "    if (score >= 90\n"  # 3
    "            and score <= 100):\n"  # 4
    "        return 'A'\n"  # 5
    "    total = (score +\n"  # 6
    "             1)\n"  # 7
    "    return 'B' if total > 80 else 'C'\n"  # 8
)


def target_of(tmp_path: Path, text: str, finding: Finding) -> Any:
    (tgt,), _ = select_targets([finding], snapshot_of(tmp_path, {"m.py": text}))
    return tgt


def test_the_suspicious_span_covers_whole_statements(tmp_path: Path) -> None:
    header = target_of(tmp_path, BRANCHY, failure("m.py", "grade", (4, 0.9), (8, 0.5)))
    assert suspicious_span(header) == (3, 4)  # the whole `if` header, not its body
    split = target_of(tmp_path, BRANCHY, failure("m.py", "grade", (7, 1.0), (8, 1.0)))
    assert suspicious_span(split) == (6, 8)  # ties: both, each statement whole
    on_def = target_of(tmp_path, BRANCHY, failure("m.py", "grade", (1, 1.0)))
    assert suspicious_span(on_def) is None  # the signature: the whole function is asked
    elsewhere = replace(failure("m.py", "grade", (7, 1.0)), suspects=(Suspect("x.py", 7, 1, 1, 0),))
    assert suspicious_span(target_of(tmp_path, BRANCHY, elsewhere)) is None


def test_lines_are_asked_for_only_when_the_budget_is_short(tmp_path: Path) -> None:
    tgt = target_of(tmp_path, BRANCHY, failure("m.py", "grade", (8, 1.0)))
    whole = 8 * 12 * 0.1  # 8 lines at 12 tokens a line, 0.1 s a token
    assert narrow("auto", tgt, whole + 1, 0.1) is None
    assert narrow("auto", tgt, whole - 1, 0.1) == (8, 8)
    assert narrow("auto", tgt, 0.5, None) is None  # no speed measured yet: the whole function
    assert narrow("always", tgt, 1000, None) == (8, 8)
    assert narrow("never", tgt, 0.5, 0.1) is None


def test_an_answer_for_the_lines_is_spliced_into_the_function(tmp_path: Path) -> None:
    tgt = target_of(tmp_path, BRANCHY, failure("m.py", "grade", (8, 1.0)))
    answer = splice("```python\nreturn 'B' if total >= 80 else 'C'\n```", tgt, (8, 8))
    result = rewrite(answer, tgt)
    assert not isinstance(result, str)
    assert result.lines[-1] == "    return 'B' if total >= 80 else 'C'\n"
    assert result.lines[:3] == [
        "def grade(score):\n",
        '    """A letter."""\n',
        "    if (score >= 90\n",
    ]
    whole = "```python\ndef grade(score):\n    return 'A'\n```"
    assert splice(whole, tgt, (8, 8)) == whole  # a whole function is taken as it is


def test_feedback_shows_failed_attempts_output_and_suspects_bounded(tmp_path: Path) -> None:
    tgt = target_of(tmp_path, BRANCHY, failure("m.py", "grade", (8, 0.75), (3, 0.5)))
    state = TargetState(tgt, rounds=1, unusable=["the answer is the unchanged function"])
    from provenfix.jobs.generation.code_model.repair_loop import Tried

    state.tried["c1"] = Tried(1, BRANCHY.replace("> 80", "> 81"))
    state.tried["c2"] = Tried(1, BRANCHY.replace("'C'", "'D'"))
    long_output = "\n".join(f"line {i} " + "x" * 300 for i in range(100))
    verdicts = {
        "c1": Validation(ValidationStatus.FAILED, detail=UNFIXED, failure_output=long_output),
        "c2": Validation(ValidationStatus.NO_TESTS, detail="unproven"),
    }
    text = feedback(state, verdicts)
    assert "Attempt 1 (round 1)" in text and "+    return 'B' if total > 81 else 'C'" in text
    assert "'D'" not in text  # no test judged it: nothing learned from it
    assert f"The tests said: {UNFIXED}" in text
    assert "line 99 " in text and "line 80 " not in text  # the end of the output, bounded
    assert len(excerpt(long_output)) <= 1200
    assert "- line 8 (Ochiai 0.75): `return 'B' if total > 80 else 'C'`" in text
    assert text.index("line 8 (Ochiai") < text.index("line 3 (Ochiai")
    assert "could not be used: the answer is the unchanged function" in text
    assert verdict_end(state, verdicts) is None  # one failed: another round may help
    verdicts["c1"] = replace(verdicts["c1"], status=ValidationStatus.NO_TESTS)
    assert verdict_end(state, verdicts) is RoundsEnd.UNTESTABLE
    verdicts["c2"] = replace(verdicts["c2"], status=ValidationStatus.PASSED)
    assert verdict_end(state, verdicts) is RoundsEnd.PROVEN


def test_a_server_backend_reports_the_tokens_of_each_call(server: Any) -> None:
    model = OpenAICompatibleModel(server.url, "coder")
    answers = model.complete(
        [ChatMessage("user", "hi")], samples=3, max_new_tokens=8, temperature=0.8,
        deadline_s=10, greedy_first=True,
    )  # fmt: skip
    assert isinstance(answers, Completions) and len(answers) == 3
    assert usage_of(answers) == TokenUsage(prompt=20, completion=15)  # two requests
    assert usage_of(["a plain list"]) is None


# --- on the real model ---------------------------------------------------------------------


class Recording:
    """The real model, unchanged, with each call recorded. `prefill` is off: SmolLM2 given a
    begun answer closes the block at once; asked plainly, it writes a function."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.name = model.name
        self.prefill = False
        self.calls: list[dict[str, Any]] = []

    def complete(self, messages: Sequence[ChatMessage], **options: Any) -> list[str]:
        self.calls.append({"messages": list(messages), **options})
        answers: list[str] = self.model.complete(messages, **options)
        return answers

    def prompt(self, call: int) -> str:
        return str(self.calls[call]["messages"][1].content)


@pytest.fixture(scope="module")
def smollm2() -> Any:
    from provenfix.jobs.generation.code_model.transformers_backend import TransformersModel

    try:
        return TransformersModel.load(ensure_local_model("smollm2-135m"), name="smollm2-135m")
    except ModelUnavailable as exc:
        pytest.fail(f"{exc} (scripts/setup --with-model installs it)", pytrace=False)


@pytest.fixture
def seeded() -> None:
    import torch

    torch.manual_seed(12)


SUBTRACTS = "def add(a, b):\n    total = a - b\n    return total\n"
UNCHANGED_BY_SMOLLM2 = "def add(a, b):\n    return a - b\n"  # its greedy answer copies it


@pytest.mark.model
def test_a_second_round_is_told_the_failing_output_and_the_suspicious_lines(
    smollm2: Any, tmp_path: Path
) -> None:
    model = Recording(smollm2)
    snap = snapshot_of(tmp_path, {"calc.py": SUBTRACTS})
    generator = ModelRepairGenerator(  # greedy: nothing re-sampled, one call a round
        model, samples=1, temperature=0, max_new_tokens=24, rounds=2, narrowing="never"
    )
    before = (smollm2.stats.prompt_tokens, smollm2.stats.generated_tokens)
    first = generator.generate([failure("calc.py", "add", (2, 1.0), (3, 0.5))], snap)
    assert first, f"the greedy answer rewrites `add`: {generator.notes}"
    asked = len(model.calls)
    second = generator.next_round(failed(first))
    assert second is not None
    told = model.prompt(asked)
    assert "Attempt 1 (round 1) changed `add` like this:\n```diff\n" in told
    assert f"The tests said: {UNFIXED}" in told
    assert f"The failing output:\n```text\n{OUTPUT}\n```" in told
    assert "- line 2 (Ochiai 1.00): `total = a - b`\n- line 3 (Ochiai 0.50): `return total`" in told
    assert "Write a different fix" in told and "Fix the bug in `add`" in told
    for cand in second:
        assert "round 2" in cand.description
        assert parse_error("calc.py", apply_candidates(SUBTRACTS, [cand])) is None
    assert generator.next_round(failed([*first, *second])) is None  # 2 rounds allowed
    (attempt,) = generator.attempts()
    assert (attempt.rounds, attempt.end, attempt.function) == (2, RoundsEnd.ROUNDS, "add")
    assert attempt.samples == sum(c["samples"] if c["samples"] > 1 else 1 for c in model.calls)
    assert attempt.candidates == len(first) + len(second)
    assert (attempt.prompt_tokens, attempt.completion_tokens) == (
        smollm2.stats.prompt_tokens - before[0],
        smollm2.stats.generated_tokens - before[1],
    )
    assert attempt.prompt_tokens and attempt.completion_tokens


@pytest.mark.model
@pytest.mark.usefixtures("seeded")
def test_an_unchanged_answer_is_dropped_counted_and_resampled(smollm2: Any, tmp_path: Path) -> None:
    model = Recording(smollm2)
    snap = snapshot_of(tmp_path, {"calc.py": UNCHANGED_BY_SMOLLM2})
    generator = ModelRepairGenerator(model, samples=1, max_new_tokens=24, time_budget_s=300)
    candidates = generator.generate([test_failure("calc.py", 2, "add")], snap)
    assert "answer 1 of 1: the answer is the unchanged function" in [
        n.message for n in generator.notes
    ]
    greedy, again = model.calls  # the greedy answer, then sampled ones in its place
    assert (greedy["samples"], again["samples"], again["greedy_first"]) == (1, 2, False)
    assert again["deadline_s"] < greedy["deadline_s"]  # what is left of the same share
    (attempt,) = generator.attempts()
    assert attempt.unchanged >= 1 and attempt.samples == 3 and attempt.rounds == 1
    assert attempt.end is RoundsEnd.NOT_VALIDATED
    assert all(c.replacement != c.original for c in candidates)


@pytest.mark.model
@pytest.mark.parametrize("budget", ["target", "analysis"])
def test_budgets_stop_the_rounds(smollm2: Any, tmp_path: Path, budget: str) -> None:
    model = Recording(smollm2)
    snap = snapshot_of(tmp_path, {"calc.py": SUBTRACTS})
    generator = ModelRepairGenerator(
        model, samples=1, max_new_tokens=16, time_budget_s=300, target_budget_s=40, rounds=3
    )
    first = generator.generate([failure("calc.py", "add", (2, 1.0))], snap)
    assert model.calls[0]["deadline_s"] == 40  # a function never gets more than its own
    (spent,) = [a.seconds for a in generator.attempts()]
    calls = len(model.calls)
    if budget == "target":  # under a second of its own time left: not worth a call
        generator.target_budget_s = spent + 0.5
    else:
        generator.time_budget_s = spent + 0.5
    assert generator.next_round(failed(first)) is None
    assert len(model.calls) == calls
    (attempt,) = generator.attempts()
    assert attempt.rounds == 1
    assert attempt.end is (
        RoundsEnd.TARGET_BUDGET if budget == "target" else RoundsEnd.ANALYSIS_BUDGET
    )


@pytest.mark.model
def test_a_short_budget_asks_for_the_suspicious_lines_only(smollm2: Any, tmp_path: Path) -> None:
    model = Recording(smollm2)
    snap = snapshot_of(tmp_path, {"calc.py": SUBTRACTS})
    generator = ModelRepairGenerator(  # greedy: nothing re-sampled
        model, samples=1, temperature=0, max_new_tokens=200, narrowing="always"
    )
    candidates = generator.generate([failure("calc.py", "add", (2, 1.0))], snap)
    asked = model.calls[0]
    assert "Fix it by rewriting only line 2; the rest of `add` stays" in model.prompt(0)
    assert "```python\ntotal = a - b\n```" in model.prompt(0)
    assert asked["max_new_tokens"] == span_tokens((2, 2), 200) < 200  # a line's worth
    for cand in candidates:
        assert parse_error("calc.py", apply_candidates(SUBTRACTS, [cand])) is None
        assert cand.start_line >= 1 and cand.end_line <= 3
    assert generator.attempts()[0].narrowed == 1


def run_pipeline(
    repo: Path, model: Any, *, rounds: int, max_new_tokens: int = 64
) -> tuple[Report, ModelRepairGenerator]:
    settings = AnalysisSettings()
    generator = ModelRepairGenerator(
        model, samples=1, max_new_tokens=max_new_tokens, time_budget_s=300, rounds=rounds
    )
    stages = Stages(
        analyzers=lambda change, scratch: [ComplexityAnalyzer(settings)],
        generators=[generator],
        validation=ValidationStage(LocalTestEnvironment(python=sys.executable, timeout_s=120)),
    )
    return Pipeline(settings, stages).run(AnalysisRequest(repo, "main", "pr")), generator


@pytest.mark.model
@pytest.mark.usefixtures("seeded")
def test_the_report_records_rounds_samples_and_tokens(
    smollm2: Any, make_repo: MakeRepo, report_validator: Callable[[Any], None]
) -> None:
    repo = make_repo(BASE, HEAD)
    model = Recording(smollm2)
    report, _ = run_pipeline(repo.path, model, rounds=2, max_new_tokens=16)
    (attempt,) = report.model_attempts
    assert (attempt.path, attempt.function) == ("calc.py", "mean")
    assert (attempt.rounds, attempt.end) == (2, RoundsEnd.ROUNDS), attempt  # SmolLM2 fixes nothing
    assert attempt.samples >= 2 and attempt.prompt_tokens and attempt.completion_tokens
    second = next(c for c in model.calls if "Write a different fix" in str(c["messages"]))
    told = str(second["messages"][1].content)  # the real localization's suspect, and verdict
    assert "(Ochiai 1.00): `return sum(values) / (len(values) + 1)`" in told
    assert "The tests said: does not make the failing test(s) pass" in told
    document = report_to_dict(report)
    report_validator(document)
    (listed,) = document["model_attempts"]
    assert listed["rounds"] == attempt.rounds and listed["end"] == attempt.end.value
    assert listed["prompt_tokens"] == attempt.prompt_tokens
    assert "calc.py::mean: " in render_text(report)
    assert "Code model rounds" in render_markdown(report)
    assert "model_attempts" not in json.dumps(report_to_dict(replace(report, model_attempts=())))


class ScriptedRounds:
    """CONTROL FLOW ONLY, not a model: round r answers `answers[r - 1]`, deterministically."""

    def __init__(self, answers: Sequence[str]) -> None:
        self.name, self.prefill = "scripted-rounds", True
        self.answers = list(answers)
        self.asked: list[list[ChatMessage]] = []

    def complete(self, messages: Sequence[ChatMessage], **options: Any) -> list[str]:
        self.asked.append(list(messages))
        answer = self.answers[min(len(self.asked), len(self.answers)) - 1]
        return Completions([messages[-1].content + answer], usage=TokenUsage(100, 10))


def test_scripted_control_flow_round_two_fixes_what_round_one_missed(
    make_repo: MakeRepo,
) -> None:
    repo = make_repo(BASE, HEAD)
    model = ScriptedRounds([WRONG, RIGHT])
    report, _ = run_pipeline(repo.path, model, rounds=3)
    (suggestion,) = [s for s in report.suggestions if s.committable]
    assert suggestion.replacement == "    return sum(values) / len(values)\n"
    assert "round 2" in suggestion.rationale
    first, second = model.asked  # proven in round 2: no third round
    told = second[1].content
    assert "Write a different fix" not in first[1].content
    assert "Attempt 1 (round 1)" in told and "+    return sum(values) // (len(values) + 1)" in told
    assert "The tests said: does not make the failing test(s) pass" in told
    assert "(Ochiai 1.00): `return sum(values) / (len(values) + 1)`" in told
    (attempt,) = report.model_attempts
    assert (attempt.rounds, attempt.samples, attempt.candidates) == (2, 2, 2)
    assert (attempt.prompt_tokens, attempt.completion_tokens, attempt.end) == (
        200,
        20,
        RoundsEnd.PROVEN,
    )
    assert report.stage_durations_s["validate"] > 0


def test_the_repository_can_ask_for_fewer_rounds() -> None:
    assert load_repo_config("model:\n  rounds: 1\n").model_rounds == 1
    assert AnalysisSettings().model_rounds is None
