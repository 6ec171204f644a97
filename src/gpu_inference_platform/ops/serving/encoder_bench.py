"""In-process encoder measurements on a workload: the sub-batch policy benchmark and the loadtest's references.

Everything here runs the built repository's own files (its ONNX model, tokenizer and
`length_batching.py`), so a figure describes exactly what the server runs.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from gpu_inference_platform.ops.modelbuild.spec import EmbeddingModelSpec, load_specs
from gpu_inference_platform.ops.serving.build_module import build_module


def encoder_spec() -> EmbeddingModelSpec:
    """The embedding ensemble the load test drives (the first in models.yaml)."""
    return load_specs()[0]


def length_batching(repository: Path) -> ModuleType:
    """The build's `length_batching.py` (the module the CPU encoder imports), loaded from the build itself."""
    return build_module(repository / encoder_spec().encoder_model / "1", "length_batching")


def onnx_session(repository: Path, threads: int = 0) -> Any:
    """An ONNX Runtime session over the build's encoder (threads 0: ONNX Runtime's default, every core)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    path = repository / encoder_spec().encoder_model / "1" / "model.onnx"
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def build_tokenizer(repository: Path) -> Any:
    """The build's tokenizer, configured as its Triton model configures it."""
    from gpu_inference_platform.ops.modelbuild.export import configured_tokenizer

    spec = encoder_spec()
    return configured_tokenizer(repository / spec.tokenizer_model / "1" / "tokenizer.json", spec.max_sequence_length)


def token_counts(repository: Path, texts: Sequence[str]) -> list[int]:
    """Tokens per text after truncation (no padding)."""
    tokenizer = build_tokenizer(repository)
    tokenizer.no_padding()
    return [len(encoding.ids) for encoding in tokenizer.encode_batch(list(texts))]


def seeded_batches(texts: Sequence[str], batch: int, count: int, seed: int = 0) -> list[list[str]]:
    """`count` batches of `batch` texts drawn from `texts` with a fixed seed."""
    rng = random.Random(seed)
    return [rng.choices(texts, k=batch) for _ in range(count)]


@dataclass(frozen=True)
class Rate:
    """Texts per wall second and per CPU-second of this process, and the real-token share of the computed positions."""

    label: str
    batch: int
    texts_per_s: float
    texts_per_cpu_s: float
    real_token_fraction: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def measure(label: str, batch: int, run: Callable[[list[str]], tuple[int, int] | None], batches: Sequence[list[str]], duration_s: float) -> Rate:
    """Call `run` over `batches` (cycling) for `duration_s`; `run` returns (real, computed) token positions or None."""
    done = real = computed = 0
    wall, cpu = time.perf_counter(), time.process_time()
    while time.perf_counter() - wall < duration_s:
        tokens = run(batches[done % len(batches)])
        if tokens is not None:
            real, computed = real + tokens[0], computed + tokens[1]
        done += 1
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Rate(label, batch, done * batch / wall, done * batch / cpu, real / computed if computed else None)


def onnx_runner(repository: Path, policy: Any | None, threads: int = 0, run_all: Callable[..., Any] = map) -> Callable[[list[str]], tuple[int, int]]:
    """Tokenize and encode a batch in process; length-aware with `policy` (a `SubBatchPolicy`, sub-batches mapped by
    `run_all`), else one padded run."""
    from gpu_inference_platform.ops.modelbuild.export import tokenize

    session, tokenizer, batching = onnx_session(repository, threads), build_tokenizer(repository), length_batching(repository)

    def encode(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(["embedding"], {"input_ids": input_ids, "attention_mask": attention_mask})[0])

    def run(texts: list[str]) -> tuple[int, int]:
        input_ids, attention_mask = tokenize(tokenizer, texts)
        if policy is None:
            encode(input_ids, attention_mask)
            return int(attention_mask.sum()), int(attention_mask.size)
        _, stats = batching.encode_length_aware(encode, input_ids, attention_mask, policy, run_all)
        return stats.real_tokens, stats.computed_tokens

    return run


def sentence_transformers_runners(batch_sizes: Sequence[int]) -> dict[int, Callable[[list[str]], None]]:
    """sentence-transformers' own `encode` in process (it sorts a call's texts by length, then batches them), one
    runner per `batch_size` it is called with; the model is loaded once, offline, from the weights package."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(encoder_spec().weights_dir), device="cpu", local_files_only=True)

    def runner(batch_size: int) -> Callable[[list[str]], None]:
        def run(texts: list[str]) -> None:
            model.encode(texts, batch_size=batch_size, convert_to_numpy=True)

        return run

    return {batch_size: runner(batch_size) for batch_size in batch_sizes}
