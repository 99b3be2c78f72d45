"""Interop: SARIF as GitHub code scanning reads it, reviewdog's rdjson, and the pre-commit
hook. Every output is validated against the real schema (tests/fixtures), and every fix
in it is applied to the file to check that it gives exactly the proven change."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from repo_support import PROJECT_ROOT, MakeRepo

from provenfix.bot.cli import build_parser, main
from provenfix.jobs.formats import RENDERERS
from provenfix.jobs.formats.rdjson import report_to_rdjson
from provenfix.jobs.formats.sarif import (
    FINGERPRINT_KEY,
    PROJECT_URL,
    derive_repository_uri,
    normalize_remote,
    render_sarif,
    report_to_sarif,
)
from provenfix.jobs.report import (
    Category,
    Finding,
    FindingSource,
    Report,
    Score,
    ScoreComponents,
    Severity,
    Suggestion,
    SuggestionKind,
    ToolInfo,
    Validation,
    ValidationStatus,
    Weights,
)

FIXTURES = PROJECT_ROOT / "tests" / "fixtures"
SARIF_SCHEMA = json.loads((FIXTURES / "sarif-2.1.0.schema.json").read_text(encoding="utf-8"))
RDJSON_SCHEMA = json.loads((FIXTURES / "rdjson.schema.json").read_text(encoding="utf-8"))
RULE_FILES = sorted((PROJECT_ROOT / "rules").rglob("*.yaml"))

HEAD = 'def check(x):\n    if x is "a":\n        return eval(x)\n    return 0\n'
CORE = "def ship(w):\n    if w > 10:\n        return 5\n    return 0\n"
FILES = {"shop/check.py": HEAD, "shop/core.py": CORE}


def finding(
    rule_id: str,
    line: int,
    *,
    path: str = "shop/check.py",
    source: FindingSource = FindingSource.SEMGREP,
    category: Category = Category.DEFECT,
    severity: Severity = Severity.WARNING,
) -> Finding:
    fid = f"pf-{rule_id}-{line}"
    return Finding(fid, source, rule_id, category, severity, path, line, line, f"{rule_id} here.")


def suggestion(
    sid: str,
    fixes: tuple[Finding, ...],
    lines: tuple[int, int],
    replacement: str,
    *,
    path: str = "shop/check.py",
    head: str | None = None,
    proven: bool = True,
    reliability: float = 0.8,
) -> Suggestion:
    head = FILES[path] if head is None else head
    original = "".join(head.splitlines(keepends=True)[lines[0] - 1 : lines[1]])
    status = ValidationStatus.PASSED if proven else ValidationStatus.FAILED
    components = ScoreComponents(0.1, 0.0, 0.2, 0.2, None, 1.0, 1.0)
    return Suggestion(
        id=sid,
        finding_ids=tuple(f.id for f in fixes),
        kind=SuggestionKind.REPAIR,
        source="semgrep-autofix",
        path=path,
        start_line=lines[0],
        end_line=lines[1],
        original=original,
        replacement=replacement,
        rationale=f"**What was wrong:** it.\n\n**What this changes:** {sid}.",
        validation=Validation(status, tests_run=2, passing_tests=("t::a",), runs=3),
        score=Score(reliability, components, Weights()),
    )


def report(
    findings: tuple[Finding, ...],
    suggestions: tuple[Suggestion, ...] = (),
    repository: str = "/nonexistent/clone",
) -> Report:
    tool = ToolInfo(version="1.2.0")
    return Report(tool, repository, "b" * 40, "a" * 40, 1, 4, findings, (), suggestions, (), 1.0)


LITERAL = finding("is-literal-comparison", 2)
EVAL = finding("eval-exec-dynamic", 3, category=Category.SECURITY, severity=Severity.ERROR)
BROKEN = finding(
    "test-failure", 5, path="tests/test_core.py", source=FindingSource.TESTS,
    category=Category.TEST_FAILURE, severity=Severity.ERROR,
)  # fmt: skip
SCENARIO = report(
    (LITERAL, EVAL, BROKEN),
    (
        suggestion("literal", (LITERAL,), (2, 2), '    if x == "a":\n', reliability=0.9),
        suggestion("literal-2", (LITERAL,), (1, 2), 'def check(x):\n    if x == "a":\n',
                   reliability=0.6),
        suggestion("eval", (EVAL,), (3, 3), "        return ast.literal_eval(x)\n", proven=False),
        suggestion("ship", (BROKEN,), (2, 3), "    if w >= 10:\n        return 5\n",
                   path="shop/core.py"),
    ),
)  # fmt: skip


def schema_errors(schema: Mapping[str, Any], document: Any) -> list[str]:
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(document)]


def splice(text: str, start: int, end: int, replacement: str) -> str:
    """`text` with whole lines start..end replaced: what the proven patch does."""
    lines = text.splitlines(keepends=True)
    return "".join([*lines[: start - 1], replacement, *lines[end:]])


# --- SARIF ----------------------------------------------------------------------------


def apply_sarif(text: str, fix: Mapping[str, Any]) -> str:
    (change,) = fix["artifactChanges"]
    (replacement,) = change["replacements"]
    region, inserted = replacement["deletedRegion"], str(replacement["insertedContent"]["text"])
    lines = re.split(r"(?<=\n)|(?<=\r)(?!\n)", text)  # the line breaks SARIF and git count

    def offset(line: int, column: int) -> int:
        return sum(len(x) for x in lines[: line - 1]) + column - 1

    start = offset(region["startLine"], region["startColumn"])
    return text[:start] + inserted + text[offset(region["endLine"], region["endColumn"]) :]


BUILTIN = ("complexity-above-threshold", "complexity-increased",
           "maintainability-below-threshold", "test-failure")  # fmt: skip


def test_sarif_documents_every_rule_as_code_scanning_reads_it() -> None:
    rules = {r["id"]: r for path in RULE_FILES for r in yaml.safe_load(path.read_text())["rules"]}
    findings = [
        finding(i, 1, category=Category(r["metadata"]["category"])) for i, r in rules.items()
    ]
    findings += [finding(rid, 1, source=FindingSource.RADON) for rid in BUILTIN]
    findings.append(finding("acme-no-print", 1, category=Category.SECURITY))  # the repo's own
    sarif = report_to_sarif(report(tuple(findings)))
    assert not schema_errors(SARIF_SCHEMA, sarif)
    documented = {r["id"]: r for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert set(documented) == {*rules, *BUILTIN, "acme-no-print"}
    for rid, rule in rules.items():
        doc, metadata, help_text = documented[rid], rule["metadata"], documented[rid]["help"]
        message = " ".join(rule["message"].split())
        assert doc["fullDescription"]["text"] == message
        assert message.startswith(doc["shortDescription"]["text"].removesuffix("…"))
        assert help_text["text"].startswith(message) and help_text["markdown"].startswith(message)
        assert all(ref in help_text["text"] for ref in metadata["references"])
        assert (
            doc["helpUri"]
            == f"{PROJECT_URL}/blob/main/rules/python/{metadata['category']}/{rid}.yaml"
        )
        assert doc["properties"]["precision"] == metadata["confidence"].lower()
        tags = doc["properties"]["tags"]
        cwe_tags = [t for t in tags if t.startswith("external/cwe/")]
        if "cwe" in metadata:
            number = int(metadata["cwe"].removeprefix("CWE-"))
            assert (
                cwe_tags == [f"external/cwe/cwe-{number:03d}"]
                and metadata["cwe"] in help_text["text"]
            )
        else:
            assert not cwe_tags
        score = doc["properties"].get("security-severity")
        if metadata["category"] == "security":  # each with its CWE
            assert (
                "security" in tags
                and cwe_tags
                and re.fullmatch(r"\d\.\d", score)
                and 0 < float(score) < 9
            )
        else:
            assert score is None
    for rid in BUILTIN:
        assert documented[rid]["helpUri"].startswith(f"{PROJECT_URL}/blob/main/docs/")
        assert len(documented[rid]["help"]["text"]) > 80
    own = documented["acme-no-print"]  # no YAML of ours: what the finding says
    assert own["help"]["text"] == "acme-no-print here." and "helpUri" not in own
    assert own["properties"]["security-severity"] == "5.0"


def test_sarif_results_carry_proven_fixes_only_and_they_apply() -> None:
    sarif = report_to_sarif(SCENARIO)
    assert not schema_errors(SARIF_SCHEMA, sarif)
    results = {r["partialFingerprints"][FINGERPRINT_KEY]: r for r in sarif["runs"][0]["results"]}
    assert "fixes" not in results[EVAL.id]  # its only candidate failed the tests
    literal_fixes = results[LITERAL.id]["fixes"]
    assert len(literal_fixes) == 2  # both proven alternatives; a viewer offers either
    for fix, proven in zip(literal_fixes, SCENARIO.suggestions[:2], strict=True):
        location = fix["artifactChanges"][0]["artifactLocation"]
        assert location == {"uri": "shop/check.py", "uriBaseId": "%SRCROOT%"}
        lines = (proven.start_line, proven.end_line)
        assert apply_sarif(HEAD, fix) == splice(HEAD, *lines, proven.replacement)
        assert f"reliability {proven.score.reliability:.2f}" in fix["description"]["text"]
    (ship,) = results[BROKEN.id]["fixes"]  # a repair elsewhere than the broken test
    assert ship["artifactChanges"][0]["artifactLocation"]["uri"] == "shop/core.py"
    assert apply_sarif(CORE, ship) == splice(CORE, 2, 3, "    if w >= 10:\n        return 5\n")


@pytest.mark.parametrize(
    ("text", "lines", "replacement"),
    [
        ("a\nb\nc\n", (2, 2), "B\n"),
        ("a\nb\nc\n", (1, 2), "A\nX\nB\n"),
        ("a\nb\nc\n", (2, 2), ""),  # a deleted line goes with its line break
        ("a\nb\nc\n", (2, 3), ""),  # the file's last lines
        ("a\nb\nc", (3, 3), "C"),  # a last line without a line break
        ("a\nb\nc", (2, 3), "B\nC\n"),
        ("a\r\nb\r\n", (1, 1), "A\r\n"),
        ("añ😀\nb\n", (1, 1), "x😀\n"),  # columns count code points (columnKind)
    ],
)
def test_sarif_replacement_regions(text: str, lines: tuple[int, int], replacement: str) -> None:
    fixed = suggestion("s", (LITERAL,), lines, replacement, path="sample.py", head=text)
    sarif = report_to_sarif(report((LITERAL,), (fixed,)))
    assert not schema_errors(SARIF_SCHEMA, sarif)
    (fix,) = sarif["runs"][0]["results"][0]["fixes"]
    assert apply_sarif(text, fix) == splice(text, *lines, replacement)


def test_sarif_fingerprints_are_the_finding_ids_and_output_is_stable() -> None:
    moved = replace(LITERAL, start_line=12, end_line=12)  # lines moved, same code
    first = report_to_sarif(report((LITERAL,)))["runs"][0]["results"][0]
    second = report_to_sarif(report((moved,)))["runs"][0]["results"][0]
    assert first["partialFingerprints"] == {FINGERPRINT_KEY: LITERAL.id}
    assert second["partialFingerprints"] == first["partialFingerprints"]
    assert render_sarif(SCENARIO) == render_sarif(SCENARIO)


@pytest.mark.parametrize(
    ("remote", "expected"),
    [
        ("git@github.com:acme/shop.git", "https://github.com/acme/shop"),
        ("ssh://git@gitlab.example.org:2222/group/sub/shop.git", "https://gitlab.example.org/group/sub/shop"),
        ("https://x-access-token:ghs_secret@github.com/acme/shop.git", "https://github.com/acme/shop"),
        ("https://user@bitbucket.org/acme/shop/", "https://bitbucket.org/acme/shop"),
        ("http://gerrit.local:8080/a/shop", "http://gerrit.local:8080/a/shop"),
        ("file:///srv/git/shop.git", "file:///srv/git/shop.git"),
        ("/srv/git/shop.git", None),
        ("../shop", None),
    ],
)  # fmt: skip
def test_remote_urls_lose_their_credentials(remote: str, expected: str | None) -> None:
    assert normalize_remote(remote) == expected


def test_repository_uri_from_the_caller_the_origin_remote_or_the_path(make_repo: MakeRepo) -> None:
    clone = make_repo({"a.py": "x = 1\n"})
    assert derive_repository_uri(str(clone.path)) == clone.path.resolve().as_uri()  # no remote
    clone.git("remote", "add", "origin", "https://bot:tok3n@github.com/acme/shop.git")
    assert derive_repository_uri(str(clone.path)) == "https://github.com/acme/shop"
    sarif = json.loads(RENDERERS["sarif"](report((LITERAL,), repository=str(clone.path))))
    assert not schema_errors(SARIF_SCHEMA, sarif) and "tok3n" not in json.dumps(sarif)
    (provenance,) = sarif["runs"][0]["versionControlProvenance"]
    assert provenance == {
        "repositoryUri": "https://github.com/acme/shop",
        "revisionId": "a" * 40,
        "mappedTo": {"uriBaseId": "%SRCROOT%"},
    }
    given = report((LITERAL,), repository=str(clone.path))
    run = report_to_sarif(given, repository_uri="https://example.org/r")["runs"][0]
    assert run["versionControlProvenance"][0]["repositoryUri"] == "https://example.org/r"
    assert "versionControlProvenance" not in report_to_sarif(report((), repository="c"))["runs"][0]


# --- rdjson ---------------------------------------------------------------------------


def apply_suggestion(text: str, posted: Mapping[str, Any]) -> str:
    """A line-wise rdjson suggestion as reviewdog posts it (a ```suggestion block for the
    comment's lines): the block's text replaces the lines; an empty one deletes them."""
    start, end = posted["range"]["start"], posted["range"]["end"]
    assert "column" not in start and "column" not in end
    lines = text.splitlines(keepends=True)
    ending = lines[end["line"] - 1][len(lines[end["line"] - 1].rstrip("\r\n")) :]
    new = posted["text"] + ending if posted["text"] else ""
    return "".join([*lines[: start["line"] - 1], new, *lines[end["line"] :]])


def test_rdjson_is_reviewdogs_format_with_proven_suggestions_only() -> None:
    rdjson = report_to_rdjson(SCENARIO)
    assert not schema_errors(RDJSON_SCHEMA, rdjson)
    assert rdjson["source"] == {"name": "provenfix", "url": PROJECT_URL}
    assert rdjson["severity"] == "ERROR"
    literal, evaluated, broken, ship = rdjson["diagnostics"]
    codes = [d["code"]["value"] for d in rdjson["diagnostics"]]
    assert codes == ["is-literal-comparison", "eval-exec-dynamic", "test-failure", "test-failure"]
    assert literal["code"]["url"].endswith("rules/python/defect/is-literal-comparison.yaml")
    assert broken["code"]["url"].endswith("docs/validation.md#the-protocol")
    assert [literal["severity"], evaluated["severity"]] == ["WARNING", "ERROR"]
    assert literal["location"] == {"path": "shop/check.py", "range": LINE_2}
    # the most reliable proven fix, on the finding's own lines; its overlapping alternative
    # is left out; the failed candidate is not there at all
    (fix,) = literal["suggestions"]
    assert apply_suggestion(HEAD, fix) == splice(HEAD, 2, 2, '    if x == "a":\n')
    assert "reliability 0.90" in literal["message"] and "What this changes" in literal["message"]
    assert "suggestions" not in evaluated and "literal_eval" not in json.dumps(rdjson)
    # a repair of other lines than its finding's: a diagnostic of its own where it applies
    assert "suggestions" not in broken and "shop/core.py:2-3" in broken["message"]
    assert ship["location"]["path"] == "shop/core.py" and ship["severity"] == "ERROR"
    assert "`test-failure` at tests/test_core.py:5" in ship["message"]
    (fix,) = ship["suggestions"]
    assert fix["range"] == ship["location"]["range"]  # reviewdog: the comment's own lines
    assert apply_suggestion(CORE, fix) == splice(CORE, 2, 3, "    if w >= 10:\n        return 5\n")


LINE_2 = {"start": {"line": 2}, "end": {"line": 2}}


@pytest.mark.parametrize(
    ("text", "lines", "new"),
    [("a\nb\nc\n", (2, 2), "B\n"), ("a\nb\nc\n", (1, 2), "X\n"), ("a\nb\nc\n", (2, 3), ""),
     ("a\nb", (2, 2), "B")],
)  # fmt: skip
def test_rdjson_suggestions_apply_as_the_patch(text: str, lines: tuple[int, int], new: str) -> None:
    fix = suggestion("s", (), lines, new, path="sample.py", head=text)  # fixes no finding
    rdjson = report_to_rdjson(report((), (fix,)))
    assert not schema_errors(RDJSON_SCHEMA, rdjson) and "severity" not in rdjson
    (diagnostic,) = rdjson["diagnostics"]
    assert diagnostic["severity"] == "INFO" and "code" not in diagnostic
    (posted,) = diagnostic["suggestions"]
    assert apply_suggestion(text, posted) == splice(text, *lines, new)


def test_analyze_writes_rdjson_and_sarif_naming_the_remote(
    make_repo: MakeRepo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    pr = "X = 1\n\n\ndef f(a=[]):\n    return eval(a)\n"
    clone = make_repo({"shop/m.py": "X = 1\n"}, {"shop/m.py": pr})
    clone.git("remote", "add", "origin", "git@gitlab.example.org:acme/shop.git")
    sarif_path = tmp_path / "out.sarif"
    args = ["analyze", "--quiet", "--no-validate", "--repo", str(clone.path), "--base", "main"]
    code = main([*args, "--head", "pr", "--format", "rdjson", "--write", f"sarif:{sarif_path}"])
    assert code == 0
    rdjson = json.loads(capsys.readouterr().out)
    assert not schema_errors(RDJSON_SCHEMA, rdjson)
    codes = {d["code"]["value"]: d for d in rdjson["diagnostics"]}
    assert {"mutable-default-arg", "eval-exec-dynamic"} <= set(codes)
    line_5 = {"start": {"line": 5}, "end": {"line": 5}}
    assert codes["eval-exec-dynamic"]["location"] == {"path": "shop/m.py", "range": line_5}
    sarif = json.loads(sarif_path.read_text(encoding="utf-8"))
    assert not schema_errors(SARIF_SCHEMA, sarif)
    (run,) = sarif["runs"]
    uri = run["versionControlProvenance"][0]["repositoryUri"]
    assert uri == "https://gitlab.example.org/acme/shop"
    eval_rule = next(r for r in run["tool"]["driver"]["rules"] if r["id"] == "eval-exec-dynamic")
    assert "external/cwe/cwe-095" in eval_rule["properties"]["tags"]
    assert eval_rule["properties"]["security-severity"] == "8.8"


# --- pre-commit -----------------------------------------------------------------------

# pre-commit 4.x's manifest schema (pre_commit/clientlib.py, MANIFEST_HOOK_DICT): its keys
# by type, and the allowed values. pre-commit is not a dependency of ours; its own
# `pre-commit validate-manifest .pre-commit-hooks.yaml` accepts the file too.
STRINGS = {"id", "name", "entry", "alias", "files", "exclude", "description",
           "language_version", "log_file", "minimum_pre_commit_version"}  # fmt: skip
BOOLS = {"always_run", "fail_fast", "pass_filenames", "require_serial", "verbose"}
LISTS = {"types", "types_or", "exclude_types", "additional_dependencies", "args", "stages"}
STAGES = {"commit-msg", "post-checkout", "post-commit", "post-merge", "post-rewrite",
          "pre-commit", "pre-merge-commit", "pre-push", "pre-rebase", "prepare-commit-msg",
          "manual"}  # fmt: skip
LANGUAGES = {"conda", "coursier", "dart", "docker", "docker_image", "dotnet", "fail",
             "golang", "haskell", "julia", "lua", "node", "perl", "pygrep", "python", "r",
             "ruby", "rust", "swift", "unsupported", "unsupported_script"}  # fmt: skip


def test_pre_commit_hook_manifest() -> None:
    manifest = yaml.safe_load((PROJECT_ROOT / ".pre-commit-hooks.yaml").read_text())
    assert isinstance(manifest, list)
    (hook,) = manifest
    assert (
        {"id", "name", "entry", "language"} <= set(hook) <= STRINGS | BOOLS | LISTS | {"language"}
    )
    for key, value in hook.items():
        if key in STRINGS:
            assert isinstance(value, str), key
        elif key in BOOLS:
            assert isinstance(value, bool), key
        elif key in LISTS:
            assert isinstance(value, list) and all(isinstance(v, str) for v in value), key
    assert hook["language"] in LANGUAGES and set(hook["stages"]) <= STAGES
    for pattern in (hook.get("files", ""), hook.get("exclude", "")):
        re.compile(pattern)
    assert hook["id"] == "provenfix" and hook["language"] == "python"
    assert hook["pass_filenames"] is False and set(hook["stages"]) == {"pre-push", "manual"}
    # the stage names pre-push and manual need pre-commit 3.2
    assert tuple(map(int, hook["minimum_pre_commit_version"].split("."))) >= (3, 2)
    # `language: python` installs this project: the entry is its console script
    scripts = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    command, *entry_args = hook["entry"].split()
    assert command in scripts
    assert build_parser().parse_args([*entry_args, *hook["args"]]).fail_on == "error"


def test_documented_pre_commit_config_parses() -> None:
    docs = (PROJECT_ROOT / "docs" / "interop.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", docs, re.S) if "id: provenfix" in b]
    assert blocks
    for config in map(yaml.safe_load, blocks):
        for hook in (hook for repo in config["repos"] for hook in repo["hooks"]):
            assert hook["id"] == "provenfix"
            build_parser().parse_args(["analyze", *hook.get("args", [])])
