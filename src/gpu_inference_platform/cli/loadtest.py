"""Drive a Triton serving `minilm_embed` at a sweep of concurrencies: `python -m scripts.loadtest --url 127.0.0.1:8000`.

The default workload is a seeded pool of realistic texts (queries to ~256-token paragraphs,
distribution in the JSON); `--workload short` is the old set of twelve short sentences.
For a local server the sweep also reports the server process tree's CPU-seconds per 1,000
requests and, where the encoder exports them, the real-token share of its batches.

`--compare` measures, in one run: this Triton (dynamic batching) and a second Triton
serving the same build without dynamic batching, level by level in turn (so load drift on
a shared machine hits both alike), then in-process ONNX Runtime with the build's
own length-aware batching at its best batch size (the ceiling on this CPU) and
sentence-transformers' `encode` in process (what a user would write by hand). Prints a
table and the targets; writes `--json` and a PNG chart.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from gpu_inference_platform.cli import loadtest_llm
from gpu_inference_platform.cli.charts import save_chart
from gpu_inference_platform.ops.serving import encoder_bench
from gpu_inference_platform.ops.serving.load import (
    LevelResult,
    Reference,
    grpc_ready,
    interleaved_sweeps,
    onnxruntime_ceiling,
    sentence_transformers_reference,
    sweep,
)
from gpu_inference_platform.ops.serving.local_triton import LocalTriton, http_ready
from gpu_inference_platform.ops.serving.server_probe import ServerProbe, listening_pid
from gpu_inference_platform.ops.serving.variants import no_batching_variant
from gpu_inference_platform.ops.serving.workload import DEFAULT_POOL_SIZE, DEFAULT_SEED, WORKLOADS, workload

BATCHING, PLAIN = "Triton, dynamic batching", "Triton, no batching"
CEILING_BATCHES = (1, 8, 16, 32, 64)
PEER_BATCHES = (1, 16, 64)
"""sentence-transformers encodes what a hand-written server would hand it: one text, or the 16 or 64 in flight."""


def _optional(value: float | None, width: int = 8) -> str:
    return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"


def _table(label: str, results: list[LevelResult]) -> list[str]:
    header = f"  {'conc':>4} {'req/s':>8} {'emb/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6} {'CPU-s/1k':>8} {'req/CPU-s':>9} {'real tok':>8}"
    lines = [label, header]
    lines += [
        f"  {r.concurrency:>4} {r.requests_per_s:>8.1f} {r.embeddings_per_s:>8.1f} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} {r.p99_ms:>8.1f} {r.errors:>6}"
        f" {_optional(r.cpu_s_per_1000_requests)} {_optional(r.requests_per_cpu_s, 9)} {_optional(r.real_token_fraction)}"
        for r in results
    ]
    return lines


def _chart(path: Path, series: dict[str, list[LevelResult]], references: list[Reference]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (throughput, latency, efficiency) = plt.subplots(1, 3, figsize=(16, 4))
    for label, results in series.items():
        levels = [r.concurrency for r in results]
        throughput.plot(levels, [r.embeddings_per_s for r in results], marker="o", label=label)
        latency.plot(levels, [r.p95_ms for r in results], marker="o", label=label)
        if all(r.requests_per_cpu_s is not None for r in results):
            efficiency.plot(levels, [r.requests_per_cpu_s for r in results], marker="o", label=label)
    for style, reference in zip(("--", ":"), references, strict=False):
        throughput.axhline(reference.best.texts_per_s, linestyle=style, color="grey", label=f"{reference.label} (best batch {reference.best.batch})")
        batches = sorted(reference.by_batch)
        per_cpu = [reference.by_batch[b].texts_per_cpu_s for b in batches]
        efficiency.plot(batches, per_cpu, linestyle=style, color="grey", marker="x", label=f"{reference.label} (batch)")
    throughput.set(xscale="log", xlabel="concurrent clients", ylabel="embeddings / s", title="Throughput")
    latency.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="p95 latency (ms)", title="p95 latency")
    efficiency.set(xscale="log", xlabel="concurrent clients (references: batch size)", ylabel="requests / CPU-second", title="Cost: requests per CPU-second")
    save_chart(figure, (throughput, latency, efficiency), path)


def _at(results: list[LevelResult], concurrency: int) -> LevelResult | None:
    return next((r for r in results if r.concurrency == concurrency), None)


def _ratio(numerator: float | None, denominator: float | None) -> float | None:
    return numerator / denominator if numerator is not None and denominator else None


def targets(series: dict[str, list[LevelResult]], ceiling: Reference, peer: Reference) -> dict[str, dict[str, Any]]:
    """The speed targets, each with its measured value and whether it holds (None: the sweep lacks the level)."""
    batching, plain = series[BATCHING], series[PLAIN]
    best = max(r.embeddings_per_s for r in batching)
    at = {c: (_at(batching, c), _at(plain, c)) for c in (1, 16, 64)}

    def per_cpu_vs_peer(concurrency: int) -> float | None:
        served = at[concurrency][0]
        return _ratio(served.requests_per_cpu_s if served else None, peer.by_batch[concurrency].texts_per_cpu_s)

    measured = {
        "batching_vs_ceiling": (_ratio(best, ceiling.best.texts_per_s), ">=", 0.9),
        "batching_vs_no_batching_at_64": (_ratio(*(r.embeddings_per_s if r else None for r in at[64])), ">=", 3.0),
        "p50_at_1_vs_no_batching": (_ratio(*(r.p50_ms if r else None for r in at[1])), "<=", 1.1),
        "requests_per_cpu_s_vs_sentence_transformers_at_16": (per_cpu_vs_peer(16), ">=", 1.3),
        "requests_per_cpu_s_vs_sentence_transformers_at_64": (per_cpu_vs_peer(64), ">=", 1.3),
    }
    return verdicts(measured)


def verdicts(measured: dict[str, tuple[float | None, str, float]]) -> dict[str, dict[str, Any]]:
    """(value, comparison, bound) per target -> its value, the target and whether it is met (None: not measured)."""
    return {
        name: {"value": value, "target": f"{op} {bound}", "met": None if value is None else (value >= bound if op == ">=" else value <= bound)}
        for name, (value, op, bound) in measured.items()
    }


def _print_targets(report_targets: dict[str, dict[str, Any]]) -> None:
    for name, target in report_targets.items():
        verdict = {True: "met", False: "MISSED", None: "not measured"}[target["met"]]
        value = "-" if target["value"] is None else f"{target['value']:.2f}"
        print(f"target {name}: {value} ({target['target']}) {verdict}")


def _probe(url: str, metrics_url: str | None, server_pid: int | None) -> ServerProbe:
    host, http_port = url.rsplit(":", 1)
    return ServerProbe(server_pid or listening_pid(host, int(http_port)), metrics_url or f"http://{host}:{int(http_port) + 2}/metrics")


def _load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.loadtest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="host:port of Triton's HTTP endpoint (checked for readiness)")
    parser.add_argument("--grpc-url", help="host:port the load goes to (default: the HTTP port + 1, Triton's 8000/8001 convention)")
    parser.add_argument("--metrics-url", help="Triton's Prometheus endpoint (default: http://HOST:<HTTP port + 2>/metrics)")
    parser.add_argument("--server-pid", type=int, help="the server's pid for CPU figures (default: the local process listening on --url)")
    parser.add_argument("--concurrency", help="comma-separated concurrency levels (default 1,4,16,64,128; with --llm 1,4,8,16 streams)")
    parser.add_argument("--duration-s", type=float, default=5.0, help="seconds per level")
    parser.add_argument("--batch", type=int, default=1, help="texts per request")
    parser.add_argument("--workload", choices=WORKLOADS, default="realistic", help="realistic: seeded pool of varied lengths; short: the old 12 sentences")
    parser.add_argument("--pool-size", type=int, default=DEFAULT_POOL_SIZE, help="texts in the realistic pool")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the realistic pool")
    parser.add_argument("--compare", action="store_true", help="also measure Triton without dynamic batching and the in-process references")
    parser.add_argument("--repo", type=Path, default=Path("build/models/cpu"), help="the build the server at --url serves (for --compare)")
    parser.add_argument("--json", type=Path, dest="json_path")
    parser.add_argument("--chart", type=Path, help="chart file (default build/loadtest.png; with --llm build/loadtest-llm.png)")
    parser.add_argument("--llm", action="store_true", help="load the text-generation model: streamed answers over gRPC, TTFT and tokens/s")
    parser.add_argument("--max-tokens", type=int, default=64, help="--llm: tokens each answer may generate")
    parser.add_argument("--requests-per-client", type=int, default=2, help="--llm: answers each stream requests back to back")
    args = parser.parse_args(argv)
    args.chart = args.chart or Path("build/loadtest-llm.png" if args.llm else "build/loadtest.png")
    levels = [int(x) for x in (args.concurrency or ("1,4,8,16" if args.llm else "1,4,16,64,128")).split(",")]
    host, http_port = args.url.rsplit(":", 1)
    grpc_url = args.grpc_url or f"{host}:{int(http_port) + 1}"
    if not http_ready(args.url):
        print(f"error: no ready Triton at http://{args.url}/v2/health/ready", file=sys.stderr)
        return 2
    if not grpc_ready(grpc_url):
        print(f"error: no ready Triton gRPC endpoint at {grpc_url} (--grpc-url)", file=sys.stderr)
        return 2
    if args.llm:
        return _llm(args, grpc_url, levels)
    try:
        load = workload(args.workload, size=args.pool_size, seed=args.seed)
    except ValueError as error:
        print(f"error: --pool-size: {error}", file=sys.stderr)
        return 2
    texts = load.texts

    report: dict[str, Any] = {"levels": levels, "batch": args.batch, "duration_s": args.duration_s, "load_average_before": _load_average()}
    report["workload"] = load.describe(encoder_bench.token_counts(args.repo, texts) if args.repo.is_dir() else None)
    sweep_args: dict[str, Any] = {"duration_s": args.duration_s, "batch": args.batch, "texts": texts}
    probe = _probe(args.url, args.metrics_url, args.server_pid)
    references: list[Reference] = []
    if args.compare:
        with tempfile.TemporaryDirectory() as scratch, LocalTriton(no_batching_variant(args.repo, Path(scratch) / "no-batching")) as plain:
            targets_under_test = {BATCHING: (grpc_url, probe), PLAIN: (plain.grpc_url, ServerProbe(plain.pid, plain.metrics_url))}
            series = interleaved_sweeps(targets_under_test, levels, **sweep_args)
        ceiling = onnxruntime_ceiling(args.repo, texts, batch_sizes=CEILING_BATCHES, duration_s=args.duration_s)
        peer = sentence_transformers_reference(texts, batch_sizes=PEER_BATCHES, duration_s=args.duration_s)
        references = [ceiling, peer]
        report["onnxruntime_ceiling"] = {
            "best_batch": ceiling.best.batch,
            "embeddings_per_s": ceiling.best.texts_per_s,
            "by_batch": {batch: rate.texts_per_s for batch, rate in ceiling.by_batch.items()},
            "detail": ceiling.as_dict(),
        }
        report["sentence_transformers"] = peer.as_dict()
    else:
        series = {BATCHING: sweep(grpc_url, levels, probe=probe, **sweep_args)}

    for label, results in series.items():
        print("\n".join(_table(label, results)))
        report[label] = [r.as_dict() for r in results]
    best = {label: max(r.embeddings_per_s for r in results) for label, results in series.items()}
    report["best_embeddings_per_s"] = best
    if args.compare:
        batching, plain_best = best[BATCHING], best[PLAIN]
        report["ratios"] = {"batching_vs_ceiling": batching / ceiling.best.texts_per_s, "batching_vs_no_batching": batching / plain_best}
        report["targets"] = targets(series, ceiling, peer)
        for reference in references:
            rates = ", ".join(f"batch {b}: {r.texts_per_s:.1f}/s, {r.texts_per_cpu_s:.1f}/CPU-s" for b, r in reference.by_batch.items())
            print(f"{reference.label}: {rates}")
        _print_targets(report["targets"])
    report["load_average_after"] = _load_average()
    print(f"load average before {report['load_average_before']}, after {report['load_average_after']}")
    _chart(args.chart, series, references)
    print(f"chart: {args.chart}")
    _write_report(args.json_path, report)
    return 0


def _write_report(path: Path | None, report: dict[str, Any]) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report, indent=2))
        print(f"report: {path}")


def _llm(args: argparse.Namespace, grpc_url: str, levels: list[int]) -> int:
    report: dict[str, Any] = {"mode": "llm", "levels": levels, "load_average_before": _load_average()}
    measured = loadtest_llm.run(args, grpc_url, _probe(args.url, args.metrics_url, args.server_pid), levels, report)
    if measured:
        report["targets"] = verdicts(measured)
        _print_targets(report["targets"])
    report["load_average_after"] = _load_average()
    print(f"load average before {report['load_average_before']}, after {report['load_average_after']}")
    print(f"chart: {args.chart}")
    _write_report(args.json_path, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
