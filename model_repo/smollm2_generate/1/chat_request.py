"""What both targets of a generation model share, with no Triton or engine dependency.

The chat files and a request's inputs are read, and the inputs bounded, here (the TensorRT-LLM ensemble's names: `text_input`,
`max_tokens`, `stream`, sampling inputs, `stop_words`), stop words are matched on the decoded
text, and the scheduler's or the BLS model's events reach an `Observer` (the metrics).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

MAX_STOP_WORDS = 16
MAX_STOP_WORD_CHARS = 64
InputReader = Callable[[str], "np.ndarray | None"]
"""A request's input tensor by name, None when the client did not send it."""


class InvalidInputError(ValueError):
    """A request input outside its allowed values."""


@dataclass(frozen=True)
class Sampling:
    """Per-request generation settings (already validated)."""

    max_tokens: int
    temperature: float = 0.0
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop_words: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """The model's bounds on one request (its config parameters)."""

    max_prompt_tokens: int
    max_output_tokens: int
    max_text_chars: int

    @classmethod
    def from_parameters(cls, parameters: dict[str, str]) -> Limits:
        """From a model config's string parameters."""
        return cls(int(parameters["max_prompt_tokens"]), int(parameters["max_output_tokens"]), int(parameters["max_text_chars"]))


@dataclass(frozen=True)
class ChatFiles:
    """The version folder's chat template and system prompt: files, so the build manifest hashes them."""

    template: str
    system_prompt: str

    @classmethod
    def read(cls, version_folder: Path) -> ChatFiles:
        """From `chat_template.jinja` and `system_prompt.txt`."""
        return cls((version_folder / "chat_template.jinja").read_text(), (version_folder / "system_prompt.txt").read_text().strip())

    def messages(self, user_message: str) -> list[dict[str, str]]:
        """The conversation the template renders: the system prompt, then the user's message."""
        return [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": user_message}]


def _scalar(read: InputReader, name: str, default: Any) -> Any:
    tensor = read(name)
    if tensor is None:
        return default
    values = tensor.reshape(-1)
    if values.size != 1:
        raise InvalidInputError(f"{name} must hold one value, got {values.size}")
    return values[0].item() if hasattr(values[0], "item") else values[0]


def _bounded_number(name: str, value: Any, low: float, high: float, *, integer: bool = False) -> Any:
    if isinstance(value, bytes) or not math.isfinite(float(value)) or not low <= value <= high or (integer and int(value) != value):
        raise InvalidInputError(f"{name} must be {'an integer' if integer else 'a finite number'} in [{low}, {high}], got {value!r}")
    return int(value) if integer else float(value)


def _text(value: Any, name: str, max_chars: int) -> str:
    try:
        text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{name} must be UTF-8: {error}") from error
    if len(text) > max_chars:
        raise InvalidInputError(f"{name} has {len(text)} characters; at most {max_chars}")
    return text


def read_sampling(read: InputReader, defaults: dict[str, Any], limits: Limits) -> Sampling:
    """The request's sampling settings, each bounded, the version folder's `sampling.json` filling what it leaves out."""
    stop_words = read("stop_words")
    words = [] if stop_words is None else [_text(word, "stop_words", MAX_STOP_WORD_CHARS) for word in stop_words.reshape(-1)]
    if len(words) > MAX_STOP_WORDS or any(not word for word in words):
        raise InvalidInputError(f"stop_words must be at most {MAX_STOP_WORDS} non-empty strings, got {len(words)}")
    seed = _scalar(read, "seed", None)
    return Sampling(
        max_tokens=_bounded_number("max_tokens", _scalar(read, "max_tokens", defaults["max_tokens"]), 1, limits.max_output_tokens, integer=True),
        temperature=_bounded_number("temperature", _scalar(read, "temperature", defaults["temperature"]), 0.0, 2.0),
        top_k=_bounded_number("top_k", _scalar(read, "top_k", defaults["top_k"]), 0, 1000, integer=True),
        top_p=_bounded_number("top_p", _scalar(read, "top_p", defaults["top_p"]), 0.01, 1.0),
        repetition_penalty=_bounded_number("repetition_penalty", _scalar(read, "repetition_penalty", defaults["repetition_penalty"]), 0.5, 2.0),
        seed=None if seed is None else _bounded_number("seed", seed, 0, 2**63 - 1, integer=True),
        stop_words=tuple(words),
    )


def read_message(read: InputReader, limits: Limits) -> str:
    """The user's message (`text_input`): UTF-8, non-blank, at most `max_text_chars`."""
    text = _text(_scalar(read, "text_input", b""), "text_input", limits.max_text_chars)
    if not text.strip():
        raise InvalidInputError("text_input is empty: send the user's message")
    return text


def read_stream(read: InputReader) -> bool:
    """Whether the client asked for one response per decoded piece."""
    return bool(_scalar(read, "stream", False))


def check_prompt_length(tokens: int, limits: Limits) -> None:
    """A prompt longer than `max_prompt_tokens` is refused, not truncated."""
    if tokens > limits.max_prompt_tokens:
        raise InvalidInputError(f"the prompt has {tokens} tokens; at most {limits.max_prompt_tokens} (max_prompt_tokens)")


class StopText:
    """Streams text but holds back what could still become a stop word; cuts the text before the first one."""

    def __init__(self, stop_words: tuple[str, ...]) -> None:
        self.stop_words = stop_words
        self.hold = max((len(word) for word in stop_words), default=1) - 1
        self.pending = ""
        self.stopped = False

    def feed(self, piece: str) -> str:
        """The text that is safe to emit now; sets `stopped` when a stop word appears."""
        self.pending += piece
        hits = [index for index in (self.pending.find(word) for word in self.stop_words) if index >= 0]
        if hits:
            self.stopped = True
            released, self.pending = self.pending[: min(hits)], ""
            return released
        cut = max(len(self.pending) - self.hold, 0)
        released, self.pending = self.pending[:cut], self.pending[cut:]
        return released

    def flush(self) -> str:
        """What was held back, at the end of the generation."""
        released, self.pending = self.pending, ""
        return released


@dataclass
class Outcome:
    """How a generation ended: `reason` is eos, stop, length, cancelled, failed or rejected."""

    reason: str
    tokens: int
    text: str
    error: str = ""


class Observer:
    """Hooks for metrics; the defaults do nothing."""

    def first_token(self, seconds: float) -> None:
        """Time from arrival to a generation's first token."""

    def tokens(self, count: int) -> None:
        """Tokens generated."""

    def finished(self, outcome: Outcome) -> None:
        """A generation ended (any reason)."""

    def occupancy(self, waiting: int, active: int) -> None:
        """Generations waiting for a slot and generations running."""
