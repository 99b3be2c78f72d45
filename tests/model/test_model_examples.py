"""Accepted fixes as examples in the model's prompt (jobs.generation.code_model.examples)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from model_support import ScriptedModel, finding, snapshot_of
from repo_support import MakeRepo
from test_model_pipeline import BASE, HEAD, RIGHT

from provenfix.jobs.config import PipelineConfig
from provenfix.jobs.factory import PipelineFactory
from provenfix.jobs.generation.code_model.backend import ChatMessage, CodeModel, ModelUnavailable
from provenfix.jobs.generation.code_model.examples import AcceptedExample
from provenfix.jobs.generation.code_model.generator import ModelRepairGenerator
from provenfix.jobs.generation.code_model.prompt import Target, build_messages, select_targets
from provenfix.jobs.generation.code_model.registry import ensure_local_model
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.report import Finding, FindingSource
from provenfix.jobs.settings import AnalysisSettings

MODULE = "import json\n\n\ndef load(text):\n    data = eval(text)\n    return data\n"
RULE = "python.eval-use"
CLOSE = AcceptedExample(
    RULE, "app/io.py", "    value = eval(raw)\n", "    value = json.loads(raw)\n"
)
FAR = AcceptedExample(RULE, "app/cfg.py", "x = eval(s)\n", "x = ast.literal_eval(s)\n")
THIRD = AcceptedExample(RULE, "app/z.py", "y = eval(t)\n", "y = int(t)\n")
LONG = AcceptedExample(
    RULE, "app/big.py", "".join(f"a{i} = eval(s)\n" for i in range(20)), "b = 1\n" * 20
)


class Examples:
    """An ExampleSource that answers from a table and records what it was asked."""

    def __init__(self, table: Mapping[str, Sequence[AcceptedExample]]) -> None:
        self.table = table
        self.asked: list[tuple[str, str, int]] = []

    def examples(self, rule_id: str, code: str, limit: int) -> Sequence[AcceptedExample]:
        self.asked.append((rule_id, code, limit))
        return list(self.table.get(rule_id, ()))[:limit]


class Broken:
    def examples(self, rule_id: str, code: str, limit: int) -> Sequence[AcceptedExample]:
        raise OSError("database is locked")


def semgrep(rule: str = RULE) -> Finding:
    return finding("m.py", 5, "load", rule=rule, source=FindingSource.SEMGREP)


def target(tmp_path: Path, *rules: str) -> Target:
    snap = snapshot_of(tmp_path, {"m.py": MODULE})
    (tgt,), _ = select_targets([semgrep(rule) for rule in rules], snap)
    return tgt


def test_the_closest_accepted_fixes_come_before_the_instruction(tmp_path: Path) -> None:
    source = Examples({RULE: [LONG, CLOSE, FAR, THIRD]})
    tgt = target(tmp_path, RULE)
    system, user = build_messages(tgt, examples=source)
    assert system == build_messages(tgt)[0]
    text = user.content
    heading = f"Fixes the maintainers of this repository accepted for the same rule (`{RULE}`):"
    assert text.count(heading) == 1
    assert (
        f"{heading}\nIn `app/io.py`:\n```diff\n-value = eval(raw)\n+value = json.loads(raw)\n```\n"
        "In `app/cfg.py`:\n```diff\n-x = eval(s)\n+x = ast.literal_eval(s)\n```\n\n"
        "Fix the bug in `load`"
    ) in text  # in the source's order, closest first, dedented, before the instruction
    assert "app/big.py" not in text  # over 30 lines
    assert "app/z.py" not in text  # two in all
    ((rule, code, _),) = source.asked
    assert rule == RULE and code == "def load(text):\n    data = eval(text)\n    return data"
    before = build_messages(tgt)[1].content
    assert text.replace(text[text.index(heading) : text.index("Fix the bug")], "") == before


def test_two_in_all_over_several_rules_and_no_twice_the_same_fix(tmp_path: Path) -> None:
    twin = AcceptedExample("other-rule", "b.py", FAR.original, FAR.replacement)
    third = AcceptedExample("other-rule", "app/z.py", THIRD.original, THIRD.replacement)
    source = Examples({RULE: [FAR], "other-rule": [twin, third]})
    text = build_messages(target(tmp_path, RULE, "other-rule"), examples=source)[1].content
    assert "(`python.eval-use`):\nIn `app/cfg.py`" in text
    assert "(`other-rule`):\nIn `app/z.py`" in text and "b.py" not in text
    assert [a[0] for a in source.asked] == [RULE, "other-rule"]


def test_without_examples_the_prompt_is_as_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tgt = target(tmp_path, RULE)
    plain = build_messages(tgt)
    assert build_messages(tgt, examples=None) == plain
    assert build_messages(tgt, examples=Examples({})) == plain
    assert build_messages(tgt, examples=Examples({RULE: [LONG]})) == plain
    with caplog.at_level(logging.WARNING, logger="provenfix.model"):
        assert build_messages(tgt, examples=Broken()) == plain
    assert "no accepted examples for python.eval-use (database is locked)" in caplog.text


def test_the_generator_shows_the_examples_and_survives_a_broken_source(tmp_path: Path) -> None:
    snap = snapshot_of(tmp_path, {"m.py": MODULE})
    answer = "```python\ndef load(text):\n    data = json.loads(text)\n    return data\n```"
    for source, shown in ((Examples({RULE: [CLOSE]}), True), (Broken(), False)):
        model = ScriptedModel([answer])
        generator = ModelRepairGenerator(model, samples=1, examples=source)
        (candidate,) = generator.generate([semgrep()], snap)
        assert candidate.replacement == "    data = json.loads(text)\n"
        (messages,) = [c["messages"] for c in model.calls]
        assert isinstance(messages, list)
        assert ("+value = json.loads(raw)" in messages[1].content) is shown


def test_the_factory_passes_the_examples_to_the_model(make_repo: MakeRepo) -> None:
    repo = make_repo(BASE, HEAD)
    fix = AcceptedExample("test-failure", "stats.py", "    return n / 0\n", "    return n / 1\n")
    source = Examples({"test-failure": [fix]})
    model = ScriptedModel([RIGHT], prefill=True)
    factory = PipelineFactory(PipelineConfig(validation="none", python=sys.executable), model=model)
    pipeline = factory.pipeline(AnalysisSettings(), examples=source)
    pipeline.run(AnalysisRequest(repo.path, "main", "pr"))
    (messages,) = [c["messages"] for c in model.calls]
    assert isinstance(messages, list)
    assert "In `stats.py`:\n```diff\n-return n / 0\n+return n / 1\n```" in messages[1].content


class Recording:
    """A real model, with the conversations it was given kept."""

    def __init__(self, model: CodeModel) -> None:
        self.model = model
        self.name = model.name
        self.prefill = model.prefill
        self.asked: list[list[ChatMessage]] = []

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        samples: int,
        max_new_tokens: int,
        temperature: float,
        deadline_s: float,
        greedy_first: bool = False,
    ) -> list[str]:
        self.asked.append(list(messages))
        return self.model.complete(
            messages,
            samples=samples,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            deadline_s=deadline_s,
            greedy_first=greedy_first,
        )


@pytest.mark.model
def test_a_real_model_is_given_the_accepted_fixes(tmp_path: Path) -> None:
    from provenfix.jobs.generation.code_model.transformers_backend import TransformersModel

    try:
        real = TransformersModel.load(ensure_local_model("smollm2-135m"), name="smollm2-135m")
    except ModelUnavailable as exc:
        pytest.fail(f"{exc} (scripts/setup --with-model installs it)", pytrace=False)
    model = Recording(real)
    snap = snapshot_of(tmp_path, {"m.py": MODULE})
    generator = ModelRepairGenerator(
        model,
        samples=1,
        max_new_tokens=24,
        time_budget_s=120,
        examples=Examples({RULE: [CLOSE]}),
    )
    generator.generate([semgrep()], snap)
    ((_, user, *_),) = model.asked
    assert "(`python.eval-use`):\nIn `app/io.py`:\n```diff\n-value = eval(raw)\n" in user.content
    assert real.stats.calls == 1 and real.stats.generated_tokens > 0  # the model did answer
