""".github/provenfix.yml as a maintainer writes it: every mistake at once with its line and
the likely key, rule ids checked, .gitignore patterns, .yaml too, a notice when the change
edits it, the published JSON Schema, and inline `# provenfix: ignore[...]`."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from repo_support import PROJECT_ROOT, MakeRepo

from provenfix.jobs.config import BUNDLED_RULES_DIR, PipelineConfig
from provenfix.jobs.errors import ConfigError
from provenfix.jobs.factory import build_pipeline
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.repo_config import config_change_notice, read_repo_settings, settings_from_text
from provenfix.jobs.settings import AnalysisSettings, config_json_schema, load_repo_config

BROKEN = """\
thresholds:
  complexty: 3
rules:
  disable: nope
suggestions:
  max: 500
"""


def test_every_problem_at_once_with_its_line_and_the_likely_key() -> None:
    with pytest.raises(ConfigError) as raised:
        load_repo_config(BROKEN, source="cfg.yml")
    message = str(raised.value)
    assert message.startswith("cfg.yml: 3 problems:")
    assert "line 2: thresholds.complexty: unknown key; did you mean 'complexity'?" in message
    assert "line 4: rules.disable: Input should be a valid list" in message
    assert "line 6: suggestions.max: Input should be less than or equal to 50" in message


def test_unknown_rule_ids_are_rejected_with_a_suggestion(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {
            ".github/provenfix.yml": "rules:\n  disable: [comparison-to-none-eq, eq-nonee]\n",
            ".semgrep.yml": "rules:\n- id: house-rule\n  pattern: f()\n  message: m\n"
            "  languages: [python]\n  severity: INFO\n",
        }
    )
    read = read_repo_settings(_open(repo.path), "main", rules_dir=BUNDLED_RULES_DIR)
    assert read.settings == AnalysisSettings() and len(read.problems) == 1
    assert "'eq-nonee' is not a rule id" in read.problems[0]
    good = "rules:\n  disable: [comparison-to-none-eq, house-rule, complexity-increased]\n"
    repo.commit({".github/provenfix.yml": good})
    read = read_repo_settings(_open(repo.path), "main", rules_dir=BUNDLED_RULES_DIR)
    assert read.problems == ()
    assert read.settings.disabled_rules == {
        "comparison-to-none-eq",
        "house-rule",
        "complexity-increased",
    }


def test_yaml_extension_and_both_names(make_repo: MakeRepo) -> None:
    repo = make_repo({".github/provenfix.yaml": "thresholds:\n  complexity: 42\n"})
    read = read_repo_settings(_open(repo.path), "main")
    assert read.settings.complexity_threshold == 42 and read.source.startswith(
        ".github/provenfix.yaml"
    )
    repo.commit({".github/provenfix.yml": "{}\n"})
    read = read_repo_settings(_open(repo.path), "main")
    assert read.problems and "keep one" in read.problems[0]


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("tests/test_a.py", True),
        ("pkg/tests/test_b.py", True),  # `tests/`: a tests folder at any depth
        ("docs/conf.py", True),
        ("pkg/docs/conf.py", False),  # `/docs`: the top one only
        ("gen/deep/x_pb2.py", True),
        ("gen/keep_pb2.py", False),  # `!` re-includes
        ("src/app.py", False),
    ],
)
def test_paths_ignore_reads_like_gitignore(path: str, ignored: bool) -> None:
    settings = settings_from_text(
        'paths:\n  ignore: ["tests/", "/docs", "**/*_pb2.py", "!gen/keep_pb2.py"]\n',
        source="cfg.yml",
    ).settings
    assert settings.is_ignored(path) is ignored


def test_a_change_that_edits_the_config_gets_a_notice(make_repo: MakeRepo) -> None:
    repo = make_repo({"a.py": "x = 1\n"}, {".github/provenfix.yml": "suggestions:\n  max: 1\n"})
    notice = config_change_notice(_open(repo.path), "main", "pr")
    assert notice is not None and "settings of the base" in notice and "--config" in notice
    assert config_change_notice(_open(repo.path), "main", "main") is None


def test_the_published_schema_is_the_models_and_checks_the_documented_example() -> None:
    published = json.loads((PROJECT_ROOT / "schemas" / "provenfix-config.schema.json").read_text())
    assert published == json.loads(json.dumps(config_json_schema())), "run scripts/config-schema"
    docs = (PROJECT_ROOT / "docs" / "configuration.md").read_text()
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    jsonschema.validate(yaml.safe_load(example), published)
    load_repo_config(example)  # and the loader agrees
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"thresholds": {"complexty": 3}}, published)


SUPPRESSED = """\
def tangled(a, b, c, d):  # provenfix: ignore[complexity-above-threshold]
    if a:
        if b:
            return 1
        elif c:
            return 2
    elif d:
        return 3
    return 4


def check(x):
    # provenfix: ignore[comparison-to-none-eq]
    if x == None:
        return 0
    return x == None
"""


def test_inline_suppression_drops_the_named_findings_and_says_so(make_repo: MakeRepo) -> None:
    repo = make_repo(
        {"m.py": "x = 1\n", ".github/provenfix.yml": "thresholds:\n  complexity: 2\n"},
        {"m.py": SUPPRESSED},
    )
    settings = read_repo_settings(_open(repo.path), "main").settings
    report = build_pipeline(settings, PipelineConfig(validation="off")).run(
        AnalysisRequest(repo.path, "main", "pr")
    )
    found = {(f.rule_id, f.start_line) for f in report.findings}
    assert ("comparison-to-none-eq", 16) in found  # not suppressed: no directive there
    assert ("comparison-to-none-eq", 14) not in found
    assert not any(rule == "complexity-above-threshold" for rule, _ in found)
    reasons = {(s.line, s.reason) for s in report.skipped}
    assert (14, "comparison-to-none-eq suppressed by a `# provenfix: ignore` comment") in reasons
    assert any(line == 1 and "complexity-above-threshold" in why for line, why in reasons)


def _open(path: Path):  # type: ignore[no-untyped-def]
    import git

    return git.Repo(path)
