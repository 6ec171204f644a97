"""Serve a built repository with the real Triton on 127.0.0.1: `python -m scripts.serve_local --repo DIR`.

Stops cleanly (in-flight requests finish) on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from gpu_inference_platform.ops.serving.local_triton import LocalTriton


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.serve_local", description=__doc__)
    parser.add_argument("--repo", type=Path, default=Path("build/models/cpu"), help="built repository (python -m scripts.build_models --target cpu)")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--log", type=Path, help="write the server log here")
    args = parser.parse_args(argv)

    server = LocalTriton(args.repo, http_port=args.http_port, grpc_port=args.grpc_port, metrics_port=args.metrics_port, log_path=args.log)
    try:
        server.start()
    except (RuntimeError, TimeoutError, FileNotFoundError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Triton ready: http://{server.url} (gRPC {server.grpc_port}, metrics {server.metrics_url}); Ctrl-C to stop", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    code = server.stop()
    print(f"Triton stopped (exit code {code})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
