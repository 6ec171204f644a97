"""Serve a built repository with the real Triton on 127.0.0.1: `python -m scripts.serve_local --repo DIR`.

Stops cleanly (in-flight requests finish) on Ctrl-C or SIGTERM. It supervises the server:
if Triton dies or exits on its own, it says so with Triton's exit code and last log lines,
reaps what is left of Triton's process group, and exits non-zero.
Exit codes: 0 stopped cleanly; Triton's own code (or 128 + signal) when it failed; 1 when it could not start.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from gpu_inference_platform.components.model_manifest import ManifestError
from gpu_inference_platform.ops.serving.local_triton import LocalTriton

POLL_S = 0.5


def _exit_code(returncode: int) -> int:
    """A shell-style code: Triton's own, or 128 + the signal that killed it."""
    return 128 - returncode if returncode < 0 else returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.serve_local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repo", type=Path, default=Path("build/models/cpu"), help="built repository (python -m scripts.build_models --target cpu)")
    parser.add_argument("--http-port", type=int, default=8000)
    parser.add_argument("--grpc-port", type=int, default=8001)
    parser.add_argument("--metrics-port", type=int, default=8002)
    parser.add_argument("--log", type=Path, help="write the server log here (default: a kept tritonserver-*.log in the temp folder)")
    args = parser.parse_args(argv)

    server = LocalTriton(args.repo, http_port=args.http_port, grpc_port=args.grpc_port, metrics_port=args.metrics_port, log_path=args.log)
    try:
        server.start()
    except (RuntimeError, TimeoutError, FileNotFoundError, ManifestError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"Triton ready: http://{server.url} (gRPC {server.grpc_port}, metrics {server.metrics_url}); log {server.log}; Ctrl-C to stop", flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(POLL_S):
        died = server.returncode
        if died is not None:
            server.stop()
            print(f"error: tritonserver exited on its own with {died}; last log lines ({server.log}):\n{server.log_tail()}", file=sys.stderr)
            return _exit_code(died) or 1
    code = server.stop()
    print(f"Triton stopped (exit code {code})")
    return 0 if code == 0 else _exit_code(code or 1)


if __name__ == "__main__":
    sys.exit(main())
