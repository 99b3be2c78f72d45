"""Model settings from the environment, lazy loading, and the factory's wiring."""

from __future__ import annotations

import sys
from dataclasses import replace

import pytest
from model_support import ScriptedModel
from repo_support import MakeRepo
from test_model_pipeline import BASE, HEAD, RIGHT

from provenfix.jobs.config import PipelineConfig
from provenfix.jobs.errors import ConfigError
from provenfix.jobs.factory import build_pipeline
from provenfix.jobs.generation.code_model.backend import ChatMessage, CodeModel, ModelUnavailable
from provenfix.jobs.generation.code_model.config import (
    LazyModel,
    ModelOptions,
    model_options_from_env,
    open_model,
)
from provenfix.jobs.generation.code_model.openai_backend import OpenAICompatibleModel
from provenfix.jobs.pipeline import AnalysisRequest
from provenfix.jobs.settings import AnalysisSettings, load_repo_config

ASK = [ChatMessage("user", "hi")]


def test_defaults_are_off_and_registered_names_resolve() -> None:
    assert model_options_from_env({}) == ModelOptions()
    assert open_model(ModelOptions()) is None
    options = model_options_from_env({"PROVENFIX_MODEL": "qwen2.5-coder-0.5b"})
    assert (options.backend, options.label, options.quantize) == (
        "transformers",
        "qwen2.5-coder-0.5b",
        "int8",
    )
    gpu = model_options_from_env(
        {"PROVENFIX_MODEL": "smollm2-135m", "PROVENFIX_MODEL_DEVICE": "cuda"}
    )
    assert gpu.quantize is None  # int8 dynamic quantization is for CPUs
    lazy = open_model(options)
    assert isinstance(lazy, LazyModel) and lazy.loaded is None and lazy.prefill


def test_openai_models_open_without_any_network_io() -> None:
    options = model_options_from_env(
        {"PROVENFIX_MODEL": "openai:coder", "PROVENFIX_MODEL_URL": "http://127.0.0.1:9/v1"}
    )
    model = open_model(options)
    assert isinstance(model, OpenAICompatibleModel) and model.name == "coder"


@pytest.mark.parametrize(
    "env",
    [
        {"PROVENFIX_MODEL": "/no/such/folder"},
        {"PROVENFIX_MODEL": "openai:"},
        {"PROVENFIX_MODEL": "openai:x", "PROVENFIX_MODEL_URL": "ftp://host"},
        {"PROVENFIX_MODEL_TEMPERATURE": "hot"},
        {"PROVENFIX_MODEL_DTYPE": "int4"},
    ],
)
def test_bad_settings_fail_fast(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="PROVENFIX_MODEL"):
        model_options_from_env(env)


def test_a_lazy_model_loads_once_and_remembers_a_failed_load() -> None:
    loads: list[int] = []

    def load() -> CodeModel:
        loads.append(1)
        return ScriptedModel(["one", "two"])

    lazy = LazyModel("scripted", prefill=False, load=load)
    for _ in range(2):
        answers = lazy.complete(ASK, samples=2, max_new_tokens=8, temperature=0.5, deadline_s=5)
        assert answers == ["one", "two"]
    assert loads == [1]

    def broken() -> CodeModel:
        loads.append(2)
        raise OSError("no space left on device")

    failing = LazyModel("broken", prefill=True, load=broken)
    for _ in range(2):
        with pytest.raises(ModelUnavailable, match="loading broken failed: no space left"):
            failing.complete(ASK, samples=1, max_new_tokens=8, temperature=0, deadline_s=5)
    assert loads == [1, 2]


def test_the_factory_adds_the_model_and_the_repository_tunes_it(make_repo: MakeRepo) -> None:
    repo = make_repo(BASE, HEAD)
    options = ModelOptions(spec="openai:scripted", samples=4, time_budget_s=60)
    config = PipelineConfig(validation="none", python=sys.executable, model=options)
    tuned = load_repo_config("model:\n  samples: 2\n")
    model = ScriptedModel([RIGHT, RIGHT, RIGHT, RIGHT], prefill=True)
    pipeline = build_pipeline(tuned, config, model=model)
    report = pipeline.run(AnalysisRequest(repo.path, "main", "pr"))
    assert [c["samples"] for c in model.calls] == [2]
    assert model.calls[0]["deadline_s"] <= 60
    assert [s.source for s in report.suggestions if s.committable] == ["model:scripted"]

    off = replace(AnalysisSettings(), model_enabled=False)
    silent = ScriptedModel([RIGHT], prefill=True)
    build_pipeline(off, config, model=silent).run(AnalysisRequest(repo.path, "main", "pr"))
    assert silent.calls == []
