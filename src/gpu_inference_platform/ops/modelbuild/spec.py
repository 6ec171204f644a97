"""Build specs of the embedding ensembles (`model_repo/models.yaml`)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import yaml

MODEL_REPO = Path("model_repo")
"""Triton model sources of the project, relative to the project root (the working directory of every command)."""


@dataclass(frozen=True)
class EmbeddingModelSpec:
    """A sentence-embedding ensemble: tokenizer model -> encoder model, from an HF weights package."""

    ensemble: str
    tokenizer_model: str
    encoder_model: str
    weights_package: str
    max_sequence_length: int
    max_batch_size: int
    embedding_dim: int
    onnx_opset: int
    max_text_chars: int
    """Each sentence is cut at this many characters before tokenizing (the tokenizer's `max_text_chars` parameter)."""
    max_request_bytes: int
    """Largest request body the load balancer's WAF lets through."""
    sequence_buckets: tuple[int, ...] = ()
    """Upper bounds of the TensorRT profiles' sequence buckets below max_sequence_length (empty: one profile)."""
    public: bool = True
    """Routed by the load balancer (the ensemble's infer path); its tokenizer and encoder never are."""

    @property
    def weights_dir(self) -> Path:
        """Folder with `config.json`, `model.safetensors` and `tokenizer.json`."""
        return Path(importlib.import_module(self.weights_package).MODEL_DIR)

    @property
    def model_folders(self) -> tuple[str, ...]:
        """Triton model folders this ensemble consists of."""
        return (self.ensemble, self.tokenizer_model, self.encoder_model)


def load_specs(model_repo: Path = MODEL_REPO) -> list[EmbeddingModelSpec]:
    """Every ensemble declared in `models.yaml`."""
    document = yaml.safe_load((model_repo / "models.yaml").read_text())
    return [EmbeddingModelSpec(ensemble=name, **{**fields, "sequence_buckets": tuple(fields.get("sequence_buckets", ()))}) for name, fields in document.items()]
