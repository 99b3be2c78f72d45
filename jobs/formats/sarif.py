"""SARIF 2.1.0, as GitHub code scanning ingests it (upload-sarif).

Each rule carries its own documentation: `help` (text and markdown) from the rule's text
(our semgrep rules' message and metadata; a fixed text for the analyzers' own rules), a
`helpUri` into this repository, tags with the rule's CWE and a `security-severity` for
security rules. Each result carries a stable partial fingerprint (the finding's id) and,
only where the repository's tests proved one, the fix as an artifact change. The
repository is named by the URI the caller gives, else by the analyzed clone's `origin`
remote (credentials removed), else by the clone's file URI (docs/interop.md).
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from provenfix.jobs.config import BUNDLED_RULES_DIR
from provenfix.jobs.report import Category, Finding, Report, Severity, Suggestion

PROJECT_URL = "https://github.com/provenfix/provenfix"
DOCS_URL = f"{PROJECT_URL}/blob/main"
INFORMATION_URI = PROJECT_URL
FINGERPRINT_KEY = "provenfixFindingId/v1"  # the key uploads carried so far: alerts keep matching
SRCROOT = "%SRCROOT%"

_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
_SEMGREP_SEVERITY = {"ERROR": Severity.ERROR, "WARNING": Severity.WARNING, "INFO": Severity.INFO}
_PRECISION = {"HIGH": "high", "MEDIUM": "medium", "LOW": "low"}
# GitHub ranks security alerts by this score (9.0 and over critical, 7.0 high, 4.0 medium,
# below that low). Per CWE of our security rules, never critical: a pattern match does not
# prove that the input is attacker-controlled (docs/interop.md). Others: by severity.
_CWE_SECURITY_SEVERITY = {
    **dict.fromkeys(("CWE-78", "CWE-89", "CWE-95", "CWE-502"), "8.8"),  # injection, code execution
    **dict.fromkeys(("CWE-22", "CWE-295", "CWE-338", "CWE-347", "CWE-489"), "7.5"),
    **{"CWE-328": "5.9", "CWE-377": "5.5"},
}
_CATEGORIES = frozenset(c.value for c in Category)
_SEVERITY_SCORE = {Severity.ERROR: "7.0", Severity.WARNING: "5.0", Severity.INFO: "2.0"}
_PROVEN_ONLY = "ProvenFix posts a fix only once the repository's own tests proved it."


@dataclass(frozen=True)
class RuleDoc:
    """What a rule checks, for every format that documents its rules (SARIF, rdjson)."""

    rule_id: str
    summary: str  # one line
    description: str  # the rule's message
    text: str  # help as plain text
    markdown: str  # help as markdown
    help_uri: str | None
    category: Category
    severity: Severity  # the rule's default level
    cwe: str | None = None  # CWE-<n>
    precision: str | None = None  # SARIF's very-high / high / medium / low

    @property
    def security_severity(self) -> str | None:
        if self.category is not Category.SECURITY:
            return None
        return _CWE_SECURITY_SEVERITY.get(self.cwe or "", _SEVERITY_SCORE[self.severity])


def _builtin(
    rule_id: str, summary: str, text: str, category: Category, severity: Severity, doc: str
) -> RuleDoc:
    return RuleDoc(
        rule_id, summary, text, text, text, f"{DOCS_URL}/{doc}", category, severity, None, "high"
    )


_THRESHOLDS = "docs/configuration.md#configuring-provenfix-for-a-repository"
# The rules of our own analyzers (radon, the baseline test run), which no YAML describes.
_BUILTIN: Mapping[str, RuleDoc] = {
    doc.rule_id: doc
    for doc in (
        _builtin(
            "complexity-above-threshold",
            "Changed function above the cyclomatic complexity limit",
            "A function this change adds or modifies has a cyclomatic complexity (radon) above "
            "the repository's limit (`thresholds.complexity` in .github/provenfix.yml, default "
            "10). Every branch is a path the tests must cover: split the function or simplify "
            "its branching.",
            Category.MAINTAINABILITY,
            Severity.WARNING,
            _THRESHOLDS,
        ),
        _builtin(
            "complexity-increased",
            "Change makes an already too complex function more complex",
            "The function was already above the complexity limit and this change raises its "
            "cyclomatic complexity by at least `thresholds.complexity_increase` (default 3). "
            "Extract the new branches into a helper.",
            Category.MAINTAINABILITY,
            Severity.WARNING,
            _THRESHOLDS,
        ),
        _builtin(
            "maintainability-below-threshold",
            "Change drops the file's maintainability index below the limit",
            "This change drops the file's maintainability index (radon) below "
            "`thresholds.maintainability` (default 10, radon rank C). Long, branchy functions "
            "are the usual cause.",
            Category.MAINTAINABILITY,
            Severity.INFO,
            _THRESHOLDS,
        ),
        _builtin(
            "test-failure",
            "A test that passes at the base fails at the head",
            "A test of the repository passes at the base revision and fails at the head: the "
            "change broke it. ProvenFix ran the tests at both revisions in its sandbox and "
            "located the failure at the changed lines the test runs.",
            Category.TEST_FAILURE,
            Severity.ERROR,
            "docs/validation.md#the-protocol",
        ),
    )
}


def rule_doc(finding: Finding) -> RuleDoc:
    """The documentation of the finding's rule: ours, else what the finding itself says
    (a rule of the repository's own semgrep config)."""
    known = _BUILTIN.get(finding.rule_id) or bundled_rules().get(finding.rule_id)
    if known is not None:
        return known
    return RuleDoc(
        rule_id=finding.rule_id,
        summary=_first_sentence(finding.message),
        description=finding.message,
        text=finding.message,
        markdown=finding.message,
        help_uri=None,
        category=finding.category,
        severity=finding.severity,
    )


@functools.cache
def bundled_rules() -> Mapping[str, RuleDoc]:
    """Our semgrep rules (rules/), documented from their own YAML, by id."""
    import yaml  # only when a report is rendered

    docs: dict[str, RuleDoc] = {}
    for path in sorted(BUNDLED_RULES_DIR.rglob("*.yaml")):
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        for rule in loaded.get("rules", []) if isinstance(loaded, dict) else []:
            relative = path.relative_to(BUNDLED_RULES_DIR.parent).as_posix()
            docs[str(rule["id"])] = _semgrep_doc(rule, f"{DOCS_URL}/{relative}")
    return docs


def _semgrep_doc(rule: Mapping[str, Any], uri: str) -> RuleDoc:
    message = " ".join(str(rule["message"]).split())
    metadata: Mapping[str, Any] = rule.get("metadata") or {}
    cwe = str(metadata["cwe"]) if metadata.get("cwe") else None
    confidence = str(metadata.get("confidence", "")).upper()
    references = [str(r) for r in metadata.get("references") or []]
    has_fix = "fix" in rule or "fix-regex" in rule
    facts = [("The rule carries an autofix. " if has_fix else "") + _PROVEN_ONLY]
    if confidence:
        facts.append(f"Confidence: {confidence.lower()} (how often a match is a real problem).")
    text, markdown = "\n\n".join([message, *facts]), "\n\n".join([message, *facts])
    if cwe:
        link = f"https://cwe.mitre.org/data/definitions/{cwe.removeprefix('CWE-')}.html"
        text += f"\n\n{cwe}: {link}"
        markdown += f"\n\nWeakness: [{cwe}]({link})"
    if references:
        text += "\n\nReferences:\n" + "\n".join(f"- {r}" for r in references)
        markdown += "\n\n**References**\n\n" + "\n".join(f"- <{r}>" for r in references)
    category = str(metadata.get("category", "defect"))
    return RuleDoc(
        rule_id=str(rule["id"]),
        summary=_first_sentence(message),
        description=message,
        text=text,
        markdown=markdown,
        help_uri=uri,
        category=Category(category) if category in _CATEGORIES else Category.DEFECT,
        severity=_SEMGREP_SEVERITY.get(str(rule.get("severity")), Severity.WARNING),
        cwe=cwe,
        precision=_PRECISION.get(confidence),
    )


def _first_sentence(message: str, limit: int = 160) -> str:
    sentence = re.split(r"(?<=[.!?])\s+", message.strip(), maxsplit=1)[0]
    if len(sentence) <= limit:
        return sentence
    return sentence[: limit - 1].rsplit(" ", 1)[0] + "…"


def cwe_tag(cwe: str) -> str:
    """GitHub's (and CodeQL's) tag for a CWE id: external/cwe/cwe-079."""
    return f"external/cwe/cwe-{int(cwe.removeprefix('CWE-')):03d}"


def report_to_sarif(report: Report, *, repository_uri: str | None = None) -> dict[str, Any]:
    """`repository_uri`: the repository's URI when the caller knows it; by default it is
    derived from `report.repository` (see `derive_repository_uri`)."""
    rule_ids = sorted({f.rule_id for f in report.findings})
    index = {rule_id: i for i, rule_id in enumerate(rule_ids)}
    first = {
        rule_id: next(f for f in report.findings if f.rule_id == rule_id) for rule_id in rule_ids
    }
    proven = [s for s in report.suggestions if s.committable]
    run: dict[str, Any] = {
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
        "results": [_result(f, index[f.rule_id], proven) for f in report.findings],
        "columnKind": "unicodeCodePoints",
    }
    uri = repository_uri or derive_repository_uri(report.repository)
    if uri:
        run["versionControlProvenance"] = [
            {"repositoryUri": uri, "revisionId": report.head, "mappedTo": {"uriBaseId": SRCROOT}}
        ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [run],
    }


def _rule(example: Finding) -> dict[str, Any]:
    doc = rule_doc(example)
    tags = [doc.category.value, example.source.value]
    if doc.category is Category.SECURITY:
        tags.append("security")
    if doc.cwe:
        tags.append(cwe_tag(doc.cwe))
    properties: dict[str, Any] = {"tags": list(dict.fromkeys(tags))}  # SARIF: unique tags
    if doc.precision:
        properties["precision"] = doc.precision
    if doc.security_severity:
        properties["security-severity"] = doc.security_severity
    rule: dict[str, Any] = {
        "id": doc.rule_id,
        "name": doc.rule_id,
        "shortDescription": {"text": doc.summary},
        "fullDescription": {"text": doc.description},
        "defaultConfiguration": {"level": _LEVEL[doc.severity]},
        "help": {"text": doc.text, "markdown": doc.markdown},
        "properties": properties,
    }
    if doc.help_uri:
        rule["helpUri"] = doc.help_uri
    return rule


def _result(f: Finding, rule_index: int, proven: Sequence[Suggestion]) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": f.rule_id,
        "ruleIndex": rule_index,
        "level": _LEVEL[f.severity],
        "message": {"text": f.message},
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": f.path, "uriBaseId": SRCROOT},
                    "region": {"startLine": f.start_line, "endLine": f.end_line},
                }
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: f.id},
    }
    fixes = [_fix(s) for s in proven if f.id in s.finding_ids]
    if fixes:
        result["fixes"] = fixes
    return result


