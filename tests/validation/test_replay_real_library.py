"""Differential replay catches a behaviour-changing "smell fix" in a real library whose own
tests all pass with it.

The library is inflection 0.5.1 (MIT), vendored as its PyPI sdist in
tests/fixtures/libraries/ with the 455 tests it ships. The repository's `main` is the release
tree plus a repository semgrep config; the pull request makes a behaviour-preserving edit of
`inflection.transliterate` (the decomposed string gets a better name), so both of its lines
are changed lines. Two repository rules match them:

- `unicode-compatibility-decomposition` (the injected defect): "strip accents with canonical
  decomposition" rewrites `unicodedata.normalize('NFKD', s)` to `unicodedata.normalize('NFD',
  s)`. It looks like a tidy-up, but NFD drops what NFKD maps to ASCII (`'x²'` gives `'x2'` at
  head, `'x'` with the fix; `'ﬁ'` gives `'fi'`, then `''`), so `transliterate` answers
  differently. No test of the library notices: all 455 pass with it (checked on the host by
  the first test, and in the sandbox by the proof itself). The tests call `transliterate`
  only through `parameterize`, whose slugs hide the difference; the replay replays the calls
  recorded there (identical) and hypothesis-generated strings, which show it, so the
  candidate must be rejected: `failed`, not committable, "changes behaviour on N replayed
  call(s)".
- `ascii-roundtrip` (the control): `s.encode('ascii', 'ignore').decode('ascii')` rewritten to
  `''.join(c for c in s if c.isascii())`, which is genuinely equivalent. It must replay
  identically on the same calls and come out `passed` and committable.
"""

from __future__ import annotations

import subprocess
import sys
import tarfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from repo_support import PROJECT_ROOT, GitRepo
from soundness_support import analyze, describe

pytestmark = pytest.mark.docker

Validate = Callable[[Any], None]

SDIST = PROJECT_ROOT / "tests" / "fixtures" / "libraries" / "inflection-0.5.1.tar.gz"
MODULE = "inflection/__init__.py"

DEFECT_RULE = "unicode-compatibility-decomposition"
CONTROL_RULE = "ascii-roundtrip"
REPO_RULES = f"""rules:
  - id: {DEFECT_RULE}
    languages: [python]
    severity: WARNING
    message: >-
      NFKD also applies compatibility mappings; strip accents with the canonical
      decomposition (NFD) instead.
    metadata:
      category: maintainability
    pattern: unicodedata.normalize('NFKD', $S)
    fix: unicodedata.normalize('NFD', $S)
  - id: {CONTROL_RULE}
    languages: [python]
    severity: WARNING
    message: >-
      Encoding to bytes and decoding again only to drop non-ASCII characters;
      filter the string with str.isascii() instead.
    metadata:
      category: maintainability
    pattern: $S.encode('ascii', 'ignore').decode('ascii')
    fix: "''.join(c for c in $S if c.isascii())"
"""

# inflection.transliterate's body: as released, and as the pull request rewrites it
RELEASED = (
    "    normalized = unicodedata.normalize('NFKD', string)\n"
    "    return normalized.encode('ascii', 'ignore').decode('ascii')\n"
)
PULL_REQUEST = (
    "    decomposed = unicodedata.normalize('NFKD', string)\n"
    "    return decomposed.encode('ascii', 'ignore').decode('ascii')\n"
)
# the pull request with the defect rule's fix applied
SMELL_FIXED = PULL_REQUEST.replace("'NFKD'", "'NFD'")


def unpack_release(target: Path) -> Path:
    """The sdist's tree in `target` (its single top-level folder stripped)."""
    with tarfile.open(SDIST) as tar:
        members = tar.getmembers()
        tops = {m.name.split("/", 1)[0] for m in members}
        assert len(tops) == 1, f"{SDIST.name}: expected one top-level folder, found {tops}"
        top = tops.pop()
        for member in members:
            member.name = member.name[len(top) :].lstrip("/")
        tar.extractall(target, members=[m for m in members if m.name], filter="data")
    return target


def rewrite(tree: Path, old: str, new: str) -> None:
    """Replace `old` (which must occur exactly once) by `new` in the library's module."""
    path = tree / MODULE
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{MODULE}: the text to rewrite is not there exactly once"
    path.write_text(text.replace(old, new), encoding="utf-8")


