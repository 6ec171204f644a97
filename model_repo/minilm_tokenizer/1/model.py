"""Triton Python-backend tokenizer: TEXT (UTF-8 bytes) -> input_ids, attention_mask (int64)."""

import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils
from tokenizers import Tokenizer


class OversizedTextError(ValueError):
    """A TEXT item longer than any sentence the model embeds."""


class TritonPythonModel:
    """Tokenizes every sentence of a request in one Rust call; pads to a multiple of 16 tokens."""

    def initialize(self, args):
        parameters = json.loads(args["model_config"])["parameters"]
        self.tokenizer = Tokenizer.from_file(str(Path(args["model_repository"]) / args["model_version"] / "tokenizer.json"))
        self.tokenizer.enable_truncation(int(parameters["max_sequence_length"]["string_value"]))
        self.tokenizer.enable_padding(pad_to_multiple_of=int(parameters["pad_to_multiple_of"]["string_value"]))
        self.max_text_chars = int(parameters["max_text_chars"]["string_value"])

    def execute(self, requests):
        return [self._tokenize(request) for request in requests]

    def _tokenize(self, request):
        text = pb_utils.get_input_tensor_by_name(request, "TEXT").as_numpy().reshape(-1)
        if text.size == 0:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError("TEXT is empty: send at least one sentence", pb_utils.TritonError.INVALID_ARG))
        try:
            sentences = [self._bounded(item) for item in text]
        except OversizedTextError as error:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG))
        except UnicodeDecodeError as error:
            return pb_utils.InferenceResponse(error=pb_utils.TritonError(f"TEXT must be UTF-8: {error}", pb_utils.TritonError.INVALID_ARG))
        encodings = self.tokenizer.encode_batch(sentences)  # bounded: at most max_text_chars per sentence
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        attention_mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("input_ids", input_ids), pb_utils.Tensor("attention_mask", attention_mask)])

    def _bounded(self, item):
        """The sentence cut at max_text_chars characters before tokenizing: tokenizer memory grows ~300x its input, and only
        the first 256 tokens count anyway. UTF-8 needs at most 4 bytes a character, so a longer item is refused outright."""
        if len(item) > 4 * self.max_text_chars:
            raise OversizedTextError(f"a TEXT item of {len(item)} bytes; at most {4 * self.max_text_chars} (max_text_chars {self.max_text_chars})")
        return item.decode("utf-8")[: self.max_text_chars]
