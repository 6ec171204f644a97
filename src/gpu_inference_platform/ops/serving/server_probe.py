"""What a local server costs and computes: its process tree's CPU-seconds (Linux /proc) and its token counters.

Requests per second depend on what else a shared machine is doing; CPU-seconds per request
do much less, so the load test reports both. The CPU time is the server process plus every
descendant (Triton forks one Python-backend stub per model instance).
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass

from gpu_inference_platform.ops.serving.procfs import CSTIME, CUTIME, PPID, PROC, STIME, UTIME, process_stats

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_LISTEN = "0A"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def _tree(root: int, stats: dict[int, list[str]]) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[PPID]), []).append(pid)
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    return tree


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    return _tree(root, process_stats())


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU-seconds of `root` and its live descendants (plus the children they have reaped), from one read
    of the process table."""
    stats = process_stats()
    ticks = sum(int(stats[pid][field]) for pid in _tree(root, stats) if pid in stats for field in (UTIME, STIME, CUTIME, CSTIME))
    return ticks / _TICKS_PER_S


def listening_pid(host: str, port: int) -> int | None:
    """The pid of the local process listening on `port`, or None (a remote host, or a socket of another user)."""
    if host not in _LOOPBACK_HOSTS:
        return None
    inodes = set()
    for table in ("tcp", "tcp6"):
        path = PROC / "net" / table
        for line in path.read_text().splitlines()[1:] if path.exists() else []:
            fields = line.split()
            if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in targets for fd in (entry / "fd").iterdir()):
                return int(entry.name)
        except OSError:
            continue
    return None


def fetch_metrics(metrics_url: str) -> str | None:
    """The Prometheus text at `metrics_url`; None when it does not answer."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as response:
            return str(response.read().decode())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None


def counter_total(metrics: str, name: str, **labels: str) -> float | None:
    """The sum of the series of `name` in Prometheus text `metrics` that carry all `labels`; None when there are none."""
    wanted = [f'{key}="{value}"' for key, value in labels.items()]
    series = re.findall(rf"^{re.escape(name)}(?:{{([^}}]*)}})? (\S+)$", metrics, re.MULTILINE)
    values = [float(value) for label_text, value in series if all(label in label_text for label in wanted)]
    return sum(values) if values else None


@dataclass(frozen=True)
class ServerProbe:
    """The server a load test drives: its root pid (None: not local, no CPU figures) and metrics URL (None: no token figures)."""

    pid: int | None
    metrics_url: str | None

    def cpu_seconds(self) -> float | None:
        """The process tree's CPU-seconds so far."""
        return None if self.pid is None else tree_cpu_seconds(self.pid)

    def token_positions(self) -> tuple[float, float] | None:
        """(real, computed) token positions the encoder has run so far, where it exports them."""
        metrics = fetch_metrics(self.metrics_url) if self.metrics_url else None
        if metrics is None:
            return None
        real, computed = (counter_total(metrics, name) for name in ("gip_encoder_real_tokens_total", "gip_encoder_computed_tokens_total"))
        return None if real is None or computed is None else (real, computed)
