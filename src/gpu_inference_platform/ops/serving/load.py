"""Load generation against Triton, and the in-process references it is compared with."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_inference_platform.ops.model_config import model_parameters
from gpu_inference_platform.ops.serving import encoder_bench
from gpu_inference_platform.ops.serving.server_probe import ServerProbe
from gpu_inference_platform.ops.serving.workload import realistic_pool

MODEL = "minilm_embed"
REFERENCE_TRIALS = 3
"""An in-process reference is the best of several trials per batch size: capability, not the luck of one window."""
SENTENCE_TRANSFORMERS_BATCH_SIZES = (1, 8, 32)


@dataclass(frozen=True)
class LevelResult:
    """Throughput and latency at one concurrency; with a local server also its CPU cost and the batches' real-token share."""

    concurrency: int
    requests: int
    errors: int
    duration_s: float
    requests_per_s: float
    embeddings_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    server_cpu_s: float | None = None
    """CPU-seconds of the server's process tree during the level (None: not a local server)."""
    cpu_s_per_1000_requests: float | None = None
    requests_per_cpu_s: float | None = None
    real_token_fraction: float | None = None
    """Real tokens / computed token positions of the batches the encoder ran (None: the backend does not export them)."""

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


def grpc_ready(grpc_url: str) -> bool:
    """A Triton answers ready on the gRPC endpoint at `grpc_url` (host:port)."""
    import tritonclient.grpc as grpcclient
    from tritonclient.utils import InferenceServerException

    client = grpcclient.InferenceServerClient(grpc_url)
    try:
        return bool(client.is_server_ready(client_timeout=5))
    except InferenceServerException:
        return False
    finally:
        client.close()


class _Counters:
    """Server CPU and token counters read before and after a level."""

    def __init__(self, probe: ServerProbe | None) -> None:
        self.probe = probe
        self.cpu = probe.cpu_seconds() if probe else None
        self.tokens = probe.token_positions() if probe else None

    def deltas(self) -> tuple[float | None, float | None]:
        """(server CPU-seconds, real-token fraction) since construction."""
        if self.probe is None:
            return None, None
        cpu_now, tokens_now = self.probe.cpu_seconds(), self.probe.token_positions()
        cpu = cpu_now - self.cpu if cpu_now is not None and self.cpu is not None else None
        fraction = None
        if tokens_now is not None and self.tokens is not None and tokens_now[1] > self.tokens[1]:
            fraction = (tokens_now[0] - self.tokens[0]) / (tokens_now[1] - self.tokens[1])
        return cpu, fraction


def run_level(
    grpc_url: str, concurrency: int, *, duration_s: float, batch: int, texts: Sequence[str] | None = None, probe: ServerProbe | None = None
) -> LevelResult:
    """Keep `concurrency` requests of `batch` texts (cycling through `texts`, default the realistic pool) in flight for `duration_s`.

    One thread issues asynchronous gRPC requests from pre-built inputs, so the load
    generator itself uses ~0.1 CPU cores and does not starve the server it measures.
    """
    import tritonclient.grpc as grpcclient

    pool = list(texts) if texts is not None else list(realistic_pool().texts)
    client = grpcclient.InferenceServerClient(grpc_url)
    requests = [[_text_input(grpcclient, [pool[(i + k) % len(pool)] for k in range(batch)])] for i in range(len(pool))]
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

    counters = _Counters(probe)
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
    cpu, fraction = counters.deltas()
    samples = np.array(latencies) * 1000
    count = len(samples)
    p50, p95, p99 = (float(np.percentile(samples, q)) for q in (50, 95, 99)) if count else (float("nan"),) * 3
    per_cpu = count / cpu if cpu else None
    per_1000 = 1000 * cpu / count if cpu is not None and count else None
    return LevelResult(concurrency, count, errors[0], elapsed, count / elapsed, count * batch / elapsed, p50, p95, p99, cpu, per_1000, per_cpu, fraction)


