"""SARIF 2.1.0, as GitHub code scanning ingests it (upload-sarif)."""

from __future__ import annotations

import json
from typing import Any

from jobs.report import Category, Finding, Report, Severity

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
# GitHub ranks security results by this property (0.0-10.0).
_SECURITY_SEVERITY = {Severity.ERROR: "8.0", Severity.WARNING: "5.0", Severity.INFO: "2.0"}
INFORMATION_URI = "https://github.com/provenfix/provenfix"


def report_to_sarif(report: Report) -> dict[str, Any]:
    rule_ids = sorted({f.rule_id for f in report.findings})
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    first = {
        rule_id: next(f for f in report.findings if f.rule_id == rule_id) for rule_id in rule_ids
    }
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "ProvenFix",
                        "version": report.tool.version,
                        "semanticVersion": report.tool.version.split("+")[0],
                        "informationUri": INFORMATION_URI,
                        "rules": [_rule(first[rule_id]) for rule_id in rule_ids],
                    }
                },
                "automationDetails": {"id": f"provenfix/{report.head}"},
                "versionControlProvenance": [
                    {"repositoryUri": report.repository, "revisionId": report.head}
                ],
                "results": [_result(f, index[f.rule_id]) for f in report.findings],
                "columnKind": "unicodeCodePoints",
            }
        ],
    }


def _rule(example: Finding) -> dict[str, Any]:
    tags = [example.category.value, example.source.value]
    properties: dict[str, Any] = {"tags": tags, "precision": "high"}
    if example.category is Category.SECURITY:
        tags.append("security")
        properties["security-severity"] = _SECURITY_SEVERITY[example.severity]
    return {
        "id": example.rule_id,
        "name": example.rule_id,
        "shortDescription": {"text": example.rule_id.replace("-", " ")},
        "fullDescription": {"text": example.message},
        "defaultConfiguration": {"level": _LEVEL[example.severity]},
        "help": {"text": example.message, "markdown": example.message},
        "properties": properties,
    }


def _result(f: Finding, rule_index: int) -> dict[str, Any]:
    return {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[f.severity],
        "message": {"text": f.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": f.path, "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": f.start_line, "endLine": f.end_line},
                }
            }
        ],
        "partialFingerprints": {"provenfixFindingId/v1": f.id},
    }


def render_sarif(report: Report) -> str:
    return json.dumps(report_to_sarif(report), indent=2) + "\n"
