"""Prompting, answer parsing, re-indenting and minimal hunks, on hand-written answers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from model_support import ScriptedModel, finding, snapshot_of, test_failure

from provenfix.jobs.generation.code_model.decoding import answer_complete
from provenfix.jobs.generation.code_model.generator import ModelRepairGenerator
from provenfix.jobs.generation.code_model.parse import code_blocks, rewrite
from provenfix.jobs.generation.code_model.prompt import Target, build_messages, select_targets
from provenfix.jobs.generation.edits import apply_candidates, parse_error
from provenfix.jobs.report import FindingSource, SuggestionKind
from provenfix.jobs.source import parse

MODULE = '''"""Prices."""

import math
from decimal import Decimal

RATE = 0.2
UNUSED = 1


def helper(x):
    """Round a price."""
    return round(x, 2)


class Cart(Base):
    currency = "EUR"

    def total(self, items):
        """Sum with tax."""
        net = sum(i.price for i in items)
        return helper(net * (1 - RATE))

    def count(self):
        return len(self.items)
'''

FIXED_TOTAL = '''```python
def total(self, items):
    """Sum with tax."""
    net = sum(i.price for i in items)
    return helper(net * (1 + RATE))
```'''


def target(tmp_path: Path, text: str = MODULE, line: int = 21) -> Target:
    snap = snapshot_of(tmp_path, {"shop/cart.py": text})
    (found,), notes = select_targets([test_failure("shop/cart.py", line, None)], snap)
    assert notes == []
    return found


def test_prompt_holds_the_problem_the_function_and_the_context_it_uses(tmp_path: Path) -> None:
    snap = snapshot_of(
        tmp_path,
        {
            "shop/cart.py": MODULE,
            "tests/test_m.py": "def check(f):\n    assert f() == 4\n\n\n"
            "def test_it():\n    check(total)\n",
        },
    )
    targets, _ = select_targets([test_failure("shop/cart.py", 21, "Cart.total")], snap)
    system, user = build_messages(targets[0], lambda p: (tmp_path / p).read_text())
    assert system.role == "system" and "```python" in system.content
    text = user.content
    assert "`Cart.total` (lines 18-21 of `shop/cart.py`)" in text
    assert "reported at line 21: `return helper(net * (1 - RATE))`" in text
    assert "assert 3 == 4" in text  # the failure message
    # the failing test's source, after the helper of its file that it calls
    assert "def check(f):\n    assert f() == 4\n\ndef test_it():\n    check(total)" in text
    assert "import math" in text and "RATE = 0.2" in text and "UNUSED" not in text
    assert "class Cart(Base):" in text and 'currency = "EUR"' in text
    assert "def helper(x):" in text and "round(x, 2)" not in text  # a signature, not a body
    assert "def total(self, items):\n    " in text  # dedented to column 0
    assert "def count" not in text  # not used by total


def test_fenced_answer_is_reindented_into_a_minimal_hunk(tmp_path: Path) -> None:
    model = ScriptedModel([FIXED_TOTAL])
    snap = snapshot_of(tmp_path, {"shop/cart.py": MODULE})
    failure = test_failure("shop/cart.py", 21, "Cart.total")
    (cand,) = ModelRepairGenerator(model, samples=1).generate([failure], snap)
    assert (cand.start_line, cand.end_line) == (21, 21)
    assert cand.original == "        return helper(net * (1 - RATE))\n"
    assert cand.replacement == "        return helper(net * (1 + RATE))\n"
    assert cand.kind is SuggestionKind.REPAIR and cand.source == "model:scripted"
    assert cand.finding_ids == (failure.id,)
    assert "so that `tests/test_m.py::test_it` passes" in cand.description
    assert "code model scripted" in cand.description
    patched = apply_candidates(MODULE, [cand])
    assert parse_error("shop/cart.py", patched) is None


def test_answer_at_another_indentation_and_in_a_class_wrapper(tmp_path: Path) -> None:
    wrapped = (
        "Here you go:\n```py\nclass Cart(Base):\n    def total(self, items):\n"
        '        """Sum with tax."""\n        net = sum(i.price for i in items)\n'
        "        return helper(net * (1 + RATE))\n```\nDone."
    )
    result = rewrite(wrapped, target(tmp_path))
    assert not isinstance(result, str)
    assert result.lines[0] == "    def total(self, items):\n"
    assert result.lines[-1] == "        return helper(net * (1 + RATE))\n"


def test_unfenced_code_is_taken_when_it_parses(tmp_path: Path) -> None:
    bare = "def total(self, items):\n    net = 0\n    return helper(net * (1 + RATE))\n"
    assert code_blocks(bare) == [bare]
    result = rewrite(bare, target(tmp_path))
    assert not isinstance(result, str)
    assert result.lines[1:3] == ['        """Sum with tax."""\n', "        net = 0\n"]


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        ("I am not sure what the bug is.", "no Python code"),
        ("The fix: change `-` to `+` in total.", "no Python code"),
        ("```python\ndef subtotal(self, items):\n    return 1\n```", "defines `subtotal`, not"),
        ("```python\ndef total(self, items)\n    return 1\n```", "does not parse"),
        ("```python\ndef total(self, items):\n    return (1\n```", "does not parse"),
        ("```\nnet = 1\n```", "defines no function, not `total`"),
        (FIXED_TOTAL.replace("1 + RATE", "1 - RATE"), "unchanged"),
        (
            FIXED_TOTAL.replace("1 + RATE", "1 - RATE").replace("Sum with tax", "Other doc"),
            "unchanged",
        ),
    ],
)
def test_garbage_answers_give_a_reason_not_a_candidate(
    tmp_path: Path, answer: str, reason: str
) -> None:
    result = rewrite(answer, target(tmp_path))
    assert isinstance(result, str) and reason in result


def test_garbage_answers_leave_notes_and_never_raise(tmp_path: Path) -> None:
    model = ScriptedModel(["no idea", "```python\ndef total(self):\n  return (\n```"])
    snap = snapshot_of(tmp_path, {"shop/cart.py": MODULE})
    generator = ModelRepairGenerator(model, samples=2)
    assert generator.generate([test_failure("shop/cart.py", 21, "Cart.total")], snap) == []
    messages = [n.message for n in generator.notes]
    assert messages[0] == "answer 1 of 2: the answer holds no Python code"
    assert "answer 2 of 2: the code does not parse" in messages[1]


def test_samples_are_deduplicated_by_ast_and_ordered_greedy_first(tmp_path: Path) -> None:
    same_other_layout = FIXED_TOTAL.replace("(1 + RATE))", "(1+RATE))  # fixed")
    other = FIXED_TOTAL.replace("net * (1 + RATE)", "net + net * RATE")
    model = ScriptedModel([other, FIXED_TOTAL, same_other_layout, "junk"])
    snap = snapshot_of(tmp_path, {"shop/cart.py": MODULE})
    cands = ModelRepairGenerator(model, samples=4).generate(
        [test_failure("shop/cart.py", 21, "Cart.total")], snap
    )
    assert [c.replacement.strip() for c in cands] == [
        "return helper(net + net * RATE)",  # the greedy answer
        "return helper(net * (1 + RATE))",  # two samples agree on it (one kept)
    ]
    assert "greedy answer" in cands[0].description
    assert "2 of 4 answers agree" in cands[1].description
    assert model.calls[0]["samples"] == 4 and model.calls[0]["greedy_first"] is True


def test_signature_change_is_kept_but_said(tmp_path: Path) -> None:
    answer = FIXED_TOTAL.replace("(self, items)", "(self, items, rate=RATE)")
    model = ScriptedModel([answer])
    snap = snapshot_of(tmp_path, {"shop/cart.py": MODULE})
    generator = ModelRepairGenerator(model, samples=1)
    (cand,) = generator.generate([test_failure("shop/cart.py", 21, "Cart.total")], snap)
    assert "changes the signature of `total`" in cand.description
    assert (cand.start_line, cand.end_line) == (18, 21)  # first and last line both changed
    assert any("signature" in n.message for n in generator.notes)


def test_inserted_and_deleted_lines_make_valid_hunks(tmp_path: Path) -> None:
    inserted = FIXED_TOTAL.replace(
        "    net = sum", "    if not items:\n        return 0\n    net = sum"
    ).replace("1 + RATE", "1 - RATE")
    result = rewrite(inserted, target(tmp_path))
    assert not isinstance(result, str)
    model = ScriptedModel([inserted])
    snap = snapshot_of(tmp_path, {"shop/cart.py": MODULE})
    (cand,) = ModelRepairGenerator(model, samples=1).generate(
        [test_failure("shop/cart.py", 21, "Cart.total")], snap
    )
    assert cand.original == '        """Sum with tax."""\n'  # anchored on the line above
    assert cand.replacement.endswith("            return 0\n")
    assert "if not items" in apply_candidates(MODULE, [cand])

    deleted = '```python\ndef total(self, items):\n    """Sum with tax."""\n    return 0\n```'
    (cand,) = ModelRepairGenerator(ScriptedModel([deleted]), samples=1).generate(
        [test_failure("shop/cart.py", 21, "Cart.total")], snap
    )
    assert (cand.start_line, cand.end_line) == (20, 21)
    assert cand.replacement == "        return 0\n"


def test_crlf_files_and_multiline_strings_keep_their_bytes(tmp_path: Path) -> None:
    text = 'def f(x):\r\n    msg = """a\r\nb"""\r\n    return x - 1\r\n'
    snap = snapshot_of(tmp_path, {"m.py": text})
    (tgt,), _ = select_targets([test_failure("m.py", 3, "f")], snap)
    assert tgt.text == text
    answer = '```python\n    def f(x):\n        msg = """a\nb"""\n        return x + 1\n```'
    model = ScriptedModel([answer])
    (cand,) = ModelRepairGenerator(model, samples=1).generate([test_failure("m.py", 3, "f")], snap)
    assert cand.original == "    return x - 1\r\n" and cand.replacement == "    return x + 1\r\n"


def test_what_a_model_is_asked_to_fix(tmp_path: Path) -> None:
    snap = snapshot_of(
        tmp_path,
        {
            "m.py": "X = 1\n\n\ndef f():\n    return 1\n",
            "tests/test_m.py": "def test_f():\n    pass\n",
        },
    )
    semgrep_with_fix = finding("m.py", 5, "f", rule="r", source=FindingSource.SEMGREP, fix="2")
    semgrep_no_fix = finding("m.py", 5, "f", rule="r2", source=FindingSource.SEMGREP)
    complexity = finding("m.py", 4, "f")
    module_level = test_failure("m.py", 1, None)
    in_test = test_failure("tests/test_m.py", 1, "test_f")
    targets, notes = select_targets(
        [semgrep_with_fix, complexity, semgrep_no_fix, module_level, in_test], snap
    )
    assert [(t.qualname, t.mode, len(t.findings)) for t in targets] == [
        ("f", "repair", 1),
        ("f", "simplify", 1),
    ]
    assert [n.message for n in notes] == [
        "not inside a function: nothing for a model to rewrite",
        "located in a test: tests are never rewritten to pass",
    ]


def test_complexity_rewrites_must_be_simpler(tmp_path: Path) -> None:
    branchy = (
        "def f(x):\n"
        + "".join(f"    if x == {i}:\n        return {i}\n" for i in range(12))
        + "    return -1\n"
    )
    simpler = "```python\ndef f(x):\n    return x if x in range(12) else -1\n```"
    not_simpler = "```python\n" + branchy.replace("return -1", "return -2") + "```"
    snap = snapshot_of(tmp_path, {"m.py": branchy})
    generator = ModelRepairGenerator(ScriptedModel([simpler, not_simpler]), samples=2)
    (cand,) = generator.generate([finding("m.py", 1, "f")], snap)
    assert cand.kind is SuggestionKind.REFACTOR
    assert "cyclomatic complexity 13 → 2" in cand.description
    assert any("not simpler" in n.message for n in generator.notes)
    assert "simpler equivalent" in last_prompt(generator)


def last_prompt(generator: ModelRepairGenerator) -> str:
    model = generator.model
    assert isinstance(model, ScriptedModel)
    messages = model.calls[-1]["messages"]
    assert isinstance(messages, list)
    return str(messages[-1].content)


def test_time_budget_is_shared_and_then_stops(tmp_path: Path) -> None:
    text = "def f(x):\n    return x\n\n\ndef g(x):\n    return x\n"
    snap = snapshot_of(tmp_path, {"m.py": text})
    model = ScriptedModel([])
    generator = ModelRepairGenerator(model, samples=2, time_budget_s=100)
    generator.generate([test_failure("m.py", 2, "f"), test_failure("m.py", 6, "g", "t::b")], snap)
    first, second = (float(str(c["deadline_s"])) for c in model.calls)
    assert 49 < first <= 50 and 99 < second <= 100  # a fair share, then all that is left
    generator = ModelRepairGenerator(model, samples=2, time_budget_s=0.5)
    assert generator.generate([test_failure("m.py", 2, "f")], snap) == []
    assert "time budget was spent" in generator.notes[-1].message


def test_a_left_out_docstring_is_kept(tmp_path: Path) -> None:
    answer = (
        "```python\ndef total(self, items):\n  net = sum(i.price for i in items)\n  return net\n```"
    )
    result = rewrite(answer, target(tmp_path))
    assert not isinstance(result, str)
    assert result.lines == [
        "    def total(self, items):\n",
        '      """Sum with tax."""\n',
        "      net = sum(i.price for i in items)\n",
        "      return net\n",
    ]
    snap = snapshot_of(tmp_path, {"shop/cart.py": MODULE})
    (tgt,), _ = select_targets([test_failure("shop/cart.py", 21, "Cart.total")], snap)
    assert "(leave out its docstring: it is kept as it is)" in build_messages(tgt)[1].content


def test_a_prefilled_answer_begins_with_the_signature_and_docstring(tmp_path: Path) -> None:
    snap = snapshot_of(tmp_path, {"shop/cart.py": MODULE})
    failure = test_failure("shop/cart.py", 21, "Cart.total")
    (tgt,), _ = select_targets([failure], snap)
    *_, begun = build_messages(tgt, prefill=True)
    assert begun.role == "assistant"
    # the docstring is in the prompt already: the answer begins with a placeholder
    assert begun.content == '```python\ndef total(self, items):\n    """..."""\n'
    assert "leave out its docstring" not in build_messages(tgt, prefill=True)[1].content
    # the model writes only the body; the backend returns the begun answer with it
    body = "    net = sum(i.price for i in items)\n    return helper(net * (1 + RATE))\n```"
    model = ScriptedModel([body], prefill=True)
    (cand,) = ModelRepairGenerator(model, samples=1).generate([failure], snap)
    assert cand.replacement == "        return helper(net * (1 + RATE))\n"  # docstring kept
    assert build_messages(tgt, prefill=False)[-1].role == "user"
    multi = '```python\ndef total(self, items):\n    """\n    ...\n    """\n    return 0\n```'
    result = rewrite(multi, tgt)
    assert not isinstance(result, str)
    assert result.lines[1:] == ['        """Sum with tax."""\n', "        return 0\n"]


def test_when_an_answer_is_complete() -> None:
    begun = '```python\ndef f(x):\n    """Doc\nwith a line at column 0."""\n'
    assert not answer_complete(begun, "")  # column 0 inside the begun docstring
    assert not answer_complete(begun, "    return x\n")
    assert not answer_complete(begun, "    return x\n\n# an example\n")
    assert answer_complete(begun, "    return x\n\nprint(f(1))")  # the function is over
    assert answer_complete(begun, "    return x\n```")
    assert not answer_complete("", "import os\n\ndef f(\n    a,\n) -> int:\n    return a\n")
    assert answer_complete("", "Here:\n```python\nx = 1\n```\nMore")


def test_prose_after_an_unclosed_block_is_dropped(tmp_path: Path) -> None:
    answer = (
        "```python\ndef total(self, items):\n    return helper(0)\n"
        "This fixes the sign because the rate is a tax.\n"
    )
    result = rewrite(answer, target(tmp_path))
    assert not isinstance(result, str)
    assert result.lines[-1] == "        return helper(0)\n"
    inside = "```python\ndef total(self, items):\n    return (\nnot code at all\n"
    result = rewrite(inside, target(tmp_path))
    assert isinstance(result, str) and "does not parse" in result


def test_a_broken_test_shows_the_model_what_the_change_did_to_the_function(
    tmp_path: Path,
) -> None:
    before = MODULE.replace("(1 - RATE)", "(1 + RATE)")
    snap = snapshot_of(tmp_path, {"shop/cart.py": MODULE})
    (head,) = snap.files
    base = parse("shop/cart.py", before.encode())
    snap = replace(snap, files=(replace(head, base=base),))
    broken = test_failure("shop/cart.py", 21, "Cart.total")
    (repair,), _ = select_targets([broken], snap)
    text = build_messages(repair)[1].content
    assert "What this change did to `total` (unified diff, before → after):" in text
    assert "-    return helper(net * (1 + RATE))\n+    return helper(net * (1 - RATE))" in text
    # only for a broken test, and only when the function existed and changed
    (other,), _ = select_targets(
        [finding("shop/cart.py", 21, "Cart.total", rule="x", source=FindingSource.SEMGREP)], snap
    )
    assert "What this change did" not in build_messages(other)[1].content
    unchanged = replace(snap, files=(replace(head, base=head.head),))
    (same,), _ = select_targets([broken], unchanged)
    assert same.base is None and "What this change did" not in build_messages(same)[1].content
