"""Shared pieces of the GitHub tests: the shop pull request and model-built reports."""

from __future__ import annotations

from pathlib import Path

from repo_support import FileTree

from provenfix.jobs.config import PipelineConfig
from provenfix.jobs.factory import build_pipeline
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.report import (
    Category,
    Finding,
    FindingSource,
    Report,
    Score,
    ScoreComponents,
    Severity,
    Skipped,
    Suggestion,
    SuggestionKind,
    ToolInfo,
    Validation,
    ValidationStatus,
    Weights,
)
from provenfix.jobs.settings import AnalysisSettings

OWNER, NAME, NUMBER = "acme", "shop", 7

FILLER = "".join(f"RATE_{i} = {i}\n" for i in range(30))  # keeps the two hunks of cart.py apart

SHOP_BASE: FileTree = {
    "shop/__init__.py": "",
    "shop/cart.py": "def total(prices):\n    return sum(prices)\n\n\n" + FILLER,
    "tests/__init__.py": "",
    "tests/test_cart.py": (
        "from shop.cart import total\n\n\ndef test_total():\n    assert total([1, 2]) == 3\n"
    ),
}

CART_HEAD = (
    "def total(prices):\n"  # 1
    "    return sum(prices)\n"  # 2
    "\n"  # 3
    "\n"  # 4
    "def discount(price, code):\n"  # 5
    "    if code == None:\n"  # 6  comparison-to-none-eq
    "        return price\n"  # 7
    "    return price * 0.9\n"  # 8
    "\n"  # 9
    "\n"  # 10
    + FILLER  # 11..40
    + "\n\n"  # 41, 42
    "def find(items, name):\n"  # 43
    "    for item in items:\n"  # 44
    "        if type(item) == str and item == name:\n"  # 45  type-comparison-eq
    "            return item\n"  # 46
    "    return None\n"  # 47
)

SHOP_HEAD: FileTree = {
    "shop/cart.py": CART_HEAD,
    "tests/test_cart.py": (
        "from shop.cart import discount, find, total\n\n\n"
        "def test_total():\n    assert total([1, 2]) == 3\n\n\n"
        "def test_discount():\n    assert discount(10, None) == 10\n"
        "    assert discount(10, 'x') == 9\n\n\n"
        "def test_find():\n    assert find(['a', 'b'], 'b') == 'b'\n"
    ),
}


def run_pipeline(path: Path, head: str = "pr") -> Report:
    pipeline = build_pipeline(AnalysisSettings(), PipelineConfig(validation="none"))
    return pipeline.run(AnalysisRequest(path, "main", head))


# --- reports built from the model, for edge cases ------------------------------------------


def finding(
    fid: str,
    path: str,
    start: int,
    end: int | None = None,
    *,
    severity: Severity = Severity.WARNING,
    rule: str = "demo-rule",
) -> Finding:
    return Finding(
        id=fid,
        source=FindingSource.SEMGREP,
        rule_id=rule,
        category=Category.DEFECT,
        severity=severity,
        path=path,
        start_line=start,
        end_line=end or start,
        message=f"{rule} at {path}:{start}",
    )


def suggestion(
    sid: str,
    f: Finding,
    original: str,
    replacement: str,
    *,
    status: ValidationStatus = ValidationStatus.PASSED,
    reliability: float = 0.8,
    start: int | None = None,
    end: int | None = None,
) -> Suggestion:
    start = start or f.start_line
    end = end or (start + max(1, len(original.splitlines())) - 1)
    return Suggestion(
        id=sid,
        finding_ids=(f.id,),
        kind=SuggestionKind.REPAIR,
        source="semgrep-autofix",
        path=f.path,
        start_line=start,
        end_line=end,
        original=original,
        replacement=replacement,
        rationale=f"**What this changes:** fixes `{f.rule_id}`.",
        validation=Validation(
            status=status,
            tests_selected=2,
            tests_run=2 if status is ValidationStatus.PASSED else 0,
            detail="" if status is ValidationStatus.PASSED else "the tests failed with it",
            duration_s=0.5,
        ),
        score=Score(
            reliability=reliability,
            components=ScoreComponents(0.5, 0.0, 0.3, 0.3, None, 0.9),
            weights=Weights(),
        ),
    )


def report(
    findings: tuple[Finding, ...] = (),
    suggestions: tuple[Suggestion, ...] = (),
    skipped: tuple[Skipped, ...] = (),
) -> Report:
    return Report(
        tool=ToolInfo(version="test"),
        repository="shop",
        base="0" * 40,
        head="1" * 40,
        files_changed=2,
        lines_added=40,
        findings=findings,
        metrics=(),
        suggestions=suggestions,
        skipped=skipped,
        duration_s=1.0,
    )


def lines_of(text: str, start: int, end: int) -> str:
    return "".join(text.splitlines(keepends=True)[start - 1 : end])
