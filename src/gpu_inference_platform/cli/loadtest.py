"""Drive a Triton serving `minilm_embed` at a sweep of concurrencies: `python -m scripts.loadtest --url 127.0.0.1:8000`.

`--compare` measures, in one run: this Triton (dynamic batching), a second Triton
serving the same build without dynamic batching, and in-process ONNX Runtime at its best
batch size (the ceiling on this CPU). Prints a table; writes `--json` and a PNG chart.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from gpu_inference_platform.ops.serving.load import LevelResult, no_batching_variant, onnxruntime_ceiling, sweep
from gpu_inference_platform.ops.serving.local_triton import LOOPBACK, LocalTriton, http_ready


def _table(label: str, results: list[LevelResult]) -> list[str]:
    lines = [f"{label}", f"  {'conc':>4} {'req/s':>8} {'emb/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'errors':>6}"]
    lines += [
        f"  {r.concurrency:>4} {r.requests_per_s:>8.1f} {r.embeddings_per_s:>8.1f} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} {r.p99_ms:>8.1f} {r.errors:>6}"
        for r in results
    ]
    return lines


def _chart(path: Path, series: dict[str, list[LevelResult]], ceiling: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (throughput, latency) = plt.subplots(1, 2, figsize=(11, 4))
    for label, results in series.items():
        levels = [r.concurrency for r in results]
        throughput.plot(levels, [r.embeddings_per_s for r in results], marker="o", label=label)
        latency.plot(levels, [r.p95_ms for r in results], marker="o", label=label)
    if ceiling is not None:
        throughput.axhline(ceiling, linestyle="--", color="grey", label="in-process ONNX Runtime (best batch)")
    throughput.set(xscale="log", xlabel="concurrent clients", ylabel="embeddings / s", title="Throughput")
    latency.set(xscale="log", yscale="log", xlabel="concurrent clients", ylabel="p95 latency (ms)", title="p95 latency")
    for axis in (throughput, latency):
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.loadtest", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="host:port of Triton's HTTP endpoint (checked for readiness)")
    parser.add_argument("--grpc-url", help="host:port the load goes to (default: the HTTP port + 1, Triton's 8000/8001 convention)")
    parser.add_argument("--concurrency", default="1,4,16,64,128", help="comma-separated concurrency levels (requests in flight)")
    parser.add_argument("--duration-s", type=float, default=5.0, help="seconds per level")
    parser.add_argument("--batch", type=int, default=1, help="sentences per request")
    parser.add_argument("--compare", action="store_true", help="also measure Triton without dynamic batching and in-process ONNX Runtime")
    parser.add_argument("--repo", type=Path, default=Path("build/models/cpu"), help="the build the server at --url serves (for --compare)")
    parser.add_argument("--json", type=Path, dest="json_path")
    parser.add_argument("--chart", type=Path, default=Path("build/loadtest.png"))
    args = parser.parse_args(argv)
    levels = [int(x) for x in args.concurrency.split(",")]
    host, http_port = args.url.rsplit(":", 1)
    grpc_url = args.grpc_url or f"{host}:{int(http_port) + 1}"
    if not http_ready(args.url):
        print(f"error: no ready Triton at http://{args.url}/v2/health/ready", file=sys.stderr)
        return 2

    series = {"Triton, dynamic batching": sweep(grpc_url, levels, duration_s=args.duration_s, batch=args.batch)}
    report: dict[str, Any] = {"levels": levels, "batch": args.batch, "duration_s": args.duration_s}
    ceiling = None
    if args.compare:
        with tempfile.TemporaryDirectory() as scratch, LocalTriton(no_batching_variant(args.repo, Path(scratch) / "no-batching")) as plain:
            series["Triton, no batching"] = sweep(f"{LOOPBACK}:{plain.grpc_port}", levels, duration_s=args.duration_s, batch=args.batch)
        result = onnxruntime_ceiling(args.repo, batch_sizes=[1, 8, 16, 32, 64], duration_s=args.duration_s)
        ceiling = result.embeddings_per_s
        report["onnxruntime_ceiling"] = {"best_batch": result.best_batch, "embeddings_per_s": ceiling, "by_batch": result.by_batch}

    for label, results in series.items():
        print("\n".join(_table(label, results)))
        report[label] = [r.as_dict() for r in results]
    best = {label: max(r.embeddings_per_s for r in results) for label, results in series.items()}
    report["best_embeddings_per_s"] = best
    if ceiling is not None:
        batching, plain_best = best["Triton, dynamic batching"], best["Triton, no batching"]
        report["ratios"] = {"batching_vs_ceiling": batching / ceiling, "batching_vs_no_batching": batching / plain_best}
        print(f"in-process ONNX Runtime ceiling: {ceiling:.1f} embeddings/s (batch {report['onnxruntime_ceiling']['best_batch']})")
        print(
            f"Triton with batching: {batching:.1f} emb/s = {batching / ceiling:.0%} of the ceiling, "
            f"{batching / plain_best:.2f}x Triton without batching ({plain_best:.1f})"
        )
    _chart(args.chart, series, ceiling)
    print(f"chart: {args.chart}")
    if args.json_path:
        args.json_path.parent.mkdir(parents=True, exist_ok=True)
        args.json_path.write_text(json.dumps(report, indent=2))
        print(f"report: {args.json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