def _fix(s: Suggestion) -> dict[str, Any]:
    region, inserted = replaced_region(s)
    return {
        "description": {
            "text": f"Proven by the repository's tests ({s.kind.value} by {s.source}), "
            f"reliability {s.score.reliability:.2f}.",
            "markdown": s.rationale,
        },
        "artifactChanges": [
            {
                "artifactLocation": {"uri": s.path, "uriBaseId": SRCROOT},
                "replacements": [{"deletedRegion": region, "insertedContent": {"text": inserted}}],
            }
        ],
    }


def replaced_region(s: Suggestion) -> tuple[dict[str, int], str]:
    """The suggestion as one SARIF replacement: the region of its whole head lines (without
    the last line break, which stays) and the text that takes their place."""
    content = strip_line_break(s.original)
    last_line = re.split(r"\r\n|\r|\n", content)[-1]  # the line breaks git and SARIF count
    start = {"startLine": s.start_line, "startColumn": 1}
    if content == s.original:  # the file's last line, without a line break
        return {**start, "endLine": s.end_line, "endColumn": len(last_line) + 1}, s.replacement
    if not s.replacement:  # whole lines deleted: their last line break goes too
        return {**start, "endLine": s.end_line + 1, "endColumn": 1}, ""
    end = {"endLine": s.end_line, "endColumn": len(last_line) + 1}
    return {**start, **end}, strip_line_break(s.replacement)


