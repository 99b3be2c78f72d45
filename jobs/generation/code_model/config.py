"""Which code model a deployment uses, read from the environment, and opening it lazily.

    PROVENFIX_MODEL           off (default) | a registered name (scripts/fetch-model --list)
                              | a local model folder or .gguf file | openai:<served model name>
    PROVENFIX_MODEL_URL       the OpenAI-compatible server's base URL (for openai:...)
    PROVENFIX_MODEL_API_KEY_ENV  the NAME of the variable holding that server's API key
    PROVENFIX_MODEL_SAMPLES   answers per function, greedy first (default 4)
    PROVENFIX_MODEL_MAX_NEW_TOKENS  per answer (default 512)
    PROVENFIX_MODEL_TEMPERATURE     of the sampled answers (default 0.8)
    PROVENFIX_MODEL_BUDGET_S  seconds of generation per analysis, all functions (default 600)
    PROVENFIX_MODEL_ROUNDS    rounds per function: best-of-N, then again with the failures (3)
    PROVENFIX_MODEL_TARGET_BUDGET_S  seconds of generation per function, all rounds (300)
    PROVENFIX_MODEL_MAX_TARGETS     functions rewritten per analysis (default 10)
    PROVENFIX_MODEL_QUANTIZE  int8 (default on CPUs) | none
    PROVENFIX_MODEL_DEVICE    cpu (default) | cuda
    PROVENFIX_MODEL_DTYPE     float32 (default) | bfloat16 | float16
    PROVENFIX_MODEL_THREADS   CPU threads (default: all this process may use)

The repository's own config can switch the model off or ask for fewer samples
or rounds (`model:` in .github/provenfix.yml), never point it somewhere else: the server a
worker talks to is the operator's choice, not the pull request's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from provenfix.jobs.generation.code_model.backend import ChatMessage, CodeModel, ModelUnavailable
from provenfix.jobs.generation.code_model.registry import REGISTRY, ensure_local_model
from provenfix.jobs.settings_reader import SettingsReader

OPENAI_PREFIX = "openai:"


@dataclass(frozen=True)
class ModelOptions:
    spec: str = "off"
    base_url: str | None = None
    api_key_env: str | None = None
    samples: int = 4
    max_new_tokens: int = 512
    temperature: float = 0.8
    time_budget_s: float = 600.0
    max_targets: int = 10
    rounds: int = 3
    target_budget_s: float = 300.0
    quantize: str | None = "int8"
    device: str = "cpu"
    dtype: str = "float32"
    threads: int | None = None
    api_key: str | None = field(default=None, repr=False)  # read from api_key_env at start
    cache_dir: Path | None = None  # converted registry models; None: ~/.cache/provenfix/models

    @property
    def enabled(self) -> bool:
        return self.spec != "off"

    @property
    def backend(self) -> str:
        if not self.enabled:
            return "off"
        return "openai" if self.spec.startswith(OPENAI_PREFIX) else "transformers"

    @property
    def label(self) -> str:
        """The model's name as reports show it."""
        if self.backend == "openai":
            return self.spec[len(OPENAI_PREFIX) :]
        return Path(self.spec).name if self.spec not in REGISTRY else self.spec


def model_options_from_env(env: Mapping[str, str]) -> ModelOptions:
    """Pure: the model settings in `env`, or ConfigError naming every variable to fix."""
    reader = SettingsReader(env)
    options = model_options(reader)
    reader.raise_problems()
    return options


