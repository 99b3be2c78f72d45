"""Analysis settings and the repository config file that overrides them.

A repository tunes ProvenFix with `.github/provenfix.yml`, always read from the
base side of a change: a pull request must not be able to switch off the checks
that judge it. `load_repo_config` is pure and fails with a message naming the
key and how to fix it.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import pathspec
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from provenfix.jobs.errors import ConfigError
from provenfix.jobs.report import Weights

REPO_CONFIG_PATH = ".github/provenfix.yml"
REPO_CONFIG_PATHS = (REPO_CONFIG_PATH, ".github/provenfix.yaml")


@dataclass(frozen=True)
class AnalysisSettings:
    complexity_threshold: int = 10  # radon rank C starts above 10
    complexity_increase: int = 3  # "notably worse" for a function already above the threshold
    maintainability_threshold: float = 10.0  # radon MI rank C is below 10
    disabled_rules: frozenset[str] = frozenset()
    ignored_paths: tuple[str, ...] = ()
    max_file_bytes: int = 1_000_000
    max_files: int = 300
    max_added_lines: int = 20_000
    analysis_timeout_s: float = 300.0
    weights: Weights = field(default_factory=Weights)
    max_suggestions: int = 10
    install_command: str | None = None  # replaces the default dependency install
    pytest_args: tuple[str, ...] = ()  # e.g. ("tests/unit", "-m", "not slow")
    model_enabled: bool = True  # the repository may switch the deployment's code model off
    model_samples: int | None = None  # fewer answers per function than the deployment's
    model_rounds: int | None = None  # fewer repair rounds per function than the deployment's

    def is_ignored(self, path: str) -> bool:
        """`paths.ignore` as .gitignore reads it: `tests/` ignores every file below a
        tests folder, `/docs` only the top one, `**/gen_*.py` at any depth, `!` re-includes."""
        return bool(self._ignore_spec.match_file(path))

    @cached_property
    def _ignore_spec(self) -> pathspec.GitIgnoreSpec:
        return pathspec.GitIgnoreSpec.from_lines(self.ignored_paths)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Thresholds(_Strict):
    complexity: int = Field(default=10, ge=1, le=200)
    complexity_increase: int = Field(default=3, ge=1, le=200)
    maintainability: float = Field(default=10.0, ge=0, le=100)


class _Rules(_Strict):
    disable: list[str] = Field(default_factory=list)


class _Paths(_Strict):
    ignore: list[str] = Field(default_factory=list)


class _Limits(_Strict):
    max_file_bytes: int = Field(default=1_000_000, ge=1_000)
    max_files: int = Field(default=300, ge=1)
    max_added_lines: int = Field(default=20_000, ge=1)
    analysis_timeout_s: float = Field(default=300.0, gt=0, le=3600)


class _Weights(_Strict):
    alpha: float = Field(default=0.4, ge=0)
    beta: float = Field(default=0.3, ge=0)
    gamma: float = Field(default=0.3, ge=0)


class _Score(_Strict):
    weights: _Weights = Field(default_factory=_Weights)


class _Suggestions(_Strict):
    max: int = Field(default=10, ge=0, le=50)


class _Tests(_Strict):
    install: str | None = Field(default=None, min_length=1, max_length=2000)
    pytest_args: list[str] = Field(default_factory=list, max_length=50)


class _Model(_Strict):
    enabled: bool = True
    samples: int | None = Field(default=None, ge=1, le=16)
    rounds: int | None = Field(default=None, ge=1, le=5)


class RepoConfig(_Strict):
    version: int = Field(default=1, ge=1, le=1)
    thresholds: _Thresholds = Field(default_factory=_Thresholds)
    rules: _Rules = Field(default_factory=_Rules)
    paths: _Paths = Field(default_factory=_Paths)
    limits: _Limits = Field(default_factory=_Limits)
    score: _Score = Field(default_factory=_Score)
    suggestions: _Suggestions = Field(default_factory=_Suggestions)
    tests: _Tests = Field(default_factory=_Tests)
    model: _Model = Field(default_factory=_Model)


def load_repo_config(text: str, *, source: str = REPO_CONFIG_PATH) -> AnalysisSettings:
    """Parse and validate a repository config; an empty file means defaults. ConfigError
    lists every problem, each with its line and, for a misspelt key, the likely one."""
    try:
        raw: Any = yaml.safe_load(text)
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where}; fix the syntax") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: must be a mapping of settings, got {type(raw).__name__}")
    try:
        config = RepoConfig.model_validate(raw)
    except ValidationError as exc:
        problems = [_describe(error, tree) for error in exc.errors()]
        raise ConfigError(config_problems(source, problems)) from None
    weights = config.score.weights
    if weights.alpha + weights.beta + weights.gamma <= 0:
        line = _line_of(tree, ("score", "weights"))
        raise ConfigError(
            config_problems(source, [f"{line}score.weights: at least one weight must be positive"])
        )
    return AnalysisSettings(
        complexity_threshold=config.thresholds.complexity,
        complexity_increase=config.thresholds.complexity_increase,
        maintainability_threshold=config.thresholds.maintainability,
        disabled_rules=frozenset(config.rules.disable),
        ignored_paths=tuple(config.paths.ignore),
        max_file_bytes=config.limits.max_file_bytes,
        max_files=config.limits.max_files,
        max_added_lines=config.limits.max_added_lines,
        analysis_timeout_s=config.limits.analysis_timeout_s,
        weights=Weights(alpha=weights.alpha, beta=weights.beta, gamma=weights.gamma),
        max_suggestions=config.suggestions.max,
        install_command=config.tests.install,
        pytest_args=tuple(config.tests.pytest_args),
        model_enabled=config.model.enabled,
        model_samples=config.model.samples,
        model_rounds=config.model.rounds,
    )


def config_problems(source: str, problems: Sequence[str]) -> str:
    """One message for every problem of a config file."""
    if len(problems) == 1:
        return f"{source}: {problems[0]} (see docs/configuration.md for the allowed keys)"
    listed = "\n  - ".join(problems)
    return (
        f"{source}: {len(problems)} problems:\n  - {listed}\n"
        "(see docs/configuration.md for the allowed keys)"
    )


def _describe(error: Any, tree: yaml.Node | None) -> str:
    loc = tuple(error["loc"])
    key = ".".join(str(part) for part in loc) or "(top level)"
    message = str(error["msg"])
    if error["type"] == "extra_forbidden" and loc:
        known = _fields_at(loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.6)
        message = "unknown key" + (f"; did you mean {close[0]!r}?" if close else "")
        if known and not close:
            message += f" (allowed here: {', '.join(sorted(known))})"
    return f"{_line_of(tree, loc)}{key}: {message}"


def _fields_at(path: Sequence[Any]) -> list[str]:
    model: Any = RepoConfig
    for part in path:
        field_info = model.model_fields.get(str(part)) if isinstance(part, str) else None
        if field_info is None or not isinstance(field_info.annotation, type):
            return []
        model = field_info.annotation
        if not issubclass(model, BaseModel):
            return []
    return list(model.model_fields)


def _line_of(tree: yaml.Node | None, loc: Sequence[Any]) -> str:
    """`line N: ` of the deepest node of `loc` that the file has ("" when none)."""
    node, found = tree, None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((k for k, v in node.value if k.value == str(part)), None)
            if match is None:
                break
            found = match
            node = next(v for k, v in node.value if k is match)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(node.value):
                break
            node = found = node.value[part]
        else:
            break
    return f"line {found.start_mark.line + 1}: " if found is not None else ""


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema of `.github/provenfix.yml` (schemas/provenfix-config.schema.json),
    generated from the model, for editors (yaml-language-server) to complete and check."""
    schema = RepoConfig.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/provenfix/provenfix/blob/main/schemas/provenfix-config.schema.json",
        "title": "ProvenFix repository configuration (.github/provenfix.yml)",
        **schema,
    }
