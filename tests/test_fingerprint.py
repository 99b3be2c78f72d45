from __future__ import annotations

from provenfix.jobs.fingerprint import Fingerprinter
from provenfix.jobs.source import normalize_code, parse


def test_ids_survive_moves_and_reformatting() -> None:
    a = Fingerprinter()("eq-none", "m.py", "f", "x == None  # compare")
    b = Fingerprinter()("eq-none", "m.py", "f", "x  ==  None")
    assert a == b


def test_ids_differ_by_rule_file_and_function() -> None:
    base = Fingerprinter()("eq-none", "m.py", "f", "x == None")
    assert base != Fingerprinter()("other", "m.py", "f", "x == None")
    assert base != Fingerprinter()("eq-none", "n.py", "f", "x == None")
    assert base != Fingerprinter()("eq-none", "m.py", "g", "x == None")


def test_identical_matches_in_one_function_get_distinct_ids() -> None:
    fp = Fingerprinter()
    assert fp("r", "m.py", "f", "x == None") != fp("r", "m.py", "f", "x == None")


def test_enclosing_function_is_the_innermost() -> None:
    source = parse(
        "m.py",
        b"class A:\n    def f(self):\n        def g():\n            return 1\n        return g\n",
    )
    assert source.enclosing_function(4) == "A.f.g"
    assert source.enclosing_function(5) == "A.f"
    assert source.enclosing_function(1) is None


def test_normalize_code_drops_comments_and_layout() -> None:
    assert normalize_code("a = [1,\n  2]  # note") == normalize_code("a = [1, 2]")
