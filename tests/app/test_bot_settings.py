"""bot.settings: the service refuses to start on a missing or invalid setting, and says why."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue

from provenfix.bot.acceptance import AcceptancePolicy
from provenfix.bot.dashboard.settings import DashboardSettings
from provenfix.bot.db import Database
from provenfix.bot.settings import (
    DEFAULT_DATABASE_URL,
    DEFAULT_GITHUB_API_URL,
    DEFAULT_REDIS_URL,
    BotSettings,
    SettingsError,
    load_settings,
)
from provenfix.bot.webapp import create_app
from provenfix.jobs.config import VALIDATION_MODES, PipelineConfig
from provenfix.jobs.errors import ConfigError
from provenfix.jobs.generation.code_model.config import ModelOptions


def minimal(private_key_pem: str) -> dict[str, str]:
    return {
        "PROVENFIX_APP_ID": "12",
        "PROVENFIX_PRIVATE_KEY": private_key_pem,
        "PROVENFIX_WEBHOOK_SECRET": "s3cret",
    }


def test_defaults(private_key_pem: str) -> None:
    settings = load_settings(minimal(private_key_pem))
    assert settings.app_id == 12
    assert settings.redis_url == DEFAULT_REDIS_URL == "redis://127.0.0.1:6379/0"
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///provenfix.db"
    assert settings.github_api_url == DEFAULT_GITHUB_API_URL == "https://api.github.com"
    assert settings.skip_drafts is True
    assert settings.pipeline.validation == "docker"
    assert settings.pipeline.model == ModelOptions() and not settings.pipeline.model.enabled
    assert settings.private_key_pem() == private_key_pem.strip() + "\n"
    assert "s3cret" not in repr(settings) and "PRIVATE KEY" not in repr(settings)


def test_every_variable(private_key_pem: str, tmp_path: Path) -> None:
    key = tmp_path / "app.pem"
    key.write_text(private_key_pem)
    env = {
        "PROVENFIX_APP_ID": "99",
        "PROVENFIX_PRIVATE_KEY_PATH": str(key),
        "PROVENFIX_WEBHOOK_SECRET": "s",
        "PROVENFIX_REDIS_URL": "redis://redis.internal:6380/3",
        "PROVENFIX_DATABASE_URL": "postgres://pf:pw@db/provenfix",
        "PROVENFIX_GITHUB_API_URL": "https://ghe.example.org/api/v3/",
        "PROVENFIX_MAX_BODY_BYTES": "65536",
        "PROVENFIX_JOB_TIMEOUT_S": "900",
        "PROVENFIX_SKIP_DRAFTS": "false",
        "PROVENFIX_MODEL": "qwen2.5-coder-1.5b",
        "PROVENFIX_SANDBOX": "none",
        "PROVENFIX_ACCEPTANCE_FLOOR": "0.3",
        "PROVENFIX_ACCEPTANCE_MIN_OUTCOMES": "12",
        "PROVENFIX_ACCEPTANCE_PRIOR_STRENGTH": "4",
    }
    settings = load_settings(env)
    assert settings == BotSettings(
        app_id=99,
        webhook_secret="s",
        private_key_path=key,
        redis_url="redis://redis.internal:6380/3",
        database_url="postgresql+psycopg://pf:pw@db/provenfix",
        github_api_url="https://ghe.example.org/api/v3",
        max_body_bytes=65536,
        job_timeout_s=900,
        skip_drafts=False,
        pipeline=PipelineConfig(validation="none", model=ModelOptions(spec="qwen2.5-coder-1.5b")),
        acceptance=AcceptancePolicy(floor=0.3, min_outcomes=12, prior_strength=4.0),
        dashboard=DashboardSettings(github_web_url="https://ghe.example.org"),
    )
    assert settings.private_key_pem().startswith("-----BEGIN RSA PRIVATE KEY-----")


def test_inline_key_with_escaped_newlines(private_key_pem: str) -> None:
    env = minimal(private_key_pem) | {"PROVENFIX_PRIVATE_KEY": private_key_pem.replace("\n", "\\n")}
    assert load_settings(env).private_key_pem() == private_key_pem.strip() + "\n"


@pytest.mark.parametrize("secret", [None, "", "   "])
def test_no_webhook_secret_refuses_to_start(private_key_pem: str, secret: str | None) -> None:
    env = minimal(private_key_pem)
    if secret is None:
        del env["PROVENFIX_WEBHOOK_SECRET"]
    else:
        env["PROVENFIX_WEBHOOK_SECRET"] = secret
    with pytest.raises(SettingsError, match="PROVENFIX_WEBHOOK_SECRET") as raised:
        load_settings(env)
    assert "refuses to start" in str(raised.value)
    assert isinstance(raised.value, ConfigError)


def test_settings_without_secret_cannot_be_built(private_key_pem: str) -> None:
    settings = load_settings(minimal(private_key_pem))
    with pytest.raises(SettingsError, match="PROVENFIX_WEBHOOK_SECRET"):
        replace(settings, webhook_secret="")


def test_create_app_refuses_without_secret(private_key_pem: str, tmp_path: Path) -> None:
    settings = load_settings(minimal(private_key_pem))
    object.__setattr__(settings, "webhook_secret", "")  # forced past the dataclass check
    redis = Redis(port=1)  # never contacted
    with pytest.raises(SettingsError, match="PROVENFIX_WEBHOOK_SECRET"):
        create_app(
            settings,
            redis=redis,
            queue=Queue("q", connection=redis),
            db=Database(f"sqlite:///{tmp_path / 'x.db'}"),
        )


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({"PROVENFIX_APP_ID": ""}, "PROVENFIX_APP_ID is not set"),
        ({"PROVENFIX_APP_ID": "abc"}, "PROVENFIX_APP_ID='abc' is not a whole number"),
        ({"PROVENFIX_APP_ID": "0"}, "PROVENFIX_APP_ID=0 is out of range"),
        ({"PROVENFIX_PRIVATE_KEY": ""}, "PROVENFIX_PRIVATE_KEY_PATH"),
        ({"PROVENFIX_PRIVATE_KEY": "not a key"}, "PROVENFIX_PRIVATE_KEY is not a PEM"),
        ({"PROVENFIX_PRIVATE_KEY_PATH": "/k.pem"}, "keep only one"),
        ({"PROVENFIX_REDIS_URL": "localhost:6379"}, "PROVENFIX_REDIS_URL"),
        ({"PROVENFIX_DATABASE_URL": "mysql://x/y"}, "PROVENFIX_DATABASE_URL uses 'mysql'"),
        ({"PROVENFIX_DATABASE_URL": "provenfix.db"}, "PROVENFIX_DATABASE_URL"),
        ({"PROVENFIX_GITHUB_API_URL": "api.github.com"}, "PROVENFIX_GITHUB_API_URL"),
        ({"PROVENFIX_MAX_BODY_BYTES": "10"}, "PROVENFIX_MAX_BODY_BYTES=10 is out of range"),
        ({"PROVENFIX_JOB_TIMEOUT_S": "1e3"}, "PROVENFIX_JOB_TIMEOUT_S='1e3'"),
        ({"PROVENFIX_SKIP_DRAFTS": "maybe"}, "PROVENFIX_SKIP_DRAFTS='maybe' is not a boolean"),
        ({"PROVENFIX_SANDBOX": "podman"}, "PROVENFIX_SANDBOX='podman' is not valid"),
        ({"PROVENFIX_QUEUE": "a b"}, "PROVENFIX_QUEUE"),
    ],
)
def test_invalid_values_name_the_variable(
    private_key_pem: str, changes: dict[str, str], names: str
) -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(minimal(private_key_pem) | changes)
    assert names in str(raised.value)


def test_unreadable_key_file_fails_at_start(private_key_pem: str, tmp_path: Path) -> None:
    env = minimal(private_key_pem)
    del env["PROVENFIX_PRIVATE_KEY"]
    env["PROVENFIX_PRIVATE_KEY_PATH"] = str(tmp_path / "missing.pem")
    settings = load_settings(env)  # pure: the file is not touched here
    with pytest.raises(SettingsError, match=r"PROVENFIX_PRIVATE_KEY_PATH=.*missing\.pem"):
        settings.private_key_pem()


def test_sandbox_modes_are_the_pipelines() -> None:
    assert VALIDATION_MODES == ("docker", "none", "off")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"PROVENFIX_MODEL": "no-such-model"}, "neither a registered model"),
        ({"PROVENFIX_MODEL": "openai:qwen"}, "needs PROVENFIX_MODEL_URL"),
        ({"PROVENFIX_MODEL_SAMPLES": "many"}, "PROVENFIX_MODEL_SAMPLES='many' is not a whole"),
        ({"PROVENFIX_MODEL_SAMPLES": "64"}, "out of range"),
        ({"PROVENFIX_MODEL_QUANTIZE": "int4"}, "use int8 or none"),
    ],
)
def test_model_settings_fail_fast(
    private_key_pem: str, extra: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(minimal(private_key_pem) | extra)


def test_openai_compatible_model_settings(private_key_pem: str) -> None:
    env = minimal(private_key_pem) | {
        "PROVENFIX_MODEL": "openai:Qwen/Qwen2.5-Coder-7B-Instruct",
        "PROVENFIX_MODEL_URL": "http://vllm:8000/v1",
        "PROVENFIX_MODEL_API_KEY_ENV": "VLLM_KEY",
        "PROVENFIX_MODEL_SAMPLES": "8",
        "VLLM_KEY": "k3y-value",
    }
    model = load_settings(env).pipeline.model
    assert (model.backend, model.label, model.samples) == (
        "openai",
        "Qwen/Qwen2.5-Coder-7B-Instruct",
        8,
    )
    assert model.api_key_env == "VLLM_KEY" and model.base_url == "http://vllm:8000/v1"
    assert model.api_key == "k3y-value" and "k3y-value" not in repr(load_settings(env))
    del env["VLLM_KEY"]  # named but not set: the service does not start
    with pytest.raises(SettingsError, match="PROVENFIX_MODEL_API_KEY_ENV='VLLM_KEY' names a"):
        load_settings(env)


def test_every_bad_setting_is_reported_at_once(private_key_pem: str) -> None:
    env = minimal(private_key_pem) | {
        "PROVENFIX_JOB_TIMEOUT_S": "soon",
        "PROVENFIX_SANDBOX": "vm",
        "PROVENFIX_SANDBOX_MEMORY": "lots",
        "PROVENFIX_MODEL_SAMPLES": "64",
    }
    with pytest.raises(SettingsError) as raised:
        load_settings(env)
    message = str(raised.value)
    assert message.startswith("4 settings need fixing:")
    for name in (
        "PROVENFIX_JOB_TIMEOUT_S='soon'",
        "PROVENFIX_SANDBOX='vm'",
        "PROVENFIX_SANDBOX_MEMORY='lots'",
        "PROVENFIX_MODEL_SAMPLES=64 is out of range",
    ):
        assert name in message


def test_acceptance_settings_say_how_to_fix_them(private_key_pem: str) -> None:
    env = {
        "PROVENFIX_APP_ID": "99",
        "PROVENFIX_PRIVATE_KEY": private_key_pem,
        "PROVENFIX_WEBHOOK_SECRET": "s",
        "PROVENFIX_ACCEPTANCE_FLOOR": "20%",
        "PROVENFIX_ACCEPTANCE_MIN_OUTCOMES": "0",
        "PROVENFIX_ACCEPTANCE_PRIOR_STRENGTH": "-1",
    }
    with pytest.raises(SettingsError) as raised:
        load_settings(env)
    message = str(raised.value)
    assert "PROVENFIX_ACCEPTANCE_FLOOR='20%' is not a fraction; use a number from 0 to 1" in message
    assert "PROVENFIX_ACCEPTANCE_MIN_OUTCOMES" in message
    assert "PROVENFIX_ACCEPTANCE_PRIOR_STRENGTH='-1' is not a positive number" in message
