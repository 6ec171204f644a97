"""Triton Python-backend encoder for the cpu target: the ONNX encoder on ONNX Runtime.

Requests of different sequence lengths arrive together (ragged batching); each is
validated first (a bad one fails alone). The valid rows are then sorted by length and run
in padded sub-batches (`length_batching.py`; padding is masked out by mean pooling) on
`sub_batch_threads` threads, and each request gets its own rows back in order. Two counters report the real and the
computed token positions, so the padding a batch pays for is visible in the metrics.
"""

import json
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils
from length_batching import SubBatchPolicy, encode_length_aware

TOKEN_METRICS = {
    "real": ("gip_encoder_real_tokens_total", "Token positions with attention mask 1 that the encoder computed"),
    "computed": ("gip_encoder_computed_tokens_total", "Token positions the encoder computed, padding included"),
}


class TritonPythonModel:
    """One ONNX Runtime session per instance; length-sorted sub-batches per dynamic batch, run side by side."""

    def initialize(self, args):
        parameters = {key: value["string_value"] for key, value in json.loads(args["model_config"])["parameters"].items()}
        self.vocab_size = int(parameters["vocab_size"])
        self.max_sequence_length = int(parameters["max_sequence_length"])
        self.policy = SubBatchPolicy(int(parameters["sub_batch_max_rows"]), int(parameters["sub_batch_max_tokens"]))
        self.workers = ThreadPoolExecutor(int(parameters["sub_batch_threads"]), thread_name_prefix="sub-batch")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The cores are shared with the tokenizer and Triton itself: idle ORT threads must sleep, not spin.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.intra_op_num_threads = int(parameters["intra_op_threads"])
        self.session = ort.InferenceSession(
            str(Path(args["model_repository"]) / args["model_version"] / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )
        # The families must stay referenced for as long as their metrics are reported.
        self.token_families = {kind: pb_utils.MetricFamily(name, text, pb_utils.MetricFamily.COUNTER) for kind, (name, text) in TOKEN_METRICS.items()}
        self.token_counters = {kind: family.Metric(labels={"model": args["model_name"]}) for kind, family in self.token_families.items()}

    def finalize(self):
        """Stop the sub-batch threads when Triton unloads the model."""
        self.workers.shutdown()

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
        if 0 in ids.shape:
            return f"input_ids {ids.shape}: at least one row of at least one token"
        if ids.shape[1] > self.max_sequence_length:
            return f"{ids.shape[1]} tokens; at most {self.max_sequence_length}"
        if ids.min() < 0 or ids.max() >= self.vocab_size:
            return f"token ids must be in [0, {self.vocab_size})"
        if not np.isin(mask, (0, 1)).all():
            return "attention_mask must be 0 or 1"
        return None

    def _encode(self, input_ids, attention_mask):
        return self.session.run(["embedding"], {"input_ids": input_ids, "attention_mask": attention_mask})[0]

    def _embed(self, batches):
        """Every row of the valid requests, length-sorted into sub-batches; one embedding array per request, rows in order."""
        length = max(ids.shape[1] for ids, _ in batches)
        input_ids = np.concatenate([np.pad(ids, ((0, 0), (0, length - ids.shape[1]))) for ids, _ in batches])
        attention_mask = np.concatenate([np.pad(mask, ((0, 0), (0, length - mask.shape[1]))) for _, mask in batches])
        embeddings, stats = encode_length_aware(self._encode, input_ids, attention_mask, self.policy, self.workers.map)
        self.token_counters["real"].increment(stats.real_tokens)
        self.token_counters["computed"].increment(stats.computed_tokens)
        bounds = np.cumsum([0] + [ids.shape[0] for ids, _ in batches])
        return [embeddings[start:end] for start, end in pairwise(bounds)]