def library_suite(tree: Path) -> subprocess.CompletedProcess[str]:
    """The library's own test suite under plain pytest, on the host."""
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_inflection.py"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def transliterate(tree: Path, text: str) -> str:
    """`inflection.transliterate(text)` as the library in `tree` answers it."""
    code = "import sys, inflection; print(inflection.transliterate(sys.argv[1]))"
    proc = subprocess.run(
        [sys.executable, "-c", code, text],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return proc.stdout.rstrip("\n")


def make_library_repo(path: Path) -> GitRepo:
    """`main`: the release and the repository rules; `pr`: the rewrite of transliterate."""
    repo = GitRepo(unpack_release(path))
    repo.git("init", "-q", "-b", "main")
    repo.commit({}, "inflection 0.5.1")
    repo.commit({".semgrep.yml": REPO_RULES}, "semgrep: repository rules")
    repo.branch("pr")
    rewrite(path, RELEASED, PULL_REQUEST)
    repo.commit({}, "transliterate: name the decomposed string")
    return repo


def suggestion_for(report: Mapping[str, Any], rule: str) -> dict[str, Any]:
    """The one autofix suggestion on `rule`'s finding. A rejected suggestion resolves no
    finding (its `finding_ids` are empty), so it is found by the finding's lines; a
    repository rule's id may come back qualified by its config's path."""
    findings = [
        f
        for f in report["findings"]
        if str(f["rule_id"]) == rule or str(f["rule_id"]).endswith("." + rule)
    ]
    assert len(findings) == 1, (
        f"the repository rule {rule} found {len(findings)}\n{overview(report)}"
    )
    (finding,) = findings
    found: list[dict[str, Any]] = [
        s
        for s in report["suggestions"]
        if s["source"] == "semgrep-autofix"
        and s["path"] == finding["path"]
        and s["start_line"] <= finding["end_line"]
        and finding["start_line"] <= s["end_line"]
    ]
    assert len(found) == 1, f"expected one suggestion for {rule}\n{overview(report)}"
    return found[0]


def overview(report: Mapping[str, Any]) -> str:
    findings = [
        f"  {f['rule_id']} {f['path']}:{f['start_line']} ({f['source']})"
        for f in report["findings"]
    ]
    suggestions = [f"  {describe(s)}" for s in report["suggestions"]]
    skipped = [f"  {s}" for s in report.get("skipped", [])]
    return "\n".join(["findings:", *findings, "suggestions:", *suggestions, "skipped:", *skipped])


def test_the_library_suite_passes_with_the_smell_fix(tmp_path: Path) -> None:
    """The premise: the defect is invisible to the library's own tests, although
    `transliterate` answers differently with it."""
    tree = unpack_release(tmp_path / "inflection")
    rewrite(tree, RELEASED, PULL_REQUEST)
    before = library_suite(tree)
    assert before.returncode == 0, before.stdout[-3000:]
    assert transliterate(tree, "x²") == "x2"
    rewrite(tree, PULL_REQUEST, SMELL_FIXED)
    after = library_suite(tree)
    assert after.returncode == 0, f"the smell fix fails a library test:\n{after.stdout[-3000:]}"
    assert "455 passed" in after.stdout, after.stdout[-3000:]
    assert transliterate(tree, "x²") == "x"


def test_replay_rejects_a_smell_fix_that_the_library_tests_let_through(
    tmp_path: Path, report_validator: Validate
) -> None:
    """`provenfix analyze` rejects the NFD "smell fix" on behaviour alone (its tests pass)
    and proves the equivalent isascii() rewrite of the next line."""
    repo = make_library_repo(tmp_path / "inflection")
    report = analyze(repo, report_validator, "report")

    defect = suggestion_for(report, DEFECT_RULE)
    assert "'NFD'" in defect["replacement"], describe(defect)
    validation = defect["validation"]
    assert validation["status"] == "failed", describe(defect)
    assert not defect["committable"], describe(defect)
    assert "changes behaviour on" in validation["detail"], describe(defect)
    assert "transliterate(" in validation["detail"], describe(defect)
    # the tests themselves let it through in the sandbox too: rejected by the replay alone
    assert validation["tests_failed"] == 0 and not validation["new_failures"], describe(defect)
    assert validation["passing_tests"], describe(defect)
    replay = validation["replay"]
    assert replay is not None and replay["functions"] == ["transliterate"], describe(defect)
    assert replay["calls_recorded"] >= 1 and replay["calls_changed"] >= 1, describe(defect)

    control = suggestion_for(report, CONTROL_RULE)
    assert "isascii()" in control["replacement"], describe(control)
    assert control["validation"]["status"] == "passed", describe(control)
    assert control["committable"], describe(control)
    control_replay = control["validation"]["replay"]
    assert control_replay is not None, describe(control)
    assert control_replay["functions"] == ["transliterate"], describe(control)
    assert control_replay["calls_changed"] == 0, describe(control)
    assert control_replay["calls_replayed"] >= 1, describe(control)
    assert any("parameterize" in t for t in control["validation"]["passing_tests"]), describe(
        control
    )
