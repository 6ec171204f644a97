"""The gpu target's tokens: the chat prompt as token ids, streamed ids back to text, stop words as TensorRT-LLM's word list.

The cpu target does all three inside onnxruntime-genai; here they use the checkpoint's `tokenizer.json`
(Hugging Face tokenizers) and the version folder's chat template in a sandboxed jinja2. No Triton
dependency, so they are tested with the built files directly.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from chat_request import ChatFiles
from jinja2.sandbox import ImmutableSandboxedEnvironment
from tokenizers import Tokenizer


class TemplatePrompt:
    """The version folder's chat template and system prompt around a user message, as token ids (as the cpu target renders it)."""

    def __init__(self, tokenizer: Tokenizer, version_folder: Path) -> None:
        self.tokenizer = tokenizer
        self.files = ChatFiles.read(version_folder)
        self.template = ImmutableSandboxedEnvironment().from_string(self.files.template)

    def ids(self, user_message: str) -> np.ndarray:
        """Token ids of the whole prompt, ending where the assistant's answer starts."""
        text = self.template.render(messages=self.files.messages(user_message), add_generation_prompt=True)
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False).ids, dtype=np.int32)


class Detokenizer:
    """Text of a growing list of token ids, released only once complete (never half a UTF-8 character).

    Each call decodes a window: the ids of the last released piece (context for the tokenizer's
    decoder) and those after it, so a generation costs linear, not quadratic, decoding time.
    """

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self.window_start = 0
        self.released_end = 0

    def add(self, ids: list[int]) -> str:
        """The new text the ids complete."""
        self.ids += ids
        released = self.tokenizer.decode(self.ids[self.window_start : self.released_end], skip_special_tokens=True)
        text = self.tokenizer.decode(self.ids[self.window_start :], skip_special_tokens=True)
        if len(text) <= len(released) or text.endswith("\ufffd"):
            return ""
        self.window_start, self.released_end = self.released_end, len(self.ids)
        return text[len(released) :]


def stop_words_list(tokenizer: Tokenizer, words: tuple[str, ...]) -> np.ndarray:
    """TensorRT-LLM's word list: [1, 2, N], token ids then the end offset of each word, padded with 0 and -1.

    A word is listed as written and, unless it starts with one, after a space: mid-text, byte-level BPE
    spells " Paris" with other ids than "Paris". Both spellings hold the word, so the engine never
    stops before the text cut; it stops there instead of generating on until max_tokens.
    """
    spellings = {spelling for word in words for spelling in ((word,) if word.startswith(" ") else (word, " " + word))}
    encoded = [tokenizer.encode(spelling, add_special_tokens=False).ids for spelling in sorted(spellings)]
    flat = [token for ids in encoded for token in ids]
    offsets = np.cumsum([len(ids) for ids in encoded]).tolist()
    width = max(len(flat), len(offsets))
    return np.array([[flat + [0] * (width - len(flat)), offsets + [-1] * (width - len(offsets))]], dtype=np.int32)
