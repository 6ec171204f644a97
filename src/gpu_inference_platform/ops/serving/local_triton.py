"""Run the `tritonserver` binary from the nvidia-pytriton wheel on 127.0.0.1 (CPU, Python backend)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from gpu_inference_platform.components.model_manifest import verify

LOOPBACK = "127.0.0.1"
DEFAULT_EXIT_TIMEOUT_S = 30


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def http_ready(url: str) -> bool:
    """GET http://<url>/v2/health/ready answers 200."""
    return _answers_200(f"http://{url}/v2/health/ready")


def _pytriton_dir() -> Path:
    import pytriton

    return Path(pytriton.__file__).resolve().parent


def _prepare_backends(into: Path) -> Path:
    """A backend folder holding the Python backend plus the stub for this interpreter's version."""
    distribution = _pytriton_dir() / "tritonserver"
    python_backend = into / "python"
    shutil.copytree(distribution / "backends" / "python", python_backend, ignore=shutil.ignore_patterns("__pycache__"))
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    shutil.copy2(distribution / "python_backend_stubs" / version / "triton_python_backend_stub", python_backend / "triton_python_backend_stub")
    return into


@dataclass
class LocalTriton:
    """A real Triton serving `repository` with production-style arguments, bound to loopback only."""

    repository: Path
    http_port: int = field(default_factory=free_port)
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    exit_timeout_s: int = DEFAULT_EXIT_TIMEOUT_S
    log_path: Path | None = None
    _process: subprocess.Popen[bytes] | None = None
    _workdir: Path | None = None

    @property
    def url(self) -> str:
        """host:port of the HTTP endpoint."""
        return f"{LOOPBACK}:{self.http_port}"

    @property
    def metrics_url(self) -> str:
        """Prometheus metrics endpoint."""
        return f"http://{LOOPBACK}:{self.metrics_port}/metrics"

    def command(self, repository: Path, backend_directory: Path) -> list[str]:
        """The tritonserver command line (the same lock-down as in the cluster)."""
        return [
            str(_pytriton_dir() / "tritonserver" / "bin" / "tritonserver"),
            f"--model-repository={repository}",
            f"--backend-directory={backend_directory}",
            "--model-control-mode=none",
            "--strict-readiness=true",
            "--exit-on-error=true",
            "--disable-auto-complete-config",
            f"--exit-timeout-secs={self.exit_timeout_s}",
            f"--http-address={LOOPBACK}",
            f"--grpc-address={LOOPBACK}",
            f"--metrics-address={LOOPBACK}",
            f"--http-port={self.http_port}",
            f"--grpc-port={self.grpc_port}",
            f"--metrics-port={self.metrics_port}",
            "--allow-gpu-metrics=false",
            "--metrics-config=summary_latencies=true",
        ]

    def _environment(self) -> dict[str, str]:
        env = dict(os.environ)
        libs = (_pytriton_dir().parent / "nvidia_pytriton.libs").as_posix()
        env["LD_LIBRARY_PATH"] = f"{libs}:{env['LD_LIBRARY_PATH']}" if env.get("LD_LIBRARY_PATH") else libs
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # the Python backend stub finds this venv's python
        return env

    def is_ready(self) -> bool:
        """The server reports ready."""
        return http_ready(self.url)

    def start(self, ready_timeout_s: float = 180) -> LocalTriton:
        """Verify the repository against its manifest, serve a private copy of it, wait until ready.

        Like a pod's local volume, the copy absorbs what the Python backend writes
        (`__pycache__`), so the verified build is never modified.
        """
        check = verify(self.repository)
        if not check.ok:
            raise RuntimeError(f"{self.repository} does not match its manifest: {'; '.join(check.lines())}")
        self._workdir = Path(tempfile.mkdtemp(prefix="triton-"))
        served = self._workdir / "models"
        shutil.copytree(self.repository, served)
        log = self.log_path or self._workdir / "tritonserver.log"
        with log.open("wb") as sink:
            command = self.command(served, _prepare_backends(self._workdir / "backends"))
            self._process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=self._environment())
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"tritonserver exited with {self._process.returncode}:\n{log.read_text()[-3000:]}")
            if self.is_ready() and _answers_200(self.metrics_url):  # the metrics endpoint starts separately
                return self
            time.sleep(0.25)
        self.stop()
        raise TimeoutError(f"tritonserver not ready after {ready_timeout_s} s; log: {log}")

    def signal_shutdown(self) -> None:
        """SIGTERM: Triton refuses new connections and finishes in-flight requests (up to the exit timeout)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float) -> int:
        """Wait for the server to exit; its exit code."""
        assert self._process is not None
        return self._process.wait(timeout=timeout_s)

    def stop(self) -> int | None:
        """Graceful stop (SIGTERM, then SIGKILL after the exit timeout); cleans the work folder."""
        code = None
        if self._process is not None:
            self.signal_shutdown()
            try:
                code = self._process.wait(timeout=self.exit_timeout_s + 10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                code = self._process.wait()
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        return code

    def __enter__(self) -> LocalTriton:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
