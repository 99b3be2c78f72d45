"""Differential replay's host-side parts: value encoding, generated inputs, the verdict on a
replay, and the speed-up interval."""

from __future__ import annotations

import math
from typing import Any

import pytest

from provenfix.jobs.validation import probe_values as values
from provenfix.jobs.validation.generated_inputs import generated_calls
from provenfix.jobs.validation.probe import RecordedFunction, ReplayResult
from provenfix.jobs.validation.replay import ReplayPlan, judge_replay, speed_interval
from provenfix.jobs.validation.testrun import ReplaySpec


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        2**70,
        1.5,
        float("nan"),
        -0.0,
        "text",
        b"\x00\xff",
        1 + 2j,
        [1, (2, 3)],
        {"b": 1, "a": [None]},
        {3, 1, 2},
        frozenset({"x"}),
    ],
)
def test_plain_values_survive_the_trip(value: Any) -> None:
    encoded = values.encode(value)
    decoded = values.decode(values.encode(value))
    assert values.canonical(values.encode(decoded)) == values.canonical(encoded)
    assert type(decoded) is type(value)


def test_encodings_differ_exactly_where_behaviour_can() -> None:
    same = values.canonical
    assert same(values.encode(1)) != same(values.encode(1.0))
    assert same(values.encode(True)) != same(values.encode(1))
    assert same(values.encode([1, 2])) != same(values.encode((1, 2)))
    assert same(values.encode({"a": 1, "b": 2})) != same(values.encode({"b": 2, "a": 1}))
    assert same(values.encode({2, 1})) == same(values.encode({1, 2}))
    assert same(values.encode(math.nan)) == same(values.encode(float("nan")))


@pytest.mark.parametrize("value", [object(), [1, object()], "x" * 30000, list(range(60000))])
def test_other_values_are_unencodable(value: Any) -> None:
    with pytest.raises(values.Unencodable):
        values.encode(value)


SOURCE = """def scale(values: list[int], factor: int) -> list[int]:
    return [v * factor for v in values]


def untyped(a, b):
    return a + b


def star(*args):
    return args


class Box:
    def method(self, x: int) -> int:
        return x
"""


def recorded(*calls: tuple[Any, ...]) -> list[dict[str, Any]]:
    return [{"args": values.encode([list(c), {}]), "result": 0} for c in calls]


def test_inputs_are_generated_from_annotations_deterministically() -> None:
    first = generated_calls(SOURCE, "scale", [], count=30)
    assert len(first) >= 20 and first == generated_calls(SOURCE, "scale", [], count=30)
    for encoded in first:
        (items, factor), keywords = values.decode(encoded)
        assert isinstance(items, list) and all(isinstance(i, int) for i in items)
        assert isinstance(factor, int) and keywords == {}


def test_inputs_follow_the_recorded_types_without_annotations() -> None:
    assert generated_calls(SOURCE, "untyped", []) == ()  # nothing to go on
    made = generated_calls(SOURCE, "untyped", recorded(("a", "b"), ("c", "d")))
    assert made and all(isinstance(values.decode(m)[0][0], str) for m in made)
    assert generated_calls(SOURCE, "untyped", recorded(("a", "b"), (1, 2))) == ()  # mixed


def test_no_inputs_for_varargs_methods_or_missing_functions() -> None:
    assert generated_calls(SOURCE, "star", recorded((1,))) == ()
    assert generated_calls(SOURCE, "Box.method", []) == ()
    assert generated_calls(SOURCE, "nowhere", []) == ()
    assert generated_calls("def broken(:\n", "broken", []) == ()


def args(*positional: Any) -> Any:
    return values.encode([list(positional), {}])


def plan_for(recording: RecordedFunction, generated: tuple[Any, ...] = ()) -> ReplayPlan:
    calls = (*(c["args"] for c in recording.calls), *generated)
    return ReplayPlan(
        specs=(ReplaySpec("m.py", "inc", "m", calls),),
        recorded={"inc": recording},
        generated={"inc": len(generated)},
    )


RECORDING = RecordedFunction(
    path="m.py",
    qualname="inc",
    module="m",
    total=5,
    not_replayable=1,
    calls=(
        {"args": args(1), "result": 2},
        {"args": args(2), "result": 3},
        {"args": args(3), "result": 99},  # head answers otherwise when replayed: state
    ),
)


def test_replay_rejects_a_preserving_candidate_that_answers_otherwise() -> None:
    results = ReplayResult(
        "m.py",
        "inc",
        "",
        (
            ({"result": 2}, {"result": 3}),
            ({"result": 3}, {"result": 3}),
            ({"result": 4}, {"result": 4}),
            ({"result": 11}, {"raises": "TypeError"}),  # a generated input
        ),
    )
    verdict = judge_replay(plan_for(RECORDING, (args(10),)), [results], preserving=True)
    assert verdict is not None
    evidence = verdict.evidence
    assert (evidence.calls_recorded, evidence.calls_replayed, evidence.not_replayable) == (5, 2, 2)
    assert (evidence.inputs_generated, evidence.calls_changed) == (1, 2)
    assert "`inc(1)`: 2 → 3 (recorded)" in verdict.problem
    repair = judge_replay(plan_for(RECORDING, (args(10),)), [results], preserving=False)
    assert repair is not None and repair.problem == "" and repair.evidence.calls_changed == 2


def test_replay_holds_when_every_call_answers_alike() -> None:
    answers = ({"result": 2}, {"result": 3}, {"result": 4})
    same = ReplayResult("m.py", "inc", "", tuple((a, a) for a in answers))
    verdict = judge_replay(plan_for(RECORDING), [same], preserving=True)
    assert verdict is not None and verdict.problem == ""
    assert verdict.evidence.calls_replayed == 2 and verdict.evidence.calls_changed == 0


def test_a_function_that_cannot_be_loaded_is_reported() -> None:
    broken = ReplayResult("m.py", "inc", "ImportError: no", ())
    verdict = judge_replay(plan_for(RECORDING), [broken], preserving=True)
    assert verdict is not None and "could not be loaded" in verdict.problem


def test_the_speed_up_interval() -> None:
    head = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02]
    fast = speed_interval(head, [h / 3 for h in head], calls=4)
    assert fast is not None and fast.significant and fast.low == pytest.approx(3.0, rel=1e-3)
    noisy = speed_interval([1.0, 1.3, 0.8, 1.2], [1.1, 0.9, 1.0, 1.0], calls=4)
    assert noisy is not None and not noisy.significant and noisy.low < 1 < noisy.high
    assert speed_interval([1.0, 1.0], [0.5, 0.5], calls=1) is None  # too few rounds
