"""The pipeline's configuration, read once and handed down.

`load_pipeline_config(env, flags)` is the one place that reads the deployment's
settings of the pipeline: how candidates are proven (validation mode, the
sandbox's images and limits, the Docker engine), the code model, where the rules
and the model cache live, and what the pipeline's own tools (semgrep, a local
test run) inherit of the environment. The command line's flags (and the Action's
inputs) sit on top of the environment; every bad value is reported at once, named
as the user set it (jobs.settings_reader). The CLI, the Action and the App (whose
settings carry a `PipelineConfig`, bot.settings) call it at start-up; jobs.factory
builds the pipeline from it, together with the repository's own settings
(jobs.repo_config).

Variables (docs/configuration.md, docs/sandbox.md, docs/model.md):

    PROVENFIX_SANDBOX              docker | none | off       how candidates are proven
    PROVENFIX_SANDBOX_*            images, limits and engine of the sandbox (docs/sandbox.md)
    PROVENFIX_PIP_INDEX_URL        package index of the dependency install
    PROVENFIX_MODEL*               the code model (jobs.generation.code_model.config)
    PROVENFIX_RULES_DIR            our semgrep rules (default: the bundled rules/)
    PROVENFIX_CACHE_DIR            model cache root (default ~/.cache/provenfix)

Pure apart from checking that a configured folder exists; it opens no engine, no
model and no network (jobs.factory.PipelineFactory.check_ready does, at start-up).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import provenfix
from provenfix.jobs.generation.code_model.config import ModelOptions, model_options
from provenfix.jobs.sandbox.settings import SandboxSettings, sandbox_settings
from provenfix.jobs.settings_reader import Flag, SettingsReader

VALIDATION_MODES = ("docker", "none", "off")
# package data: provenfix/rules (in the repository, a link to rules/)
BUNDLED_RULES_DIR = Path(provenfix.__file__).resolve().parent / "rules"
# What semgrep and a `--sandbox none` test run inherit of our environment: enough to
# find programs and write caches, never a credential.
TOOL_ENV_KEYS = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT")


@dataclass(frozen=True)
class PipelineConfig:
    """What the deployment decides about every analysis; the repository decides the rest
    (jobs.repo_config.AnalysisSettings)."""

    validation: str = "docker"  # one of VALIDATION_MODES
    python: str = sys.executable  # the interpreter of validation "none"
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    model: ModelOptions = field(default_factory=ModelOptions)
    rules_dir: Path = BUNDLED_RULES_DIR
    tool_env: tuple[tuple[str, str], ...] = ()

    @property
    def tool_environ(self) -> dict[str, str]:
        return dict(self.tool_env)


def load_pipeline_config(
    env: Mapping[str, str],
    flags: Mapping[str, Flag] | None = None,
    *,
    validation_choices: tuple[str, ...] = VALIDATION_MODES,
    default_validation: str = "docker",
    python: str = sys.executable,
) -> PipelineConfig:
    """The pipeline's configuration from `env` with `flags` on top (keyed by the variable
    each flag stands for); ConfigError listing every problem otherwise."""
    reader = SettingsReader(env, flags)
    config = read_pipeline_config(
        reader,
        validation_choices=validation_choices,
        default_validation=default_validation,
        python=python,
    )
    reader.raise_problems()
    return config


def read_pipeline_config(
    reader: SettingsReader,
    *,
    validation_choices: tuple[str, ...] = VALIDATION_MODES,
    default_validation: str = "docker",
    python: str = sys.executable,
) -> PipelineConfig:
    """The same, recording problems on `reader` (bot.settings adds the App's own)."""
    validation = reader.choice(
        "PROVENFIX_SANDBOX",
        default_validation,
        validation_choices,
        hint="docker: hardened containers; none: this machine's Python, no isolation; "
        "off: no validation",
    )
    rules_dir = reader.path("PROVENFIX_RULES_DIR")
    if rules_dir is not None and not rules_dir.is_dir():
        reader.problem(
            f"PROVENFIX_RULES_DIR={str(rules_dir)!r} is not a folder; point it at a folder of "
            "semgrep rules, or unset it to use the bundled rules"
        )
        rules_dir = None
    if rules_dir is None and not BUNDLED_RULES_DIR.is_dir():
        reader.problem(
            f"the bundled semgrep rules are missing ({BUNDLED_RULES_DIR}); reinstall "
            "ProvenFix, or set PROVENFIX_RULES_DIR to a folder of rules"
        )
    cache_root = reader.path("PROVENFIX_CACHE_DIR")  # None: ~/.cache/provenfix (the registry's)
    source = reader.raw
    return PipelineConfig(
        validation=validation,
        python=python,
        sandbox=sandbox_settings(reader),
        model=model_options(reader, cache_dir=cache_root / "models" if cache_root else None),
        rules_dir=rules_dir or BUNDLED_RULES_DIR,
        tool_env=tuple((key, value) for key in TOOL_ENV_KEYS if (value := source(key)) is not None),
    )
