"""A code model behind an OpenAI-compatible chat server: vLLM, Ollama, llama.cpp, TGI.

One call is one POST to `{base_url}/v1/chat/completions` with `n` = samples.
Servers that ignore `n` (llama.cpp, Ollama) answer with one choice; the
missing samples are then asked for one request at a time until the deadline.
With `greedy_first`, a separate temperature-0 request (n=1) comes first.
The API key is read from the environment variable named `api_key_env` at call
time and only ever sent in the Authorization header: never logged or stored.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from provenfix.jobs.generation.code_model.backend import (
    ChatMessage,
    Completions,
    ModelError,
    TokenUsage,
    UsageStats,
)


class OpenAICompatibleModel:
    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 120.0,
        name: str | None = None,
        prefill: bool = False,
    ) -> None:
        """`prefill=True` for servers that continue a last assistant message when asked
        with vLLM's `continue_final_message` (vLLM; not plain OpenAI)."""
        base = base_url.rstrip("/")
        self._url = base if base.endswith("/v1") else f"{base}/v1"
        self._url += "/chat/completions"
        self._model = model
        self._api_key = _Secret(api_key) if api_key else None
        self._timeout = timeout
        self.name = name or model
        self.prefill = prefill
        self.stats = UsageStats()
        self._usage_reports = 0  # responses that said what they cost (`usage`)

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        samples: int,
        max_new_tokens: int,
        temperature: float,
        deadline_s: float,
        greedy_first: bool = False,
    ) -> list[str]:
        if samples < 1 or max_new_tokens < 1:
            return []
        started = time.monotonic()
        stop_at = started + deadline_s
        counted = (self._usage_reports, self.stats.prompt_tokens, self.stats.generated_tokens)
        chat = [{"role": m.role, "content": m.content} for m in messages]
        begun = messages[-1].content if self.prefill and messages[-1].role == "assistant" else ""
        if temperature <= 0 or samples == 1:  # greedy: one answer, the same every time
            answers = self._request(chat, 1, max_new_tokens, 0.0, stop_at)[:1]
        else:
            answers = self._request(chat, 1, max_new_tokens, 0.0, stop_at) if greedy_first else []
            while len(answers) < samples and time.monotonic() < stop_at:
                more = self._request(
                    chat, samples - len(answers), max_new_tokens, temperature, stop_at
                )
                if not more:
                    break
                answers += more  # fewer than n came back: the server ignores n; ask again
        self.stats.calls += 1
        self.stats.seconds += time.monotonic() - started
        usage = None
        if self._usage_reports > counted[0]:  # the server said what the requests cost
            usage = TokenUsage(
                self.stats.prompt_tokens - counted[1], self.stats.generated_tokens - counted[2]
            )
        return Completions((begun + answer for answer in answers[:samples]), usage=usage)

    def _request(
        self,
        chat: list[dict[str, str]],
        n: int,
        max_new_tokens: int,
        temperature: float,
        stop_at: float,
    ) -> list[str]:
        remaining = stop_at - time.monotonic()
        if remaining <= 0:
            return []
        body: dict[str, Any] = {
            "model": self._model,
            "messages": chat,
            "n": n,
            "max_tokens": max_new_tokens,
            "temperature": temperature,
            "stream": False,
        }
        if temperature > 0:
            body["top_p"] = 0.95
        if chat and chat[-1]["role"] == "assistant" and self.prefill:
            body["continue_final_message"] = True  # vLLM: continue the begun answer
            body["add_generation_prompt"] = False
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key.value}"
        request = urllib.request.Request(
            self._url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=min(self._timeout, remaining)) as resp:
                payload = json.loads(resp.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            detail = exc.read(500).decode("utf-8", "replace").strip()
            raise ModelError(f"{self._url} answered HTTP {exc.code}: {detail[:300]}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ModelError(f"{self._url} did not answer: {reason}") from None
        except ValueError as exc:
            raise ModelError(f"{self._url} did not answer with JSON: {exc}") from None
        return self._answers(payload)

    def _answers(self, payload: Any) -> list[str]:
        if not isinstance(payload, dict) or not isinstance(payload.get("choices"), list):
            raise ModelError(f"{self._url} answered without `choices`")
        usage = payload.get("usage")
        if isinstance(usage, dict):
            self._usage_reports += 1
            self.stats.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            self.stats.generated_tokens += int(usage.get("completion_tokens") or 0)
        answers: list[str] = []
        for choice in payload["choices"]:
            message = choice.get("message") if isinstance(choice, dict) else None
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, str):
                answers.append(content)
        return answers


class _Secret:
    """The API key, kept out of every repr, log line and error message."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<secret>"
