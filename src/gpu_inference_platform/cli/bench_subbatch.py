"""Measure sub-batch policies of the CPU encoder in process: `python -m scripts.bench_subbatch --repo build/models/cpu`.

For each batch size, seeded batches are drawn from the workload and encoded on one ONNX
Runtime thread (as each encoder instance runs) with the build's own `length_batching.py`:
unsorted (one run padded to the longest row), then each policy. Prints texts per CPU-second
and the real-token share of the computed positions; `--json` writes them. The encoder's
`sub_batch_max_rows` / `sub_batch_max_tokens` were chosen with this command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gpu_inference_platform.ops.serving import encoder_bench
from gpu_inference_platform.ops.serving.workload import DEFAULT_SEED, WORKLOADS, workload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bench_subbatch", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path("build/models/cpu"), help="a cpu build")
    parser.add_argument("--workload", choices=WORKLOADS, default="realistic")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--batch", default="4,16,64", help="comma-separated dynamic-batch sizes")
    parser.add_argument("--max-tokens", default="64,128,256,512,1024", help="comma-separated token budgets (rows x padded length) per sub-batch")
    parser.add_argument("--max-rows", default="4,16,64", help="comma-separated row limits per sub-batch")
    parser.add_argument("--duration-s", type=float, default=3.0, help="seconds per measurement")
    parser.add_argument("--json", type=Path, dest="json_path")
    args = parser.parse_args(argv)
    batching = encoder_bench.length_batching(args.repo)
    texts = workload(args.workload, seed=args.seed).texts
    policies = {"unsorted": None} | {
        f"rows<={rows} tokens<={tokens}": batching.SubBatchPolicy(rows, tokens)
        for rows in (int(x) for x in args.max_rows.split(","))
        for tokens in (int(x) for x in args.max_tokens.split(","))
    }
    results = []
    print(f"{'batch':>5} {'policy':<26} {'texts/CPU-s':>11} {'real tokens':>11}")
    for batch in (int(x) for x in args.batch.split(",")):
        batches = encoder_bench.seeded_batches(texts, batch, count=50, seed=args.seed)
        for label, policy in policies.items():
            rate = encoder_bench.measure(label, batch, encoder_bench.onnx_runner(args.repo, policy, threads=1), batches, args.duration_s)
            results.append(rate.as_dict())
            print(f"{batch:>5} {label:<26} {rate.texts_per_cpu_s:>11.1f} {rate.real_token_fraction or 0:>11.2f}", flush=True)
    load = os.getloadavg()
    print(f"load average: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.json_path:
        args.json_path.parent.mkdir(parents=True, exist_ok=True)
        args.json_path.write_text(json.dumps({"workload": args.workload, "seed": args.seed, "results": results, "load_average": load}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