def model_options(reader: SettingsReader, *, cache_dir: Path | None = None) -> ModelOptions:
    """The PROVENFIX_MODEL* settings, recording every bad value on `reader`."""
    spec = reader.text("PROVENFIX_MODEL", "off")
    device = reader.text("PROVENFIX_MODEL_DEVICE", "cpu").lower()
    quantize_text = reader.choice("PROVENFIX_MODEL_QUANTIZE", "int8", ("int8", "none"))
    quantize = None if quantize_text == "none" or device != "cpu" else "int8"
    dtype = reader.choice("PROVENFIX_MODEL_DTYPE", "float32", ("float32", "bfloat16", "float16"))
    key_variable = reader.optional("PROVENFIX_MODEL_API_KEY_ENV")
    api_key = None
    if key_variable is not None:
        api_key = reader.raw(key_variable)
        if api_key is None:
            reader.problem(
                f"PROVENFIX_MODEL_API_KEY_ENV={key_variable!r} names a variable that is not "
                f"set; set {key_variable} to the model server's API key"
            )
    options = ModelOptions(
        spec=spec,
        base_url=reader.optional("PROVENFIX_MODEL_URL"),
        api_key_env=key_variable,
        api_key=api_key.strip() if api_key else None,
        samples=reader.integer("PROVENFIX_MODEL_SAMPLES", 4, low=1, high=16),
        max_new_tokens=reader.integer("PROVENFIX_MODEL_MAX_NEW_TOKENS", 512, low=16, high=4096),
        temperature=reader.decimal("PROVENFIX_MODEL_TEMPERATURE", 0.8, low=0.0, high=2.0),
        time_budget_s=reader.decimal("PROVENFIX_MODEL_BUDGET_S", 600.0, low=1.0, high=86_400.0),
        max_targets=reader.integer("PROVENFIX_MODEL_MAX_TARGETS", 10, low=1, high=100),
        rounds=reader.integer("PROVENFIX_MODEL_ROUNDS", 3, low=1, high=5),
        target_budget_s=reader.decimal(
            "PROVENFIX_MODEL_TARGET_BUDGET_S", 300.0, low=1.0, high=86_400.0
        ),
        quantize=quantize,
        device=device,
        dtype=dtype,
        threads=reader.integer("PROVENFIX_MODEL_THREADS", 0, low=0, high=1024) or None,
        cache_dir=cache_dir,
    )
    for problem in option_problems(options, label=_label(reader)):
        reader.problem(problem)
    return options


def _label(reader: SettingsReader) -> str:
    setting = reader.get("PROVENFIX_MODEL")
    return setting.label if setting is not None else "PROVENFIX_MODEL"


def option_problems(options: ModelOptions, *, label: str = "PROVENFIX_MODEL") -> list[str]:
    """What makes a model setting unable to ever work, each saying how to fix it; `label`
    names the setting as the user gave it (the variable, a flag, an Action input)."""
    sep = " " if label.startswith(("-", "input ")) else "="
    if options.backend == "openai":
        problems = []
        if not options.spec[len(OPENAI_PREFIX) :]:
            problems.append(f"{label}{sep}openai:NAME needs the served model's name")
        if not options.base_url or not options.base_url.startswith(("http://", "https://")):
            problems.append(
                f"{label}{sep}openai:... needs PROVENFIX_MODEL_URL, the server's base URL "
                "(e.g. http://vllm:8000/v1)"
            )
        return problems
    if options.backend == "transformers" and options.spec not in REGISTRY:
        path = Path(options.spec)
        if not path.exists():
            known = ", ".join(sorted(REGISTRY))
            return [
                f"{label}{sep}{options.spec!r} is neither a registered model ({known}) nor "
                "an existing model folder or .gguf file; use off to run without a model"
            ]
    return []


def open_model(options: ModelOptions) -> CodeModel | None:
    """The configured model, loaded on its first use (None when the model is off)."""
    if not options.enabled:
        return None
    if options.backend == "openai":
        from provenfix.jobs.generation.code_model.openai_backend import OpenAICompatibleModel

        assert options.base_url is not None  # check_options
        return OpenAICompatibleModel(
            options.base_url,
            options.label,
            api_key=options.api_key,
            timeout=min(options.time_budget_s, 600.0),
        )
    return LazyModel(options.label, prefill=True, load=lambda: _load_transformers(options))


def _load_transformers(options: ModelOptions) -> CodeModel:
    from provenfix.jobs.generation.code_model.transformers_backend import TransformersModel

    registered = options.spec in REGISTRY
    source = ensure_local_model(options.spec, options.cache_dir) if registered else options.spec
    return TransformersModel.load(
        source,
        name=options.label,
        quantize=options.quantize,
        device=options.device,
        dtype=options.dtype,
        threads=options.threads,
    )


class LazyModel:
    """A CodeModel that loads the real one when first asked: an analysis with nothing for
    the model to do never pays the load (seconds to a minute, gigabytes of memory). A load
    that failed is not retried: every later call raises the same ModelUnavailable."""

    def __init__(self, name: str, *, prefill: bool, load: Callable[[], CodeModel]) -> None:
        self.name = name
        self.prefill = prefill
        self._load = load
        self._model: CodeModel | None = None
        self._error: ModelUnavailable | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> CodeModel | None:
        return self._model

    def get(self) -> CodeModel:
        with self._lock:
            if self._error is not None:
                raise self._error
            if self._model is None:
                try:
                    self._model = self._load()
                except ModelUnavailable as exc:
                    self._error = exc
                    raise
                except (OSError, RuntimeError, ValueError, MemoryError) as exc:
                    self._error = ModelUnavailable(f"loading {self.name} failed: {exc}")
                    raise self._error from exc
            return self._model

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
        return self.get().complete(
            messages,
            samples=samples,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            deadline_s=deadline_s,
            greedy_first=greedy_first,
        )
