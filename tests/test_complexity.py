from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from repo_support import MakeRepo

from provenfix.jobs.complexity import ComplexityAnalyzer
from provenfix.jobs.diff import compute_change, open_repo
from provenfix.jobs.fingerprint import Fingerprinter
from provenfix.jobs.settings import AnalysisSettings
from provenfix.jobs.snapshot import take_snapshot


def branchy(name: str, branches: int) -> str:
    body = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(branches))
    return f"def {name}(x):\n{body}    return -1\n"


def analyze(repo_path: Path, tmp: Path, settings: AnalysisSettings | None = None):  # type: ignore[no-untyped-def]
    settings = settings or AnalysisSettings()
    change = compute_change(open_repo(repo_path), "main", "pr")
    snapshot = take_snapshot(change, settings, tmp / "snap")
    return ComplexityAnalyzer(settings).analyze(snapshot, Fingerprinter())


def test_change_that_pushes_a_function_over_the_limit(make_repo: MakeRepo, tmp_path: Path) -> None:
    stable = branchy("stable", 14)  # already complex, untouched: never reported
    repo = make_repo(
        {"m.py": stable + "\n\n" + branchy("grows", 5)},
        {"m.py": stable + "\n\n" + branchy("grows", 12)},
    )
    part = analyze(repo.path, tmp_path)
    (finding,) = part.findings
    assert finding.rule_id == "complexity-above-threshold"
    assert finding.function == "grows"
    assert finding.start_line == stable.count("\n") + 3  # the def line of `grows`
    assert "13 (rank C)" in finding.message and "6 (rank B)" in finding.message
    (metrics,) = part.metrics
    assert (metrics.name, metrics.cc_base, metrics.cc_head) == ("grows", 6, 13)
    assert metrics.mi_base is not None and metrics.mi_head < metrics.mi_base


def test_already_complex_function_made_notably_worse(make_repo: MakeRepo, tmp_path: Path) -> None:
    repo = make_repo({"m.py": branchy("f", 12)}, {"m.py": branchy("f", 16)})
    (finding,) = analyze(repo.path, tmp_path).findings
    assert finding.rule_id == "complexity-increased"


def test_small_increase_of_a_complex_function_is_not_reported(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    repo = make_repo({"m.py": branchy("f", 12)}, {"m.py": branchy("f", 13)})
    assert analyze(repo.path, tmp_path).findings == ()


def test_threshold_is_configurable_and_methods_are_qualified(
    make_repo: MakeRepo, tmp_path: Path
) -> None:
    method = "class C:\n" + "".join("    " + line + "\n" for line in branchy("m", 4).splitlines())
    repo = make_repo({"c.py": "class C:\n    pass\n"}, {"c.py": method})
    part = analyze(repo.path, tmp_path, AnalysisSettings(complexity_threshold=3))
    (finding,) = [f for f in part.findings if f.rule_id.startswith("complexity")]
    assert finding.function == "C.m" and "new in this change" in finding.message
    assert part.metrics[0].cc_base is None


TRICKY = [
    'def f(a,\n      b):  # two lines\n    """Doc\n\n    string."""\n'
    "    return (a +\n            b)\n",
    "x = 1; y = 2\nif x: y = 3  # comment\n\n\n# alone\n"
    "z = [\n    1,  # one\n    # between\n    2,\n]\n",
    "s = 'a' \\\n    'b'\nt = '''\n  in a string: ( [ {\n'''\nclass C: pass\n",
    "def g():\n    return f'{1}' \\\n        + \"x\"\n\x0c\ndef h(): return 1\n",
    "a = 1\r\nb = (2,\r\n     3)\r\n",
    "a = 1\rb = 2\n",
    "if True:\n    pass\n  # dedented comment\nelse_ = '''x'''\n",
    'r"""raw\ndocstring"""\nb"bytes" ; u"x"\n',
    "x = 1\n   ",  # whitespace after the last logical line
    "\u05e2\u05b4\u05d1 = 1\n",  # a combining mark: tokenize's error token, radon's SyntaxError
    "",
]


def test_raw_metrics_are_radons() -> None:
    from radon.raw import analyze

    from provenfix.jobs.radon_raw import raw_metrics

    def outcome(measure: Callable[[str], object], source: str) -> object:
        try:
            return measure(source)
        except SyntaxError as exc:
            return str(exc)

    for source in TRICKY:
        assert outcome(raw_metrics, source) == outcome(analyze, source), source
