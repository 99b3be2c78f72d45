"""The soundness suite's repositories and verdict checks (tests/validation/test_soundness_traps.py).

Every repository has the same two repository semgrep rules in its base commit: a WRONG one
(`$X + 1` -> `$X + 2`, which breaks `inc`) and a RIGHT one (`$X == None` -> `$X is None`).
The pull request adds `calc.py` with one line for each rule, a genuine test of `is_missing`,
and whatever test the case puts around `inc`.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

from repo_support import PROJECT_ROOT, FileTree, GitRepo

ANALYZE = [sys.executable, "-m", "provenfix.bot.cli", "analyze", "--base", "main", "--head", "pr"]
ANALYZE += ["--sandbox", "docker", "--format", "json"]

WRONG_RULE = "off-by-one-increment"
RIGHT_RULE = "none-equality"

REPO_RULES = f"""rules:
  - id: {WRONG_RULE}
    languages: [python]
    severity: WARNING
    message: Counters in this code base step by two; increment by 2, not by 1.
    metadata:
      category: defect
    pattern: $X + 1
    fix: $X + 2
  - id: {RIGHT_RULE}
    languages: [python]
    severity: INFO
    message: Compare with None by identity (`is None`); `==` calls a user-defined `__eq__`.
    metadata:
      category: maintainability
    pattern: $X == None
    fix: $X is None
"""

BASE: FileTree = {
    ".semgrep.yml": REPO_RULES,
    "README.md": "A tiny library for the soundness suite.\n",
}

CALC = '''"""Small helpers."""


def inc(x):
    return x + 1


def is_missing(v):
    return v == None
'''

# The same `inc`, but the line the wrong fix changes is in a method: the validator cannot
# replay its calls (`self` is not plain data) nor generate inputs for it, so only the
# tests can judge the fix. The module-level `inc` is unchanged by the fix (not replayed).
CALC_REPLAY_BLIND = '''"""Small helpers."""


class Counter:
    def inc(self, x):
        return x + 1


def inc(x):
    return Counter().inc(x)


def is_missing(v):
    return v == None
'''

SHAPES = {"plain": CALC, "replay-blind": CALC_REPLAY_BLIND}

# Sorts before every trap's test file, so it has run before a trap can stop the session.
GENUINE_MISSING_TEST = """from calc import is_missing


def test_is_missing():
    assert is_missing(None) and not is_missing(0)
"""


def head_files(trap: Mapping[str, str], shape: str = "plain") -> dict[str, str]:
    """The pull request: calc.py, the genuine test of is_missing, and the trap's files."""
    return {"calc.py": SHAPES[shape], "tests/test_is_missing.py": GENUINE_MISSING_TEST, **trap}


def analyze(repo: GitRepo, report_validator: Callable[[Any], None], name: str) -> dict[str, Any]:
    """`provenfix analyze` on main..pr in the Docker sandbox; the schema-valid JSON report."""
    out = repo.path.parent / f"{name}.json"
    proc = subprocess.run(
        [*ANALYZE, "--repo", str(repo.path), "--output", str(out)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"analyze exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    report: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    report_validator(report)
    return report


def _finding_ids(report: Mapping[str, Any], rule: str) -> set[str]:
    # a repository rule's id may come back qualified by its config's path
    return {
        str(f["id"])
        for f in report["findings"]
        if str(f["rule_id"]) == rule or str(f["rule_id"]).endswith("." + rule)
    }


def wrong_suggestions(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The wrong rule's fix, however it is spelled: `+ 2` in the code, or its finding."""
    wrong = _finding_ids(report, WRONG_RULE)
    return [
        s
        for s in report["suggestions"]
        if "+ 2" in str(s["replacement"]) or wrong & set(s["finding_ids"])
    ]


def right_suggestions(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Fixes of `v == None` in calc.py (the repository rule's and any bundled rule's)."""
    return [
        s
        for s in report["suggestions"]
        if s["path"] == "calc.py" and "is None" in str(s["replacement"])
    ]


def describe(suggestion: Mapping[str, Any]) -> str:
    return (
        f"  {suggestion['id']} ({suggestion['source']}, committable={suggestion['committable']})"
        f" {suggestion['original']!r} -> {suggestion['replacement']!r}\n"
        f"    validation: {json.dumps(suggestion['validation'], indent=2, sort_keys=True)}\n"
        f"    rationale: {suggestion['rationale']}"
    )


def _overview(report: Mapping[str, Any]) -> str:
    findings = [
        f"  {f['rule_id']} {f['path']}:{f['start_line']} ({f['source']})"
        for f in report["findings"]
    ]
    suggestions = [
        f"  {s['path']}:{s['start_line']} {s['replacement']!r}: {s['validation']['status']},"
        f" committable={s['committable']}"
        for s in report["suggestions"]
    ]
    return "findings:\n" + "\n".join(findings) + "\nsuggestions:\n" + "\n".join(suggestions)


def _verdict(suggestion: Mapping[str, Any]) -> str:
    validation = suggestion["validation"]
    committable = "committable" if suggestion["committable"] else "not committable"
    return f"{validation['status']}/{committable} ({validation['detail']})"


def summary(report: Mapping[str, Any]) -> str:
    """One line: how the wrong and the right fix came out."""
    wrong = "; ".join(_verdict(s) for s in wrong_suggestions(report)) or "no suggestion"
    right = "; ".join(_verdict(s) for s in right_suggestions(report)) or "no suggestion"
    return f"WRONG fix: {wrong} | RIGHT fix: {right}"


def soundness_problems(report: Mapping[str, Any], *, require_right: bool = True) -> list[str]:
    """What is wrong with a report on a trap repository (empty: nothing).

    The wrong fix must be neither committable nor `passed`; the right fix, covered by a
    genuine test, must be both (unless `require_right` is off: a repository whose test
    process forges the probe's channel may have nothing proven).
    """
    problems: list[str] = []
    if not _finding_ids(report, WRONG_RULE):
        problems.append(f"the repository rule {WRONG_RULE} found nothing (is the trap vacuous?)")
    for s in wrong_suggestions(report):
        if s["committable"] or s["validation"]["status"] == "passed":
            problems.append("the WRONG fix is proven/committable:\n" + describe(s))
    right = right_suggestions(report) if require_right else []
    if require_right and not right:
        problems.append("no suggestion fixes `v == None` in calc.py")
    for s in right:
        if not (s["committable"] and s["validation"]["status"] == "passed"):
            problems.append("the RIGHT fix is not proven and committable:\n" + describe(s))
    if problems:
        problems.append(_overview(report))
    return problems


def the_wrong_fix(report: Mapping[str, Any]) -> dict[str, Any]:
    """The one suggestion applying the wrong rule (the controls need it to exist)."""
    found = wrong_suggestions(report)
    assert len(found) == 1, f"expected one wrong-rule suggestion\n{_overview(report)}"
    return found[0]
