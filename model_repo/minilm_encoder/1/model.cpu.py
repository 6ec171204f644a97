"""Triton Python-backend encoder for the cpu target: the ONNX encoder on ONNX Runtime.

Requests of different sequence lengths arrive together (ragged batching); they are
padded to one length (padding is masked out by mean pooling) and run as one batch.
"""

from itertools import pairwise
from pathlib import Path

import numpy as np
import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    """One ONNX Runtime session over all cores; one run per dynamic batch."""

    def initialize(self, args):
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The cores are shared with the tokenizer and Triton itself: idle ORT threads must sleep, not spin.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(
            str(Path(args["model_repository"]) / args["model_version"] / "model.onnx"), options, providers=["CPUExecutionProvider"]
        )

    def execute(self, requests):
        batches = [
            (pb_utils.get_input_tensor_by_name(r, "input_ids").as_numpy(), pb_utils.get_input_tensor_by_name(r, "attention_mask").as_numpy()) for r in requests
        ]
        length = max(ids.shape[1] for ids, _ in batches)
        input_ids = np.concatenate([np.pad(ids, ((0, 0), (0, length - ids.shape[1]))) for ids, _ in batches])
        attention_mask = np.concatenate([np.pad(mask, ((0, 0), (0, length - mask.shape[1]))) for _, mask in batches])
        embeddings = self.session.run(["embedding"], {"input_ids": input_ids, "attention_mask": attention_mask})[0]
        bounds = np.cumsum([0] + [ids.shape[0] for ids, _ in batches])
        return [pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("embedding", embeddings[start:end])]) for start, end in pairwise(bounds)]
