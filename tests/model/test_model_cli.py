"""`provenfix analyze --model openai:...`: a logic error a PR introduced, a model-written
fix proven by the repository's tests in the Docker sandbox, scored, with its rationale.

Everything is real (git, semgrep, radon, the sandbox, the pipeline, the CLI process)
but the model: a local server that speaks the OpenAI chat-completions protocol and
answers like a code model would, one good answer, one wrong one and one garbage one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from model_support import FakeServer
from repo_support import PROJECT_ROOT, MakeRepo

BASE = {
    "stats.py": '''"""Small statistics."""


def mean(values):
    """The arithmetic mean of a non-empty sequence."""
    total = 0
    for value in values:
        total += value
    return total / len(values)
''',
    "test_stats.py": """from stats import mean


def test_mean():
    assert mean([1, 2, 3, 6]) == 3


def test_mean_of_one():
    assert mean([5]) == 5
""",
}
HEAD = {"stats.py": BASE["stats.py"].replace("total / len(values)", "total / (len(values) - 1)")}

GOOD = '''```python
def mean(values):
    """The arithmetic mean of a non-empty sequence."""
    total = 0
    for value in values:
        total += value
    return total / len(values)
```'''
WRONG = GOOD.replace("total / len(values)", "total / (len(values) + 1)")
CLI = [sys.executable, "-m", "provenfix.bot.cli", "analyze", "--base", "main"]
GARBAGE = "I am sorry, I cannot help with that."


def reply(body: dict[str, Any], index: int) -> str:
    if body["temperature"] == 0:
        return GOOD  # the greedy answer
    return (WRONG, GARBAGE)[index % 2]


def analyze(repo: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = repo.parent / "report.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROVENFIX_MODEL")}
    proc = subprocess.run(
        [
            *CLI,
            "--repo",
            str(repo),
            "--head",
            "pr",
            "--format",
            "json",
            "--output",
            str(out),
            *extra,
        ],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc, json.loads(out.read_text())


def test_a_model_written_fix_is_proven_scored_and_explained(
    make_repo: MakeRepo, report_validator: Any
) -> None:
    repo = make_repo(BASE, HEAD)
    with FakeServer(reply) as server:
        proc, report = analyze(
            repo.path,
            "--sandbox",
            "docker",
            "--model",
            "openai:coder",
            "--model-url",
            server.url,
            "--model-samples",
            "3",
        )
    report_validator(report)
    failures = [f for f in report["findings"] if f["rule_id"] == "test-failure"]
    assert len(failures) == 2  # test_mean (wrong value) and test_mean_of_one (division by 0)
    bodies = [body for _, _, body in server.requests]
    assert [(b["n"], b["temperature"]) for b in bodies] == [(1, 0.0), (2, 0.8)]
    prompt = bodies[0]["messages"][-1]["content"]
    assert "def mean(values):" in prompt and "lines 4-9 of `stats.py`" in prompt
    assert "assert mean([1, 2, 3, 6]) == 3" in prompt  # the failing test's source
    model_made = [s for s in report["suggestions"] if s["source"] == "model:coder"]
    proven = [s for s in model_made if s["validation"]["status"] == "passed"]
    (fix,) = proven
    assert fix["replacement"] == "    return total / len(values)\n"
    assert (fix["start_line"], fix["end_line"]) == (9, 9)
    assert fix["validation"]["fixed_tests"] == [
        "test_stats.py::test_mean",
        "test_stats.py::test_mean_of_one",
    ]
    assert fix["validation"]["new_failures"] == []
    assert sorted(fix["finding_ids"]) == sorted(f["id"] for f in failures)
    assert 0 < fix["score"]["reliability"] <= 1
    assert fix["score"]["components"]["coverage"] == 1.0
    assert "code model coder" in fix["rationale"] and "test_stats.py::test_mean" in fix["rationale"]
    assert len(model_made) == 1  # at most one suggestion per finding: the proven one
    notes = [s["reason"] for s in report["skipped"] if "code model coder" in s["reason"]]
    assert any("holds no Python code" in n for n in notes), report["skipped"]
    assert "code model: coder" in proc.stderr


def test_the_repository_can_switch_the_model_off(make_repo: MakeRepo) -> None:
    config = {".github/provenfix.yml": "model:\n  enabled: false\n"}
    repo = make_repo({**BASE, **config}, HEAD)
    with FakeServer(reply) as server:
        _, report = analyze(
            repo.path, "--sandbox", "none", "--model", "openai:coder", "--model-url", server.url
        )
    assert server.requests == []
    assert any(f["rule_id"] == "test-failure" for f in report["findings"])
    assert not any(s["source"].startswith("model:") for s in report["suggestions"])


def test_a_dead_model_server_leaves_a_note_not_a_crash(make_repo: MakeRepo) -> None:
    repo = make_repo(BASE, HEAD)
    _, report = analyze(
        repo.path,
        "--sandbox",
        "none",
        "--model",
        "openai:coder",
        "--model-url",
        "http://127.0.0.1:9",
    )
    assert not any(s["source"].startswith("model:") for s in report["suggestions"])
    reasons = [s["reason"] for s in report["skipped"]]
    assert any("the model failed" in r and "did not answer" in r for r in reasons), reasons


def test_bad_model_settings_are_a_usage_error(make_repo: MakeRepo) -> None:
    repo = make_repo(BASE, HEAD)
    proc = subprocess.run(
        [*CLI, "--repo", str(repo.path), "--head", "pr", "--no-validate", "--model", "openai:x"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 2
    assert "needs PROVENFIX_MODEL_URL" in proc.stderr and "Traceback" not in proc.stderr
