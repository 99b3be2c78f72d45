"""The one small interface every code-model backend implements."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from provenfix.jobs.errors import ProvenFixError

Role = Literal["system", "user", "assistant"]

MODEL_EXTRA_HINT = "pip install 'provenfix[model]' (install torch==2.13.0 first for a CPU build)"


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class TokenUsage:
    """What one `complete` call cost, in tokens."""

    prompt: int  # the conversation, read once (per request, for a server asked several times)
    completion: int  # over all returned answers


class Completions(list[str]):
    """The answers of one `complete` call, and their token counts when the backend knows
    them. A list of the answers' texts, so a caller that wants only those needs nothing
    else (and a backend may still return a plain list: see `usage_of`)."""

    def __init__(self, answers: Iterable[str] = (), *, usage: TokenUsage | None = None) -> None:
        super().__init__(answers)
        self.usage = usage


def usage_of(answers: Sequence[str]) -> TokenUsage | None:
    return answers.usage if isinstance(answers, Completions) else None


class ModelError(ProvenFixError):
    """A backend could not produce an answer: missing packages, a bad model, a dead server."""


class ModelUnavailable(ModelError):
    """The backend's packages or weights are not installed; the message says how to get them."""


@dataclass
class UsageStats:
    """What the backend spent, summed over its calls (for benchmarks and logs)."""

    calls: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0  # over all returned samples
    decode_steps: int = 0  # forward passes after the prompt (one per token of the longest sample)
    seconds: float = 0.0
    prefill_seconds: float = 0.0  # of `seconds`: reading the prompt, before the first new token
    stopped_by_deadline: int = 0
    per_call: list[tuple[int, int, float]] = field(default_factory=list)  # samples, tokens, s

    def add(
        self,
        samples: int,
        prompt: int,
        generated: int,
        steps: int,
        seconds: float,
        prefill_seconds: float = 0.0,
    ) -> None:
        self.calls += 1
        self.prefill_seconds += prefill_seconds
        self.prompt_tokens += prompt
        self.generated_tokens += generated
        self.decode_steps += steps
        self.seconds += seconds
        self.per_call.append((samples, generated, seconds))

    @property
    def decode_steps_per_s(self) -> float:
        """Tokens per second of one sequence while decoding (prefill excluded)."""
        decoding = self.seconds - self.prefill_seconds
        return self.decode_steps / decoding if decoding > 0 else 0.0


class CodeModel(Protocol):
    """A chat model that answers one conversation with `samples` independent answers.

    `samples == 1` or `temperature == 0` means greedy decoding, which has one
    answer: a list of one. With `greedy_first` and sampling, the first answer is
    the greedy one and the other `samples - 1` are sampled. When the last message
    is from the assistant (only sent to a backend whose `prefill` is True), every
    answer continues it and includes it. A backend stops
    generating once `deadline_s` seconds have passed since the call started and
    returns what it has (possibly cut short); it raises ModelError only when it
    cannot answer at all. A backend that counts tokens returns `Completions`.
    """

    name: str
    prefill: bool  # continues a last assistant message (see above)

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        samples: int,
        max_new_tokens: int,
        temperature: float,
        deadline_s: float,
        greedy_first: bool = False,
    ) -> list[str]: ...
