from __future__ import annotations

import pytest

from provenfix.jobs.errors import ConfigError
from provenfix.jobs.settings import AnalysisSettings, load_repo_config


def test_empty_config_means_defaults() -> None:
    assert load_repo_config("") == AnalysisSettings()


def test_values_are_applied() -> None:
    settings = load_repo_config(
        "thresholds:\n  complexity: 15\nrules:\n  disable: [eq-none]\n"
        "paths:\n  ignore: ['migrations/*']\nscore:\n  weights: {alpha: 1, beta: 0, gamma: 0}\n"
    )
    assert settings.complexity_threshold == 15
    assert settings.disabled_rules == {"eq-none"}
    assert settings.is_ignored("migrations/0001.py") and not settings.is_ignored("app.py")
    assert settings.weights.alpha == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("thresholds: [1, 2", "not valid YAML at line"),
        ("- a\n- b\n", "must be a mapping"),
        ("thresholds:\n  complexity: lots\n", "thresholds.complexity"),
        ("thresholds:\n  complexity: 0\n", "thresholds.complexity"),
        ("treshold: 3\n", "treshold"),
        ("score:\n  weights: {alpha: 0, beta: 0, gamma: 0}\n", "at least one weight"),
    ],
)
def test_broken_config_names_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_repo_config(text, source=".github/provenfix.yml")
    assert str(info.value).startswith(".github/provenfix.yml")
