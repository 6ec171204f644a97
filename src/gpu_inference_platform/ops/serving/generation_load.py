"""Load generation for a streaming text-generation model: TTFT, inter-token latency, output tokens/s per level.

Every level sends the same prompts (a seeded mix of short questions and retrieval-style
prompts with passages from the shipped corpus) with the same `max_tokens`, so levels and
servers do equal work. Output tokens come from the server's own counter where it is exported
(`gip_llm_generated_tokens_total`), else from the streamed pieces.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gpu_inference_platform.ops.serving.build_module import build_module
from gpu_inference_platform.ops.serving.generation_client import GENERATION_MODEL, Stream, stream_grpc
from gpu_inference_platform.ops.serving.server_probe import ServerProbe, counter_total, fetch_metrics
from gpu_inference_platform.ops.serving.workload import corpus_passages

TOKEN_COUNTER = "gip_llm_generated_tokens_total"
QUESTIONS = (
    "What is a spot instance?",
    "Why does a load balancer need a readiness check?",
    "How do I keep GPU costs under a monthly budget?",
    "Explain in-flight batching in two sentences.",
    "What does a content-addressed model build tell me?",
    "Name three metrics worth alerting on for an inference service.",
)


def generation_prompts(count: int = 24, seed: int = 7) -> list[str]:
    """Half short questions, half questions over one to three corpus passages (seeded)."""
    rng, passages = random.Random(seed), corpus_passages()
    prompts = []
    for index in range(count):
        question = QUESTIONS[index % len(QUESTIONS)]
        if index % 2:
            context = "\n".join(f"[{n + 1}] {p}" for n, p in enumerate(rng.sample(passages, rng.randint(1, 3))))
            question = f"Passages:\n{context}\n\nQuestion: {question}"
        prompts.append(question)
    return prompts


def _percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) * 1000 if values else None


@dataclass(frozen=True)
class GenerationLevel:
    """One concurrency level of a streaming sweep (latencies in ms)."""

    concurrency: int
    requests: int
    errors: int
    output_tokens: int
    output_tokens_per_s: float
    requests_per_s: float
    ttft_p50_ms: float | None
    ttft_p95_ms: float | None
    itl_p50_ms: float | None
    itl_p95_ms: float | None
    server_cpu_s: float | None

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready figures."""
        return asdict(self)


def _tokens(probe: ServerProbe) -> float | None:
    metrics = fetch_metrics(probe.metrics_url) if probe.metrics_url else None
    return counter_total(metrics, TOKEN_COUNTER) if metrics else None


def run_generation_level(
    grpc_url: str, prompts: list[str], concurrency: int, *, requests_per_client: int, max_tokens: int, probe: ServerProbe
) -> GenerationLevel:
    """`concurrency` clients each stream `requests_per_client` answers back to back."""
    streams: list[Stream] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        for turn in range(requests_per_client):
            prompt = prompts[(index * requests_per_client + turn) % len(prompts)]
            result = stream_grpc(grpc_url, prompt, max_tokens=max_tokens)
            with lock:
                streams.append(result)

    tokens_before, cpu_before = _tokens(probe), probe.cpu_seconds()
    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    tokens_after, cpu_after = _tokens(probe), probe.cpu_seconds()
    served = [s for s in streams if not s.error]
    counted = tokens_after - tokens_before if tokens_before is not None and tokens_after is not None else sum(len(s.pieces) for s in served)
    gaps = [gap for s in served for gap in s.inter_token_s]
    first = [s.ttft_s for s in served if s.ttft_s is not None]
    return GenerationLevel(
        concurrency=concurrency,
        requests=len(streams),
        errors=len(streams) - len(served),
        output_tokens=int(counted),
        output_tokens_per_s=counted / elapsed,
        requests_per_s=len(served) / elapsed,
        ttft_p50_ms=_percentile(first, 50),
        ttft_p95_ms=_percentile(first, 95),
        itl_p50_ms=_percentile(gaps, 50),
        itl_p95_ms=_percentile(gaps, 95),
        server_cpu_s=cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None,
    )


def interleaved_generation_sweeps(
    servers: dict[str, tuple[str, ServerProbe]], levels: list[int], prompts: list[str], *, requests_per_client: int, max_tokens: int
) -> dict[str, list[GenerationLevel]]:
    """Each level on every server in turn, so load drift on a shared machine hits all alike."""
    series: dict[str, list[GenerationLevel]] = {label: [] for label in servers}
    for level in levels:
        for label, (grpc_url, probe) in servers.items():
            series[label].append(run_generation_level(grpc_url, prompts, level, requests_per_client=requests_per_client, max_tokens=max_tokens, probe=probe))
    return series


def in_process_reference(repository: Path, prompts: list[str], *, batches: tuple[int, ...], max_tokens: int) -> dict[int, float]:
    """Output tokens/s of onnxruntime-genai in this process, no server, at each batch (the build's own scheduler)."""
    import onnxruntime_genai as og

    version = repository / GENERATION_MODEL / "1"
    inflight = build_module(version, "inflight")
    model = og.Model(str(version / "model"))
    tokenizer = og.Tokenizer(model)
    prompt = inflight.ChatPrompt(tokenizer, version)
    encoded = [prompt.ids(text) for text in prompts]
    return {batch: _in_process_rate(inflight, model, tokenizer, encoded, batch=batch, max_tokens=max_tokens) for batch in batches}


def _in_process_rate(inflight: Any, model: Any, tokenizer: Any, encoded: list[np.ndarray], *, batch: int, max_tokens: int) -> float:
    """Output tokens/s of `2 * batch` generations with at most `batch` in the running batch."""
    scheduler = inflight.InFlightScheduler(model, tokenizer, max_active=batch, max_queue=2 * batch)
    outcomes: queue.Queue[Any] = queue.Queue()
    started = time.perf_counter()
    for index in range(2 * batch):
        scheduler.submit(inflight.Job(encoded[index % len(encoded)], inflight.Sampling(max_tokens), lambda _: None, outcomes.put))
    tokens = sum(outcomes.get().tokens for _ in range(2 * batch))
    elapsed = time.perf_counter() - started
    scheduler.stop()
    return float(tokens / elapsed)
