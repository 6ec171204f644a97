"""Triton Python-backend encoder for the cpu target: the ONNX encoder on ONNX Runtime.

Requests of different sequence lengths arrive together (ragged batching); each is
validated first (a bad one fails alone), then the valid ones are padded to one length
(padding is masked out by mean pooling) and run as one batch.
"""

import json
from itertools import pairwise
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """One ONNX Runtime session over all cores; one run per dynamic batch."""

    def initialize(self, args):
        parameters = json.loads(args["model_config"])["parameters"]
        self.vocab_size = int(parameters["vocab_size"]["string_value"])
        self.max_sequence_length = int(parameters["max_sequence_length"]["string_value"])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The cores are shared with the tokenizer and Triton itself: idle ORT threads must sleep, not spin.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.intra_op_num_threads = int(parameters["intra_op_threads"]["string_value"])
        self.session = ort.InferenceSession(
            str(Path(args["model_repository"]) / args["model_version"] / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def execute(self, requests):
        inputs = [
            (pb_utils.get_input_tensor_by_name(r, "input_ids").as_numpy(), pb_utils.get_input_tensor_by_name(r, "attention_mask").as_numpy()) for r in requests
        ]
        problems = [self._problem(ids, mask) for ids, mask in inputs]
        valid = [pair for pair, problem in zip(inputs, problems, strict=True) if problem is None]
        embeddings = iter(self._embed(valid) if valid else [])
        return [
            pb_utils.InferenceResponse(error=pb_utils.TritonError(problem, pb_utils.TritonError.INVALID_ARG))
            if problem
            else pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("embedding", next(embeddings))])
            for problem in problems
        ]

    def _problem(self, ids, mask):
        """Why one request cannot join the batch (None when it can)."""
        if ids.shape != mask.shape or ids.ndim != 2:
            return f"input_ids {ids.shape} and attention_mask {mask.shape} must be equal [batch, tokens] shapes"
        if ids.shape[1] > self.max_sequence_length:
            return f"{ids.shape[1]} tokens; at most {self.max_sequence_length}"
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            return f"token ids must be in [0, {self.vocab_size})"
        if not np.isin(mask, (0, 1)).all():
            return "attention_mask must be 0 or 1"
        return None

    def _embed(self, batches):
        """One ORT run over the valid requests, padded to the longest; one embedding array per request."""
        length = max(ids.shape[1] for ids, _ in batches)
        input_ids = np.concatenate([np.pad(ids, ((0, 0), (0, length - ids.shape[1]))) for ids, _ in batches])
        attention_mask = np.concatenate([np.pad(mask, ((0, 0), (0, length - mask.shape[1]))) for _, mask in batches])
        embeddings = self.session.run(["embedding"], {"input_ids": input_ids, "attention_mask": attention_mask})[0]
        bounds = np.cumsum([0] + [ids.shape[0] for ids, _ in batches])
        return [embeddings[start:end] for start, end in pairwise(bounds)]