def strip_line_break(text: str) -> str:
    """`text` without its one final line break, if it has one."""
    for ending in ("\r\n", "\n", "\r"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def derive_repository_uri(repository: str) -> str | None:
    """The repository's URI from what a report carries: a remote URL as it is (credentials
    removed); for a local clone, its `origin` remote, else its file URI."""
    remote = normalize_remote(repository)
    if remote is not None:
        return remote
    path = Path(repository)
    if not path.is_absolute():
        return None
    origin = _origin_url(path)
    if origin is not None:
        normalized = normalize_remote(origin)
        if normalized is not None:
            return normalized
        local = Path(origin) if Path(origin).is_absolute() else path / origin
        return local.resolve().as_uri()
    return path.as_uri()


_SCP_LIKE = re.compile(r"^(?:[^@/:]+@)?(?P<host>[^@/:]+):(?!//)(?P<path>[^\\].*)$")


def normalize_remote(url: str) -> str | None:
    """A git remote as a browsable https URL without credentials (`git@host:o/r.git`,
    `ssh://git@host/o/r.git` and `https://user:token@host/o/r.git` all give
    `https://host/o/r`); a file URL as it is; None for anything else (a local path)."""
    scp = _SCP_LIKE.match(url)
    if scp and "://" not in url:
        return _https(scp["host"], "/" + scp["path"].lstrip("/"))
    parts = urlsplit(url)
    if parts.scheme == "file":
        return url
    if parts.scheme not in ("http", "https", "ssh", "git", "git+ssh") or not parts.hostname:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if parts.scheme in ("http", "https"):
        port = f":{parts.port}" if parts.port else ""
        return _https(host + port, parts.path, scheme=parts.scheme)
    return _https(host, parts.path)


def _https(host: str, path: str, *, scheme: str = "https") -> str:
    path = path.rstrip("/").removesuffix(".git")
    return urlunsplit((scheme, host, path, "", ""))


def _origin_url(path: Path) -> str | None:
    git = shutil.which("git")
    if git is None or not path.is_dir():
        return None
    try:
        proc = subprocess.run(
            [git, "-C", str(path), "remote", "get-url", "origin"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    url = proc.stdout.strip()
    return url if proc.returncode == 0 and url else None


def render_sarif(report: Report, *, repository_uri: str | None = None) -> str:
    return json.dumps(report_to_sarif(report, repository_uri=repository_uri), indent=2) + "\n"
