"""Load generation against Triton, and the in-process ONNX Runtime ceiling it is compared with."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_inference_platform.components.model_manifest import load_manifest, write_manifest

MODEL = "minilm_embed"
SENTENCES = (
    "How do I reset my password?",
    "The invoice for October is attached to this message.",
    "Spot instances can be interrupted with a two-minute warning.",
    "What is the refund policy for annual subscriptions?",
    "Our GPU cluster scales out when the queue time per request grows.",
    "A man is playing a guitar on a street corner.",
    "Please summarise the quarterly results in three bullet points.",
    "The deployment failed because the image tag was not pinned.",
    "Where can I find the API documentation for embeddings?",
    "Latency went up after the last release; can we roll back?",
    "Sentence embeddings power semantic search and retrieval.",
    "Two dogs are running through a field of tall grass.",
)
CEILING_TRIALS = 3
"""The ceiling is the best of several trials per batch size: capability, not the luck of one window."""
_DYNAMIC_BATCHING = re.compile(r"^dynamic_batching\s*\{[^}]*\}\s*$", re.MULTILINE)


@dataclass(frozen=True)
class LevelResult:
    """Throughput and latency at one concurrency."""

    concurrency: int
    requests: int
    errors: int
    duration_s: float
    requests_per_s: float
    embeddings_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _text_input(module: Any, batch: Sequence[str]) -> Any:
    tensor = module.InferInput("TEXT", [len(batch), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[s.encode()] for s in batch], dtype=object))
    return tensor


def embed(url: str, sentences: Sequence[str]) -> np.ndarray:
    """Embeddings of `sentences` from the Triton HTTP endpoint at `url` (host:port)."""
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url)
    try:
        result = client.infer(MODEL, [_text_input(httpclient, sentences)], outputs=[httpclient.InferRequestedOutput("EMBEDDING", binary_data=True)])
        return np.asarray(result.as_numpy("EMBEDDING"))
    finally:
        client.close()


def run_level(grpc_url: str, concurrency: int, *, duration_s: float, batch: int) -> LevelResult:
    """Keep `concurrency` requests of `batch` sentences in flight for `duration_s`.

    One thread issues asynchronous gRPC requests from pre-built inputs, so the load
    generator itself uses ~0.1 CPU cores and does not starve the server it measures.
    """
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(grpc_url)
    requests = [[_text_input(grpcclient, [SENTENCES[(i + k) % len(SENTENCES)] for k in range(batch)])] for i in range(len(SENTENCES))]
    outputs = [grpcclient.InferRequestedOutput("EMBEDDING")]
    slots = threading.Semaphore(concurrency)
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]

    def completion(started: float) -> Any:
        def done(result: Any, error: Any) -> None:
            with lock:
                if error is None:
                    latencies.append(time.perf_counter() - started)
                else:
                    errors[0] += 1
            slots.release()

        return done

    began = time.perf_counter()
    sent = 0
    while time.perf_counter() - began < duration_s:
        slots.acquire()
        client.async_infer(MODEL, requests[sent % len(requests)], completion(time.perf_counter()), outputs=outputs)
        sent += 1
    for _ in range(concurrency):
        slots.acquire()
    elapsed = time.perf_counter() - began
    client.close()
    samples = np.array(latencies) * 1000
    count = len(samples)
    p50, p95, p99 = (float(np.percentile(samples, q)) for q in (50, 95, 99)) if count else (float("nan"),) * 3
    return LevelResult(concurrency, count, errors[0], elapsed, count / elapsed, count * batch / elapsed, p50, p95, p99)


def sweep(grpc_url: str, levels: Sequence[int], *, duration_s: float, batch: int) -> list[LevelResult]:
    """One result per concurrency level (after a short warm-up)."""
    run_level(grpc_url, max(levels), duration_s=1.0, batch=batch)
    return [run_level(grpc_url, level, duration_s=duration_s, batch=batch) for level in levels]


def no_batching_variant(repository: Path, out: Path) -> Path:
    """A copy of `repository` with dynamic batching removed from every model (and its own manifest)."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(repository, out)
    for config in out.rglob("config.pbtxt"):
        config.write_text(_DYNAMIC_BATCHING.sub("", config.read_text()))
    base = load_manifest(repository)
    write_manifest(
        out, target=base.target, tools=base.tools, source={**base.source, "variant": "no-dynamic-batching"}, onnx_opset=base.onnx_opset, engines=base.engines
    )
    return out


@dataclass(frozen=True)
class Ceiling:
    """In-process tokenizer + ONNX Runtime throughput at its best batch size."""

    best_batch: int
    embeddings_per_s: float
    by_batch: dict[int, float]


def onnxruntime_ceiling(repository: Path, *, batch_sizes: Sequence[int], duration_s: float) -> Ceiling:
    """Tokenize and encode in one process, no server: the most this CPU can do (best of `CEILING_TRIALS` per batch size)."""
    import onnxruntime as ort

    from gpu_inference_platform.ops.modelbuild.export import configured_tokenizer, tokenize
    from gpu_inference_platform.ops.modelbuild.spec import load_specs

    spec = load_specs()[0]
    tokenizer = configured_tokenizer(repository / spec.tokenizer_model / "1" / "tokenizer.json", spec.max_sequence_length)
    session = ort.InferenceSession(str(repository / spec.encoder_model / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    rates: dict[int, float] = {}
    for batch in batch_sizes:
        texts = [SENTENCES[k % len(SENTENCES)] for k in range(batch)]
        trials = []
        for _ in range(CEILING_TRIALS):
            done, began = 0, time.perf_counter()
            while time.perf_counter() - began < duration_s / CEILING_TRIALS:
                ids, mask = tokenize(tokenizer, texts)
                session.run(["embedding"], {"input_ids": ids, "attention_mask": mask})
                done += batch
            trials.append(done / (time.perf_counter() - began))
        rates[batch] = max(trials)
    best = max(rates, key=lambda b: rates[b])
    return Ceiling(best, rates[best], rates)
