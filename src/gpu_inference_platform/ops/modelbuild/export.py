"""torch -> ONNX export of a sentence encoder (mean pooling + L2 norm in the graph) and parity checks."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer

from gpu_inference_platform.ops.modelbuild.spec import EmbeddingModelSpec

ONNX_MIN_COSINE = 0.9999
PAD_TO_MULTIPLE_OF = 16
PARITY_SENTENCES = (
    "A man is eating food.",
    "A man is riding a white horse on an enclosed ground.",
    "The quick brown fox jumps over the lazy dog.",
    "GPU spot capacity is cheap until it is interrupted.",
    "Triton batches requests dynamically to keep the GPU busy.",
    "Ein Mann isst ein Brot.",
    "",
    "word " * 300,
)
"""Fixed inputs for parity: short, long (truncated at max length), empty, non-English."""


class SentenceEncoder(torch.nn.Module):
    """Transformer + attention-masked mean pooling + L2 normalisation (sentence-transformers' recipe)."""

    def __init__(self, transformer: torch.nn.Module) -> None:
        super().__init__()
        self.transformer = transformer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        mean = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(mean, p=2, dim=1)


def load_encoder(spec: EmbeddingModelSpec) -> SentenceEncoder:
    """The torch reference encoder, loaded offline from the weights package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel

    transformer = AutoModel.from_pretrained(str(spec.weights_dir), local_files_only=True, attn_implementation="eager")
    return SentenceEncoder(transformer).eval()


def configured_tokenizer(tokenizer_json: Path, max_sequence_length: int) -> Tokenizer:
    """A tokenizer configured exactly as the Triton tokenizer model configures it."""
    tokenizer = Tokenizer.from_file(str(tokenizer_json))
    tokenizer.enable_truncation(max_sequence_length)
    tokenizer.enable_padding(pad_to_multiple_of=PAD_TO_MULTIPLE_OF)
    return tokenizer


def load_tokenizer(spec: EmbeddingModelSpec) -> Tokenizer:
    """The spec's tokenizer, from its weights package."""
    return configured_tokenizer(spec.weights_dir / "tokenizer.json", spec.max_sequence_length)


def tokenize(tokenizer: Tokenizer, sentences: tuple[str, ...] | list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask) as int64 arrays."""
    encodings = tokenizer.encode_batch(list(sentences))
    return np.array([e.ids for e in encodings], dtype=np.int64), np.array([e.attention_mask for e in encodings], dtype=np.int64)


def export_onnx(encoder: SentenceEncoder, tokenizer: Tokenizer, path: Path, opset: int) -> None:
    """Export with dynamic batch and sequence axes; the TorchScript exporter gives byte-identical files."""
    input_ids, attention_mask = tokenize(tokenizer, PARITY_SENTENCES[:2])
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        encoder,
        (torch.from_numpy(input_ids), torch.from_numpy(attention_mask)),
        str(path),
        dynamo=False,
        opset_version=opset,
        input_names=["input_ids", "attention_mask"],
        output_names=["embedding"],
        dynamic_axes={"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}, "embedding": {0: "batch"}},
    )


def torch_embeddings(encoder: SentenceEncoder, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Reference embeddings from torch eager."""
    with torch.no_grad():
        return np.asarray(encoder(torch.from_numpy(input_ids), torch.from_numpy(attention_mask)).numpy())


def onnx_embeddings(path: Path, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Embeddings from ONNX Runtime on the CPU."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["embedding"], {"input_ids": input_ids, "attention_mask": attention_mask})[0])


@dataclass(frozen=True)
class Parity:
    """Row-wise cosine similarity between a candidate and the reference."""

    label: str
    cosines: tuple[float, ...]
    threshold: float

    @property
    def minimum(self) -> float:
        """The worst row."""
        return min(self.cosines)

    @property
    def ok(self) -> bool:
        """Every row is at or above the threshold."""
        return self.minimum >= self.threshold

    def __str__(self) -> str:
        return f"{self.label}: min cosine {self.minimum:.7f} over {len(self.cosines)} sentences (threshold {self.threshold})"


def cosine_parity(label: str, reference: np.ndarray, candidate: np.ndarray, threshold: float) -> Parity:
    """Compare row by row (both already L2-normalised, but normalise again to be safe)."""
    reference = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    candidate = candidate / np.linalg.norm(candidate, axis=1, keepdims=True)
    return Parity(label, tuple(float(c) for c in (reference * candidate).sum(axis=1)), threshold)


class ParityError(RuntimeError):
    """An exported model does not reproduce the reference."""
