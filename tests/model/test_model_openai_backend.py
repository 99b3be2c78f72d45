"""The OpenAI-compatible backend against a local server that speaks the protocol."""

from __future__ import annotations

import os

import pytest
from model_support import FakeServer

from provenfix.jobs.errors import ConfigError
from provenfix.jobs.generation.code_model.backend import ChatMessage, ModelError
from provenfix.jobs.generation.code_model.config import model_options_from_env, open_model
from provenfix.jobs.generation.code_model.openai_backend import OpenAICompatibleModel

MESSAGES = [ChatMessage("system", "be brief"), ChatMessage("user", "fix it")]


def test_one_request_with_n_samples_and_the_key_from_the_environment(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("TEST_LLM_KEY", "s3cret-key")
    options = model_options_from_env(
        {
            "PROVENFIX_MODEL": "openai:qwen-coder",
            "PROVENFIX_MODEL_URL": server.url,
            "PROVENFIX_MODEL_API_KEY_ENV": "TEST_LLM_KEY",
            "TEST_LLM_KEY": os.environ["TEST_LLM_KEY"],
        }
    )
    model = open_model(options)
    assert isinstance(model, OpenAICompatibleModel)
    answers = model.complete(MESSAGES, samples=4, max_new_tokens=64, temperature=0.7, deadline_s=10)
    assert answers == [f"answer t=0.7 #1.{i}" for i in range(4)]
    ((path, headers, body),) = server.requests
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer s3cret-key"
    assert body["model"] == "qwen-coder" and body["n"] == 4 and body["max_tokens"] == 64
    assert body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "fix it"},
    ]
    assert model.stats.generated_tokens == 20
    assert "s3cret" not in repr(vars(model)) and "s3cret" not in caplog.text


def test_greedy_first_is_a_separate_temperature_zero_request(server: FakeServer) -> None:
    model = OpenAICompatibleModel(server.url + "/v1/", "m")
    answers = model.complete(
        MESSAGES, samples=3, max_new_tokens=8, temperature=0.8, deadline_s=10, greedy_first=True
    )
    assert answers[0] == "answer t=0.0 #1.0" and len(answers) == 3
    assert [(b["n"], b["temperature"]) for _, _, b in server.requests] == [(1, 0.0), (2, 0.8)]
    assert "Authorization" not in server.requests[0][1]
    assert server.requests[0][0] == "/v1/chat/completions"


def test_a_server_that_ignores_n_is_asked_again(server: FakeServer) -> None:
    server.honor_n = False
    model = OpenAICompatibleModel(server.url, "m")
    answers = model.complete(MESSAGES, samples=3, max_new_tokens=8, temperature=0.8, deadline_s=10)
    assert len(answers) == 3 and len(set(answers)) == 3
    assert [b["n"] for _, _, b in server.requests] == [3, 2, 1]


def test_greedy_is_one_answer(server: FakeServer) -> None:
    model = OpenAICompatibleModel(server.url, "m")
    assert model.complete(MESSAGES, samples=4, max_new_tokens=8, temperature=0, deadline_s=10) == [
        "answer t=0.0 #1.0"
    ]


def test_errors_are_model_errors_with_the_reason(
    server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.status = 404
    model = OpenAICompatibleModel(server.url, "m")
    with pytest.raises(ModelError, match=r"HTTP 404.*model not found"):
        model.complete(MESSAGES, samples=1, max_new_tokens=8, temperature=0, deadline_s=10)
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(ConfigError, match="set NO_SUCH_KEY_VAR to"):
        model_options_from_env(  # a key variable that is not set stops the start, not a request
            {
                "PROVENFIX_MODEL": "openai:m",
                "PROVENFIX_MODEL_URL": server.url,
                "PROVENFIX_MODEL_API_KEY_ENV": "NO_SUCH_KEY_VAR",
            }
        )
    dead = OpenAICompatibleModel("http://127.0.0.1:9", "m", timeout=2)
    with pytest.raises(ModelError, match="did not answer"):
        dead.complete(MESSAGES, samples=1, max_new_tokens=8, temperature=0, deadline_s=10)


def test_prefill_continues_the_begun_answer_with_vllm_flags(server: FakeServer) -> None:
    model = OpenAICompatibleModel(server.url, "m", prefill=True)
    begun = ChatMessage("assistant", "```python\ndef f():\n")
    answers = model.complete(
        [*MESSAGES, begun], samples=2, max_new_tokens=8, temperature=0.5, deadline_s=10
    )
    assert answers == [
        "```python\ndef f():\nanswer t=0.5 #1.0",
        "```python\ndef f():\nanswer t=0.5 #1.1",
    ]
    ((_, _, body),) = server.requests
    assert body["messages"][-1] == {"role": "assistant", "content": "```python\ndef f():\n"}
    assert body["continue_final_message"] is True and body["add_generation_prompt"] is False
