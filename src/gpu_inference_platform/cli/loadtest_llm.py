"""`python -m scripts.loadtest --llm`: stream answers over gRPC and report TTFT, inter-token latency and tokens/s.

With `--compare` the same build also runs with one generation at a time (no in-flight
batching, its own server) level by level in turn, and onnxruntime-genai in process at
batch 1/4/8 gives the no-server reference; the targets are printed side by side.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from gpu_inference_platform.cli.charts import save_chart
from gpu_inference_platform.ops.serving.generation_client import GENERATION_MODEL
from gpu_inference_platform.ops.serving.generation_load import GenerationLevel, generation_prompts, in_process_reference, interleaved_generation_sweeps
from gpu_inference_platform.ops.serving.local_triton import LocalTriton
from gpu_inference_platform.ops.serving.server_probe import ServerProbe
from gpu_inference_platform.ops.serving.variants import with_parameters

IN_FLIGHT, SEQUENTIAL = "Triton, in-flight batching", "Triton, one generation at a time"
IN_PROCESS_BATCHES = (1, 4, 8)


def _ms(value: float | None) -> str:
    return f"{value:>8.1f}" if value is not None else f"{'-':>8}"


def table(label: str, results: list[GenerationLevel]) -> list[str]:
    """One sweep as printed lines."""
    header = f"  {'conc':>4} {'req/s':>7} {'tok/s':>8} {'TTFT p50':>8} {'TTFT p95':>8} {'ITL p50':>8} {'ITL p95':>8} {'errors':>6} {'CPU-s':>7}"
    rows = [
        f"  {r.concurrency:>4} {r.requests_per_s:>7.2f} {r.output_tokens_per_s:>8.1f} {_ms(r.ttft_p50_ms)} {_ms(r.ttft_p95_ms)}"
        f" {_ms(r.itl_p50_ms)} {_ms(r.itl_p95_ms)} {r.errors:>6} {'-' if r.server_cpu_s is None else f'{r.server_cpu_s:.1f}':>7}"
        for r in results
    ]
    return [f"{label} (ms)", header, *rows]


def _at(results: list[GenerationLevel], concurrency: int) -> GenerationLevel | None:
    return next((r for r in results if r.concurrency == concurrency), None)


def generation_targets(series: dict[str, list[GenerationLevel]], in_process: dict[int, float]) -> dict[str, tuple[float | None, str, float]]:
    """(value, comparison, bound) of each generation target; None where the sweep lacks the level."""
    served = series[IN_FLIGHT]
    at8, at1, sequential8 = _at(served, 8), _at(served, 1), _at(series.get(SEQUENTIAL, []), 8)
    best_served = max(r.output_tokens_per_s for r in served)
    return {
        "inflight_vs_sequential_tokens_per_s_at_8": (at8.output_tokens_per_s / sequential8.output_tokens_per_s if at8 and sequential8 else None, ">=", 3.0),
        "ttft_p50_at_8_vs_at_1": (at8.ttft_p50_ms / at1.ttft_p50_ms if at8 and at1 and at8.ttft_p50_ms and at1.ttft_p50_ms else None, "<=", 2.0),
        "served_vs_in_process_best_batch": (best_served / max(in_process.values()) if in_process else None, ">=", 0.8),
    }


def _chart(path: Path, series: dict[str, list[GenerationLevel]], in_process: dict[int, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (throughput, ttft, itl) = plt.subplots(1, 3, figsize=(16, 4))
    for label, results in series.items():
        levels = [r.concurrency for r in results]
        throughput.plot(levels, [r.output_tokens_per_s for r in results], marker="o", label=label)
        ttft.plot(levels, [r.ttft_p95_ms for r in results], marker="o", label=f"{label} p95")
        ttft.plot(levels, [r.ttft_p50_ms for r in results], marker=".", linestyle=":", label=f"{label} p50")
        itl.plot(levels, [r.itl_p95_ms for r in results], marker="o", label=label)
    if in_process:
        throughput.axhline(max(in_process.values()), linestyle="--", color="grey", label="onnxruntime-genai in process (best batch)")
    throughput.set(xlabel="concurrent streams", ylabel="output tokens / s", title="Throughput")
    ttft.set(xlabel="concurrent streams", ylabel="ms", title="Time to first token")
    itl.set(xlabel="concurrent streams", ylabel="ms", title="Inter-token latency p95")
    save_chart(figure, (throughput, ttft, itl), path)


def run(args: argparse.Namespace, grpc_url: str, probe: ServerProbe, levels: list[int], report: dict[str, Any]) -> dict[str, tuple[float | None, str, float]]:
    """Sweep (and compare); fill `report`, print the tables, draw the chart; the targets when comparing."""
    prompts = generation_prompts()
    sweep = {"requests_per_client": args.requests_per_client, "max_tokens": args.max_tokens}
    report.update(model=GENERATION_MODEL, max_tokens=args.max_tokens, requests_per_client=args.requests_per_client, prompts=len(prompts))
    in_process: dict[int, float] = {}
    servers = {IN_FLIGHT: (grpc_url, probe)}
    if args.compare:
        with tempfile.TemporaryDirectory() as scratch:
            one_at_a_time = {"max_active_requests": "1", "max_queue_size": "256"}
            variant = with_parameters(args.repo, Path(scratch) / "sequential", GENERATION_MODEL, one_at_a_time, "sequential-generation")
            with LocalTriton(variant) as sequential:
                servers[SEQUENTIAL] = (sequential.grpc_url, ServerProbe(sequential.pid, sequential.metrics_url))
                series = interleaved_generation_sweeps(servers, levels, prompts, **sweep)
        in_process = in_process_reference(args.repo, prompts, batches=IN_PROCESS_BATCHES, max_tokens=args.max_tokens)
        report["onnxruntime_genai_in_process"] = {"tokens_per_s_by_batch": in_process, "best_tokens_per_s": max(in_process.values())}
        print("onnxruntime-genai in process: " + ", ".join(f"batch {b}: {rate:.1f} tok/s" for b, rate in in_process.items()))
    else:
        series = interleaved_generation_sweeps(servers, levels, prompts, **sweep)
    for label, results in series.items():
        print("\n".join(table(label, results)))
        report[label] = [r.as_dict() for r in results]
    _chart(args.chart, series, in_process)
    return generation_targets(series, in_process) if args.compare else {}
