"""A code model run in-process with transformers (CPU or GPU), imported lazily.

`complete` prefills the prompt ONCE, copies its key/value cache to every
sample, and decodes all samples in ONE batched `generate` call: on a CPU the
decode is bound by reading the weights, so eight samples cost little more
than one (with int8 weights; float32 matrix products on a small batch are not
much cheaper than one per row). The first answer is greedy when asked
(`greedy_first`), the others sampled. Each answer stops once complete (its code
block closed, or its function followed by other code), at the end-of-turn token,
at `max_new_tokens`, or, all of them, at the deadline (see decoding.py).
"""

from __future__ import annotations

import inspect
import os
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from provenfix.jobs.generation.code_model.backend import (
    MODEL_EXTRA_HINT,
    ChatMessage,
    Completions,
    ModelError,
    ModelUnavailable,
    TokenUsage,
    UsageStats,
)
from provenfix.jobs.generation.code_model.decoding import (
    growing_cache,
    nucleus,
    stop_criteria,
    token_marks,
)

DTYPES = ("float32", "bfloat16", "float16")
QUANTIZATIONS = ("int8",)


def import_runtime() -> tuple[Any, Any]:
    """torch and transformers, or ModelUnavailable saying how to install them."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise ModelUnavailable(
            f"the transformers backend needs torch and transformers ({exc.name} is not "
            f"installed): {MODEL_EXTRA_HINT}"
        ) from None
    _quiet(transformers)
    return torch, transformers


def _quiet(transformers: Any) -> None:
    """No progress bars of theirs on our stderr (loading shards, downloads): our own
    progress says what runs; their warnings still go through logging."""
    transformers.utils.logging.disable_progress_bar()
    try:
        from huggingface_hub.utils import disable_progress_bars  # type: ignore[attr-defined]
    except ImportError:
        return
    disable_progress_bars()


def cpu_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class TransformersModel:
    prefill = True

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        name: str,
        max_prompt_tokens: int = 6144,
        device: str = "cpu",
    ) -> None:
        self.name = name
        self.device = device
        self.stats = UsageStats()
        self._model = model
        self._tokenizer = tokenizer
        self._max_prompt_tokens = max_prompt_tokens
        self._lock = threading.Lock()  # one generate at a time: the model is not reentrant
        self._marks = token_marks(tokenizer)
        self._cache_kw = cache_keyword(model)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    @classmethod
    def load(
        cls,
        source: str | Path,
        *,
        name: str | None = None,
        gguf_file: str | None = None,
        dtype: str = "float32",
        quantize: str | None = None,
        threads: int | None = None,
        allow_hub: bool = False,
        device: str = "cpu",
    ) -> TransformersModel:
        """Load a local folder, a GGUF file, or (with allow_hub) a hub id.

        dtype: float32 (the safe default on CPUs), bfloat16 or float16 (for GPUs; on a
        CPU without bf16 instructions they are slower than float32).
        quantize="int8": dynamic int8 quantization of the linear layers (CPU only):
        the 1.5B decodes 10-11 tokens/s on 2 cores instead of 2.9, and a batch of 8
        samples costs about as much per step as one.
        device: "cpu", or e.g. "cuda" (untested here: no GPU).
        """
        if dtype not in DTYPES:
            raise ModelError(f"unknown dtype {dtype!r}; one of {', '.join(DTYPES)}")
        if quantize is not None and quantize not in QUANTIZATIONS:
            raise ModelError(f"unknown quantization {quantize!r}; one of {QUANTIZATIONS}")
        if quantize is not None and device != "cpu":
            raise ModelError("int8 quantization is for CPUs; on a GPU use dtype=bfloat16")
        torch, transformers = import_runtime()
        torch.set_num_threads(threads or cpu_threads())
        folder, gguf = _resolve(Path(source), gguf_file)
        if folder is None:
            if not allow_hub:
                raise ModelUnavailable(
                    f"{source} is not a local model folder or GGUF file (a hub id needs "
                    "allow_hub=True and a network that reaches the hub)"
                )
            folder = str(source)
        kwargs: dict[str, Any] = {"local_files_only": not allow_hub}
        if gguf is not None:
            kwargs["gguf_file"] = gguf
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(folder, **kwargs)
            model = transformers.AutoModelForCausalLM.from_pretrained(
                folder, dtype=getattr(torch, dtype), **kwargs
            )
        except (OSError, ValueError) as exc:
            raise ModelUnavailable(f"cannot load model from {source}: {exc}") from exc
        model.eval()
        if quantize == "int8":
            model = _quantize_int8(torch, model)
        elif device != "cpu":
            model = model.to(device)
        return cls(model, tokenizer, name=name or Path(str(source)).name, device=device)

    @classmethod
    def from_registry(
        cls, name: str, cache_dir: Path | None = None, **load_options: Any
    ) -> TransformersModel:
        """A registered offline model (see registry.py), converted once into the cache."""
        from provenfix.jobs.generation.code_model.registry import ensure_local_model

        return cls.load(ensure_local_model(name, cache_dir), name=name, **load_options)

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> int:
        return int(self._encode(messages)[0].shape[1])

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
        torch, transformers = import_runtime()
        with self._lock:
            ids, prefix = self._encode(messages)
            ids = ids.to(self.device)
            if ids.shape[1] > self._max_prompt_tokens:
                raise ModelError(
                    f"prompt of {ids.shape[1]} tokens is over the limit of "
                    f"{self._max_prompt_tokens}"
                )
            sample = samples > 1 and temperature > 0
            samples = samples if sample else 1  # greedy answers would all be the same
            with torch.inference_mode():
                prefill_started = time.monotonic()
                cache = growing_cache(transformers, self._model.config)
                if ids.shape[1] > 1:  # prefill once, then share the cache with every sample
                    self._model(input_ids=ids[:, :-1], use_cache=True, **{self._cache_kw: cache})
                prefill_s = time.monotonic() - prefill_started
                if samples > 1:
                    cache.batch_repeat_interleave(samples)
                batch = ids.repeat(samples, 1)
                criteria = stop_criteria(
                    transformers,
                    torch,
                    self._tokenizer,
                    self._marks,
                    self._stop_ids(),
                    prompt_len=ids.shape[1],
                    stop_at=stop_at,
                    prefix=prefix,
                    cap_after_first=sample and greedy_first,
                )
                processors = transformers.LogitsProcessorList()
                if sample:  # top-k then top-p over the k: no sort of the whole vocabulary
                    processors.append(nucleus(transformers, torch, temperature, greedy_first))
                out = self._model.generate(
                    input_ids=batch,
                    attention_mask=torch.ones_like(batch),
                    **{self._cache_kw: cache},
                    max_new_tokens=max_new_tokens,
                    stopping_criteria=criteria,
                    logits_processor=processors,
                    pad_token_id=self._tokenizer.pad_token_id,
                    do_sample=sample,
                    temperature=None,
                    top_k=None,
                    top_p=None,
                    min_p=None,
                    repetition_penalty=None,
                )
        new = out[:, ids.shape[1] :]
        lengths = [_answer_length(row.tolist(), self._stop_ids()) for row in new]
        texts = [
            prefix + self._tokenizer.decode(row[:n], skip_special_tokens=True)
            for row, n in zip(new, lengths, strict=True)
        ]
        elapsed = time.monotonic() - started
        self.stats.add(
            samples, int(ids.shape[1]), sum(lengths), int(new.shape[1]), elapsed, prefill_s
        )
        if time.monotonic() > stop_at:
            self.stats.stopped_by_deadline += 1
        return Completions(texts, usage=TokenUsage(int(ids.shape[1]), sum(lengths)))

    def _encode(self, messages: Sequence[ChatMessage]) -> tuple[Any, str]:
        """Token ids of the conversation, and the begun answer (a last assistant message)."""
        prefix = messages[-1].content if messages and messages[-1].role == "assistant" else ""
        chat = [{"role": m.role, "content": m.content} for m in messages[: -1 if prefix else None]]
        encoded = self._tokenizer.apply_chat_template(
            chat, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
        ids = encoded["input_ids"]
        if prefix:
            torch, _ = import_runtime()
            more = self._tokenizer(prefix, add_special_tokens=False, return_tensors="pt")
            ids = torch.cat([ids, more["input_ids"]], dim=1)
        return ids, prefix

    def _stop_ids(self) -> set[int]:
        eos = self._model.generation_config.eos_token_id
        ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        ids.add(self._tokenizer.pad_token_id)
        return ids


def _resolve(source: Path, gguf_file: str | None) -> tuple[str | None, str | None]:
    if gguf_file is not None:
        return str(source), gguf_file
    if source.is_file() and source.suffix == ".gguf":
        return str(source.parent), source.name
    if source.is_dir():
        ggufs = sorted(source.glob("*.gguf"))
        if not (source / "config.json").exists() and len(ggufs) == 1:
            return str(source), ggufs[0].name
        return str(source), None
    return None, None


def _answer_length(tokens: list[int], stop_ids: set[int]) -> int:
    for index, token in enumerate(tokens):
        if token in stop_ids:
            return index
    return len(tokens)


def _quantize_int8(torch: Any, model: Any) -> Any:
    if "x86" in torch.backends.quantized.supported_engines:
        torch.backends.quantized.engine = "x86"
    with warnings.catch_warnings():
        # torch.ao announces its move to torchao; the pinned torch 2.13 has it all
        warnings.filterwarnings("ignore", message=r"torch\.(ao\.quantization is|quantize_per_)")
        from torch.ao.nn.quantized.dynamic import Linear as QuantizedLinear
        from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

        model = quantize_dynamic(  # type: ignore[no-untyped-call]
            model, {torch.nn.Linear: per_channel_dynamic_qconfig}, dtype=torch.qint8, inplace=True
        )
    _own_memory(torch, model, QuantizedLinear)
    return model


def _own_memory(torch: Any, model: Any, quantized_linear: type[Any]) -> None:
    """Copy what quantization left in float (embeddings, norms, biases) out of the memory-
    mapped checkpoint: while one tensor views it, the whole mapping stays (the 1.5B: 8.2 GB
    resident after loading; 3.4 GB once released)."""
    with torch.no_grad():
        module: Any
        for module in model.modules():
            if isinstance(module, quantized_linear):
                weight, bias = module._weight_bias()
                module.set_weight_bias(weight, None if bias is None else bias.clone())
            for name, buffer in list(module._buffers.items()):
                if buffer is not None:
                    module._buffers[name] = buffer.clone()
        for parameter in model.parameters():
            parameter.data = parameter.data.clone()


def cache_keyword(model: Any) -> str:
    """The name a model's forward and generate take the key/value cache by: `cache` since
    transformers 5.25 (where `past_key_values` is deprecated), `past_key_values` before."""
    forward = getattr(type(model), "forward", None)
    try:
        parameters = inspect.signature(forward).parameters if forward else {}
    except (TypeError, ValueError):
        parameters = {}
    return "cache" if "cache" in parameters else "past_key_values"