def sweep(
    grpc_url: str, levels: Sequence[int], *, duration_s: float, batch: int, texts: Sequence[str] | None = None, probe: ServerProbe | None = None
) -> list[LevelResult]:
    """One result per concurrency level (after a short warm-up)."""
    return interleaved_sweeps({grpc_url: (grpc_url, probe)}, levels, duration_s=duration_s, batch=batch, texts=texts)[grpc_url]


def interleaved_sweeps(
    servers: Mapping[str, tuple[str, ServerProbe | None]], levels: Sequence[int], *, duration_s: float, batch: int, texts: Sequence[str] | None = None
) -> dict[str, list[LevelResult]]:
    """Sweep several servers (label -> gRPC URL, probe) level by level in turn, each warmed up first: a comparison
    side by side, which drifting load on a shared machine affects alike."""
    for url, _ in servers.values():
        run_level(url, max(levels), duration_s=1.0, batch=batch, texts=texts)
    results: dict[str, list[LevelResult]] = {label: [] for label in servers}
    for level in levels:
        for label, (url, probe) in servers.items():
            results[label].append(run_level(url, level, duration_s=duration_s, batch=batch, texts=texts, probe=probe))
    return results


def encoder_parameters(repository: Path) -> dict[str, str]:
    """The `parameters` of the build's encoder config (string values)."""
    config = (repository / encoder_bench.encoder_spec().encoder_model / "config.pbtxt").read_text()
    return model_parameters(config)


@dataclass(frozen=True)
class Reference:
    """An in-process reference: texts per second and per CPU-second at each batch size (best of `REFERENCE_TRIALS`)."""

    label: str
    by_batch: dict[int, encoder_bench.Rate]

    @property
    def best(self) -> encoder_bench.Rate:
        """The batch size with the highest throughput."""
        return max(self.by_batch.values(), key=lambda rate: rate.texts_per_s)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {"label": self.label, "best_batch": self.best.batch, "by_batch": {str(b): rate.as_dict() for b, rate in self.by_batch.items()}}


def _reference(label: str, run: Callable[[list[str]], Any], texts: Sequence[str], batch_sizes: Sequence[int], duration_s: float) -> Reference:
    rates = {}
    for batch in batch_sizes:
        batches = encoder_bench.seeded_batches(texts, batch, count=max(1, 4 * len(texts) // batch))
        trials = [encoder_bench.measure(label, batch, run, batches, duration_s / REFERENCE_TRIALS) for _ in range(REFERENCE_TRIALS)]
        rates[batch] = max(trials, key=lambda rate: rate.texts_per_s)
    return Reference(label, rates)


def onnxruntime_ceiling(repository: Path, texts: Sequence[str], *, batch_sizes: Sequence[int], duration_s: float) -> Reference:
    """Tokenize and encode in one process, no server, with the build's own length-aware batching and sub-batch threads
    (the encoder's parameters): the most this CPU can do."""
    parameters = encoder_parameters(repository)
    policy = encoder_bench.length_batching(repository).SubBatchPolicy(int(parameters["sub_batch_max_rows"]), int(parameters["sub_batch_max_tokens"]))
    with ThreadPoolExecutor(int(parameters["sub_batch_threads"])) as workers:
        run = encoder_bench.onnx_runner(repository, policy, threads=1, run_all=workers.map)
        return _reference("in-process ONNX Runtime", run, texts, batch_sizes, duration_s)


def sentence_transformers_reference(texts: Sequence[str], *, batch_sizes: Sequence[int], duration_s: float) -> Reference:
    """sentence-transformers' `encode` in process, what a user would write by hand: for each number of texts per call,
    the best of its `batch_size` settings per CPU-second (`SENTENCE_TRANSFORMERS_BATCH_SIZES`; 32 is its default)."""
    runners = encoder_bench.sentence_transformers_runners(SENTENCE_TRANSFORMERS_BATCH_SIZES)
    candidates = [
        _reference(f"sentence-transformers encode(batch_size={size})", run, texts, batch_sizes, duration_s / len(runners)) for size, run in runners.items()
    ]
    best = {batch: max((c.by_batch[batch] for c in candidates), key=lambda rate: rate.texts_per_cpu_s) for batch in batch_sizes}
    return Reference("in-process sentence-transformers", best)
