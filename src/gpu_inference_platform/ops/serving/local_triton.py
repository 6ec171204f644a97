"""Run the `tritonserver` binary from the nvidia-pytriton wheel on 127.0.0.1 (CPU, Python backend)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from gpu_inference_platform.components.model_manifest import verify
from gpu_inference_platform.ops.serving.procfs import SESSION, process_stats

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


def unavailable_models(url: str) -> dict[str, str]:
    """Models the server gave up loading (name -> reason), from its repository index; empty while loading or when it cannot say."""
    request = urllib.request.Request(f"http://{url}/v2/repository/index", data=b"{}", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            index = json.loads(response.read())
    except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
        return {}
    return {str(m.get("name")): str(m.get("reason", "")) for m in index if m.get("state") == "UNAVAILABLE"}


def http_ready(url: str) -> bool:
    """GET http://<url>/v2/health/ready answers 200."""
    return _answers_200(f"http://{url}/v2/health/ready")


def kill_session(session: int) -> list[int]:
    """SIGKILL every process of a session (Linux /proc): the Python-backend stubs Triton forks may sit in their own
    process groups, but never leave its session. Returns the pids signalled."""
    killed = []
    for pid, fields in process_stats().items():
        if int(fields[SESSION]) == session:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


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
    """Where the server log goes; by default a `tritonserver-*.log` in the temp folder, kept after the server stops."""
    _process: subprocess.Popen[bytes] | None = None
    _workdir: Path | None = None

    @property
    def url(self) -> str:
        """host:port of the HTTP endpoint."""
        return f"{LOOPBACK}:{self.http_port}"

    @property
    def grpc_url(self) -> str:
        """host:port of the gRPC endpoint."""
        return f"{LOOPBACK}:{self.grpc_port}"

    @property
    def pid(self) -> int | None:
        """The tritonserver process (its Python-backend stubs are its children); None unless started."""
        return None if self._process is None else self._process.pid

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
        # The Python-backend stub must load this interpreter's libpython, not the system's (which lacks symbols `ssl` needs).
        libs = ":".join([str(sysconfig.get_config_var("LIBDIR")), (_pytriton_dir().parent / "nvidia_pytriton.libs").as_posix()])
        env["LD_LIBRARY_PATH"] = f"{libs}:{env['LD_LIBRARY_PATH']}" if env.get("LD_LIBRARY_PATH") else libs
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # the Python backend stub finds this venv's python
        return env

    def is_ready(self) -> bool:
        """The server reports ready."""
        return http_ready(self.url)

    @property
    def returncode(self) -> int | None:
        """The server's exit code once it has exited (negative: the signal that killed it); None while it runs."""
        return None if self._process is None else self._process.poll()

    @property
    def log(self) -> Path:
        """The server log (kept after stop, for post-mortems)."""
        assert self.log_path is not None, "start() sets it"
        return self.log_path

    def log_tail(self, lines: int = 20) -> str:
        """The server's error lines and the last lines of its log."""
        if not self.log.exists():
            return ""
        text = self.log.read_text(errors="replace").splitlines()
        errors = [line for line in text if line.startswith("E") or "Error" in line or "error:" in line]
        return "\n".join([*errors[-lines:], "...", *text[-lines:]])

    def _fail(self, problem: str) -> RuntimeError:
        self.stop()
        return RuntimeError(f"{problem}; log kept at {self.log}:\n{self.log_tail()}")

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
        shutil.copytree(self.repository, served, symlinks=True)
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="tritonserver-", suffix=".log")
            os.close(handle)
            self.log_path = Path(name)
        with self.log.open("wb") as sink:
            command = self.command(served, _prepare_backends(self._workdir / "backends"))
            # Its own session: stop() (and a supervisor) can reap the Python-backend stubs with it.
            self._process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT, env=self._environment(), start_new_session=True)
        deadline = time.monotonic() + ready_timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise self._fail(f"tritonserver exited with {self._process.returncode} before it was ready")
            failed = unavailable_models(self.url)
            if failed:
                raise self._fail("models failed to load: " + "; ".join(f"{name}: {reason}" for name, reason in sorted(failed.items())))
            if self.is_ready() and _answers_200(self.metrics_url):  # the metrics endpoint starts separately
                return self
            time.sleep(0.25)
        raise TimeoutError(str(self._fail(f"tritonserver not ready after {ready_timeout_s} s")))

    def signal_shutdown(self) -> None:
        """SIGTERM: Triton refuses new connections and finishes in-flight requests (up to the exit timeout)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)

    def wait(self, timeout_s: float) -> int:
        """Wait for the server to exit; its exit code."""
        assert self._process is not None
        return self._process.wait(timeout=timeout_s)

    def stop(self) -> int | None:
        """Graceful stop (SIGTERM, then SIGKILL after the exit timeout), then whatever is left of its process group
        (the Python-backend stubs) is killed; cleans the work folder and keeps the log. Returns the server's exit code."""
        code = None
        if self._process is not None:
            self.signal_shutdown()
            try:
                code = self._process.wait(timeout=self.exit_timeout_s + 10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                code = self._process.wait()
            kill_session(self._process.pid)
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
        return code

    def __enter__(self) -> LocalTriton:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()
