"""The aliased and indirect forms of benchmarks/detection_corpus.py, kept by CI without network.

One pull request of small files, each injecting one defect the way the corpus does in real
libraries (benchmarks/detection_corpus/*.yaml): a set turned into a list used through a bound
method stored in a local, a helper that builds the list, comprehension and generator variants,
a name bound to a list in one branch and a set in the other, library functions and builtins
under another name. The pipeline runs as `provenfix analyze --no-validate` does (validation
off, the bundled rules); each defect must be reported on its line, and nothing outside the
lines the pull request changed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from repo_support import GitRepo

from provenfix.jobs.config import PipelineConfig
from provenfix.jobs.factory import build_pipeline
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.report import Finding, Report
from provenfix.jobs.settings import AnalysisSettings


@dataclass(frozen=True)
class Form:
    path: str
    rule: str
    base: str | None  # None: a file the pull request adds
    head: str
    marker: str  # text on the line the rule must be reported on

    @property
    def line(self) -> int:
        (line,) = [n for n, text in enumerate(self.head.splitlines(), 1) if self.marker in text]
        return line


FORMS = (
    Form(
        "dedupe.py",
        "membership-in-list-in-loop",
        base="""def unique_everseen(iterable):
    seen = set()
    seen_add = seen.add
    for element in iterable:
        if element not in seen:
            seen_add(element)
            yield element
""",
        # only the creation and the alias change; the test is an unchanged line
        head="""def unique_everseen(iterable):
    seen = []
    seen_add = seen.append
    for element in iterable:
        if element not in seen:
            seen_add(element)
            yield element
""",
        marker="seen = []",
    ),
    Form(
        "helper.py",
        "membership-in-list-in-loop",
        base="""def _names(rows):
    found = []
    for row in rows:
        found.append(row.name)
    return found
""",
        head="""def _names(rows):
    found = []
    for row in rows:
        found.append(row.name)
    return found


def known(rows, wanted):
    names = _names(rows)
    return [w for w in wanted if w in names]
""",
        marker="return [w for w in wanted if w in names]",
    ),
    Form(
        "branches.py",
        "membership-in-list-in-loop",
        base=None,
        head="""def missing(rows, wanted, ordered):
    if ordered:
        names = [r.name for r in rows]
    else:
        names = {r.name for r in rows}
    return any(w not in names for w in wanted)
""",
        marker="return any(w not in names for w in wanted)",
    ),
    Form(
        "default_none.py",
        "membership-in-list-in-loop",
        base="""def walk(nodes, visited=None):
    if visited is None:
        visited = set()
    for node in nodes:
        if node in visited:
            continue
        visited.add(node)
""",
        head="""def walk(nodes, visited=None):
    if visited is None:
        visited = []
    for node in nodes:
        if node in visited:
            continue
        visited.append(node)
""",
        marker="visited = []",
    ),
    Form(
        "config.py",
        "yaml-load-aliased-without-loader",
        base="""import yaml


def read(stream):
    return yaml.safe_load(stream)
""",
        head="""from yaml import load as parse_yaml


def read(stream):
    return parse_yaml(stream)
""",
        marker="return parse_yaml(stream)",
    ),
    Form(
        "calc.py",
        "eval-exec-dynamic",
        base="""import ast


def value(text):
    return ast.literal_eval(text)
""",
        head="""evaluate = eval


def value(text):
    return evaluate(text)
""",
        marker="return evaluate(text)",
    ),
    Form(
        "shell.py",
        "subprocess-shell-true",
        base="""import subprocess


def listing(folder):
    return subprocess.check_output(["ls", folder])
""",
        head="""import subprocess


def listing(folder):
    run = subprocess.check_output
    return run("ls " + folder, shell=True)
""",
        marker='return run("ls " + folder, shell=True)',
    ),
    Form(
        "options.py",
        "dict-get-none-default",
        base=None,
        head="""def prefixes(options, keys):
    option = options.get
    return [option(key, None) for key in keys]
""",
        marker="return [option(key, None) for key in keys]",
    ),
    Form(
        "reader.py",
        "open-without-with",
        base=None,
        head="""def lines(path):
    readline = open(path).readline
    return [readline() for _ in range(3)]
""",
        marker="readline = open(path).readline",
    ),
)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """One pull request holding every form, analyzed once (semgrep is the slow part)."""
    repo = GitRepo(tmp_path_factory.mktemp("forms") / "repo")
    repo.path.mkdir()
    repo.git("init", "-q", "-b", "main")
    repo.commit({"README": "forms\n", **{f.path: f.base for f in FORMS if f.base is not None}})
    repo.branch("pr")
    repo.commit({f.path: f.head for f in FORMS}, "inject the forms")
    pipeline = build_pipeline(AnalysisSettings(), PipelineConfig(validation="off"))
    return pipeline.run(AnalysisRequest(repo.path, "main", "pr"))


def _changed_lines(form: Form) -> set[int]:
    """Head lines that differ from the base (a whole new file when there is none)."""
    head = form.head.splitlines()
    if form.base is None:
        return set(range(1, len(head) + 1))
    base = form.base.splitlines()
    return {n for n, text in enumerate(head, 1) if n > len(base) or base[n - 1] != text}


def _where(findings: tuple[Finding, ...], path: str) -> list[tuple[str, int]]:
    return [(f.rule_id, f.start_line) for f in findings if f.path == path]


@pytest.mark.parametrize("form", FORMS, ids=[f.path for f in FORMS])
def test_the_form_is_reported_on_its_line(report: Report, form: Form) -> None:
    assert (form.rule, form.line) in _where(report.findings, form.path)


@pytest.mark.parametrize("form", FORMS, ids=[f.path for f in FORMS])
def test_nothing_is_reported_outside_the_changed_lines(report: Report, form: Form) -> None:
    changed = _changed_lines(form)
    outside = [
        (f.rule_id, f.start_line)
        for f in report.findings
        if f.path == form.path and not changed & set(range(f.start_line, f.end_line + 1))
    ]
    assert not outside


def test_the_unchanged_membership_test_is_left_alone(report: Report) -> None:
    """The set-to-list change is reported at the list's creation; the test's own line did
    not change, so no finding is anchored there."""
    (dedupe,) = [f for f in FORMS if f.path == "dedupe.py"]
    test_line = dedupe.head.splitlines().index("        if element not in seen:") + 1
    assert test_line not in _changed_lines(dedupe)
    assert ("membership-in-list-in-loop", test_line) not in _where(report.findings, "dedupe.py")
