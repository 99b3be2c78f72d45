"""The bundled semgrep rules in rules/: semgrep's own rule tests plus structural checks."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml

RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
SEMGREP = Path(sys.executable).parent / "semgrep"

CATEGORIES = {"defect", "security", "performance", "maintainability"}
SEVERITIES = {"ERROR", "WARNING", "INFO"}
CONFIDENCES = {"HIGH", "MEDIUM", "LOW"}
REQUIRED_METADATA = {"category", "references", "confidence"}
ALLOWED_METADATA = REQUIRED_METADATA | {"cwe"}
FIX_KEYS = ("fix", "fix-regex")

Rule = tuple[Path, dict[str, Any]]


def _rule_files() -> list[Path]:
    return sorted(p for p in RULES_DIR.rglob("*") if p.suffix in (".yaml", ".yml"))


def _load_rules() -> list[Rule]:
    rules: list[Rule] = []
    for path in _rule_files():
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert isinstance(loaded, dict) and isinstance(loaded.get("rules"), list), path
        rules.extend((path, rule) for rule in loaded["rules"])
    return rules


RULES = _load_rules()


def _annotated_ids(fixture: Path, kind: str) -> set[str]:
    """Rule ids named by `# <kind>: a, b` comments (kind: ruleid or ok)."""
    ids: set[str] = set()
    for line in fixture.read_text(encoding="utf-8").splitlines():
        match = re.match(rf"\s*#\s*{kind}:\s*(.+)$", line)
        if match:
            ids.update(part.strip() for part in match.group(1).split(","))
    return ids


def _rule_param(rule: Rule) -> Any:
    return pytest.param(rule, id=str(rule[1].get("id", rule[0].stem)))


def _semgrep(*args: str) -> subprocess.CompletedProcess[str]:
    assert SEMGREP.exists(), f"semgrep is not installed next to the interpreter: {SEMGREP}"
    env = dict(os.environ, SEMGREP_SEND_METRICS="off", SEMGREP_ENABLE_VERSION_CHECK="0")
    env = {k: v for k, v in env.items() if not k.startswith("SEMGREP_APP")}
    return subprocess.run(
        [str(SEMGREP), *args, "--metrics=off", "--disable-version-check"],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )


def _compile(source: str, filename: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # fixtures are bad code on purpose
        compile(source, filename, "exec")


def _string_constants(source: str) -> set[str]:
    return {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }


# semgrep 1.x mis-tokenizes files with an f-string that has `#` in a format spec or a `\N{...}`
# escape: string literals lose their quotes in `fix:` templates and string-final ranges lose
# a character. The rules either skip such files or use fixes that are unaffected.
TOKENIZER_TRAP_MODULE = """
import logging
import unittest

import yaml

log = logging.getLogger(__name__)


def before(x, items, d: dict, cache):
    if not x in "abc" or not x is "abc" or x == None or type(x) != str:
        return 1
    y = cache.get("key", None)
    z = getattr(x, "name")
    s = f"plain"
    ok = any([i == "a" for i in items])
    m = sorted(items, key=str)[0]
    keys = [k for k in d.keys() if k != "a"]
    for i in items:
        if i in ["a", "b", "c", "d"] and i is not "e":
            log.warn("text")
    t = set([i + "x" for i in items])
    if hasattr(x, "__call__"):
        table = dict.fromkeys("abc", [])
    grid = [["cell"]] * 3
    assert (x, "msg")
    try:
        return yaml.load("a: 1")
    except ValueError as err:
        raise KeyError("bad")
    if not items:
        assert False, "unreachable"
    raise NotImplemented("later")


class T(unittest.TestCase):
    def test_x(self):
        self.assertEquals("a", "a")


def fmt(value):
    return TRAP
"""


def test_semgrep_rule_tests_pass() -> None:
    proc = _semgrep("--test", str(RULES_DIR))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-4000:]
    n_configs = len(_rule_files())
    n_fixtests = len(list(RULES_DIR.rglob("*.fixed.py")))
    assert f"{n_configs}/{n_configs}: ✓ All tests passed" in output, output[-4000:]
    assert f"{n_fixtests}/{n_fixtests}: ✓ All fix tests passed" in output, output[-4000:]
    assert "✖" not in output, output[-4000:]


def test_enough_rules_and_autofixes() -> None:
    ids = [rule["id"] for _, rule in RULES]
    assert len(ids) == len(set(ids)), "duplicate rule ids"
    assert len(ids) >= 30
    assert sum(any(k in rule for k in FIX_KEYS) for _, rule in RULES) >= 20


@pytest.mark.parametrize("trap", ['f"{value:#x}"', 'f"\\N{EM DASH} {value}"'])
def test_autofixes_survive_fstring_tokenizer_traps(tmp_path: Path, trap: str) -> None:
    source = TOKENIZER_TRAP_MODULE.replace("TRAP", trap)
    target = tmp_path / "module.py"
    target.write_text(source, encoding="utf-8")
    proc = _semgrep("scan", "--config", str(RULES_DIR), "--autofix", "--quiet", str(target))
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    fixed = target.read_text(encoding="utf-8")
    assert fixed != source, "expected some autofixes to apply"
    _compile(fixed, str(target))
    assert _string_constants(source) <= _string_constants(fixed)


@pytest.mark.parametrize("rule", [_rule_param(r) for r in RULES])
def test_rule_shape(rule: Rule) -> None:
    path, body = rule
    rule_id = body["id"]
    assert re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", rule_id), rule_id
    assert body["languages"] == ["python"]
    assert body["severity"] in SEVERITIES
    assert isinstance(body["message"], str) and body["message"].strip()
    metadata = body["metadata"]
    assert REQUIRED_METADATA <= set(metadata) <= ALLOWED_METADATA, sorted(metadata)
    assert metadata["category"] in CATEGORIES
    assert path.parent.name == metadata["category"], "rules live in a folder per category"
    assert metadata["confidence"] in CONFIDENCES
    if "cwe" in metadata:
        assert re.fullmatch(r"CWE-\d+", str(metadata["cwe"])), metadata["cwe"]
    references = metadata["references"]
    assert isinstance(references, list)
    assert all(isinstance(r, str) and r.startswith("https://") for r in references)


@pytest.mark.parametrize("rule", [_rule_param(r) for r in RULES])
def test_rule_fixtures(rule: Rule) -> None:
    path, body = rule
    rule_id = body["id"]
    fixture = path.with_suffix(".py")
    assert fixture.is_file(), f"missing test file {fixture.name}"
    _compile(fixture.read_text(encoding="utf-8"), str(fixture))
    assert rule_id in _annotated_ids(fixture, "ruleid"), "no `# ruleid:` example"
    assert rule_id in _annotated_ids(fixture, "ok"), "no `# ok:` example"
    fixed = path.with_suffix(".fixed.py")
    if any(k in body for k in FIX_KEYS):
        assert fixed.is_file(), f"rule has a fix but no {fixed.name}"
        # the autofixed code must still be valid Python
        _compile(fixed.read_text(encoding="utf-8"), str(fixed))
    else:
        assert not fixed.exists(), f"{fixed.name} exists but the rule has no fix"
