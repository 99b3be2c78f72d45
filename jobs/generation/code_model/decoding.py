"""Decoding helpers of the transformers backend: when an answer is complete, how a
batch stops, how it samples, and a key/value cache that grows in place.

torch and transformers are passed in (never imported here), so this module loads
without the model extra.
"""

from __future__ import annotations

import time
from typing import Any


def fence_closed(text: str) -> bool:
    """True once `text` holds a complete fenced block (an opening and a closing ```)."""
    start = text.find("```")
    if start < 0:
        return False
    line_end = text.find("\n", start)
    return line_end >= 0 and "```" in text[line_end:]


def answer_complete(begun: str, written: str) -> bool:
    """A closed code block, or, after a `def` at column 0, a new line of code at column 0
    in what the model wrote (the function is over: what follows is examples or tests)."""
    text = begun + written
    if fence_closed(text):
        return True
    position, in_def = 0, False
    for line in text.split("\n"):
        start, position = position, position + len(line) + 1
        if not in_def:
            in_def = line.startswith(("def ", "async def "))
        elif (
            start >= len(begun)
            and line[:1].strip()
            and not line.startswith((")", "]", "}", "#"))  # a signature's end, a comment
        ):
            return True
    return False


def token_marks(tokenizer: Any) -> tuple[frozenset[int], ...]:
    """Token ids with a backtick; with a newline then text; ending a line; starting with text."""
    size = len(tokenizer)
    texts = tokenizer.batch_decode([[i] for i in range(size)], skip_special_tokens=True)
    marks: tuple[set[int], ...] = (set(), set(), set(), set())
    for i, text in enumerate(texts):
        if "`" in text:
            marks[0].add(i)
        if any(part[:1].strip() for part in text.split("\n")[1:]):
            marks[1].add(i)
        if text.endswith("\n"):
            marks[2].add(i)
        if text[:1].strip():
            marks[3].add(i)
    return tuple(frozenset(m) for m in marks)


def growing_cache(transformers: Any, config: Any) -> Any:
    """A DynamicCache whose full-attention layers append in place (see _BufferedLayer)."""
    from transformers.cache_utils import DynamicLayer

    cache = transformers.DynamicCache(config=config)
    layer_class = _buffered_layer_class(DynamicLayer)
    cache.layers = [layer_class() if type(x) is DynamicLayer else x for x in cache.layers]
    return cache


_LAYER_CLASSES: dict[type, type] = {}


def _buffered_layer_class(base: type) -> type:
    """DynamicLayer, but appending into spare room instead of concatenating every step.

    The stock layer copies the whole key/value history at every decode step (a
    `torch.cat` per layer), which for 8 samples of a 600-token prompt moves about
    300 MB per step. This one keeps 256 tokens of room and exposes views.
    """
    if base in _LAYER_CLASSES:
        return _LAYER_CLASSES[base]

    class BufferedLayer(base):  # type: ignore[misc]
        spare = 256
        keys: Any
        values: Any

        def update(self, keys: Any, values: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(keys, values)
            length, new = self.get_seq_length(), keys.shape[-2]
            room = getattr(self, "_room", None)
            if (
                room is None
                or room[0].shape[0] != keys.shape[0]
                or length + new > room[0].shape[-2]
                or (length and self.keys.data_ptr() != room[0].data_ptr())
            ):  # first use, batch expanded, full, or replaced (crop/repeat): reallocate
                size = (*keys.shape[:-2], length + new + self.spare, keys.shape[-1])
                room = (keys.new_empty(size), values.new_empty(size))
                if length:
                    room[0][..., :length, :] = self.keys
                    room[1][..., :length, :] = self.values
                self._room = room
            room[0][..., length : length + new, :] = keys
            room[1][..., length : length + new, :] = values
            self.keys = room[0][..., : length + new, :]
            self.values = room[1][..., : length + new, :]
            return self.keys, self.values

    _LAYER_CLASSES[base] = BufferedLayer
    return BufferedLayer


def stop_criteria(
    transformers: Any,
    torch: Any,
    tokenizer: Any,
    marks: tuple[frozenset[int], ...],  # from token_marks
    stops: set[int],  # end-of-answer and padding token ids
    *,
    prompt_len: int,
    stop_at: float,
    prefix: str,
    cap_after_first: bool,
) -> Any:
    backticks, line_text, ends_line, starts_text = marks

    class StopCriteria(transformers.StoppingCriteria):  # type: ignore[misc]
        """Every row at the deadline; a row once its answer is complete (answer_complete); with
        `cap_after_first`, once row 0 (the greedy answer) has ended after n tokens, any
        row still going after max(2n, n + 48) tokens: the batch ends with its longest
        row, and an answer that much longer than the greedy one is rambling."""

        first_done: int | None = None

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            rows, length = input_ids.shape[0], input_ids.shape[1] - prompt_len
            if time.monotonic() >= stop_at:
                return torch.ones(rows, dtype=torch.bool, device=input_ids.device)
            done = torch.zeros(rows, dtype=torch.bool, device=input_ids.device)
            for row in range(rows):
                last, before = int(input_ids[row, -1]), int(input_ids[row, -2])
                if (
                    last in backticks
                    or last in line_text
                    or (before in ends_line and last in starts_text)
                ):  # only then can the answer have become complete: decode and look
                    text = tokenizer.decode(input_ids[row, prompt_len:], skip_special_tokens=True)
                    done[row] = answer_complete(prefix, text)
            first_ended = bool(done[0]) or int(input_ids[0, -1]) in stops
            if cap_after_first and self.first_done is None and first_ended:
                self.first_done = length
            if self.first_done is not None and length > max(
                2 * self.first_done, self.first_done + 48
            ):
                done[:] = True
            return done

    return transformers.StoppingCriteriaList([StopCriteria()])


def nucleus(
    transformers: Any,
    torch: Any,
    temperature: float,
    greedy_first: bool,
    k: int = 64,
    p: float = 0.95,
) -> Any:
    class Nucleus(transformers.LogitsProcessor):  # type: ignore[misc]
        """Temperature, then top-p within the top k tokens; row 0 greedy when asked.

        transformers' own top-p sorts the whole vocabulary (150k tokens for Qwen) for
        every row at every step, which costs more than the decode step on a small CPU.
        """

        def __call__(self, input_ids: Any, scores: Any) -> Any:
            top, index = torch.topk(scores, min(k, scores.shape[-1]), dim=-1)
            probs = torch.softmax(top / temperature, dim=-1)
            before = torch.cumsum(probs, dim=-1) - probs  # mass of the better tokens
            top = torch.where(before < p, top / temperature, float("-inf"))
            if greedy_first:
                top[0, 1:] = float("-inf")  # topk is sorted: column 0 is the argmax
            out = torch.full_like(scores, float("-inf"))
            return out.scatter_(-1, index, top)

    return Nucleus()
