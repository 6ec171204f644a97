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
from pathlib import Path

_PROC = Path("/proc")
_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
_LISTEN = "0A"
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "0.0.0.0")


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name (which may contain spaces): state, ppid, ..."""
    return (_PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def _parents() -> dict[int, int]:
    parents = {}
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int(_stat_fields(int(entry.name))[1])
            except (OSError, IndexError):
                continue
    return parents


def process_tree(root: int) -> list[int]:
    """`root` and all its descendants that are alive now."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        pending += children.get(pid, [])
    return tree


def tree_cpu_seconds(root: int) -> float:
    """User + system CPU-seconds of `root` and its live descendants (plus the children they have reaped)."""
    total_ticks = 0
    for pid in process_tree(root):
        try:
            fields = _stat_fields(pid)
        except OSError:
            continue  # exited between the listing and the read
        total_ticks += sum(int(fields[index]) for index in (11, 12, 13, 14))  # utime, stime, cutime, cstime
    return total_ticks / _TICKS_PER_S


def listening_pid(host: str, port: int) -> int | None:
    """The pid of the local process listening on `port`, or None (a remote host, or a socket of another user)."""
    if host not in _LOOPBACK_HOSTS:
        return None
    inodes = set()
    for table in ("tcp", "tcp6"):
        path = _PROC / "net" / table
        for line in path.read_text().splitlines()[1:] if path.exists() else []:
            fields = line.split()
            if fields[3] == _LISTEN and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    targets = {f"socket:[{inode}]" for inode in inodes}
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in targets for fd in (entry / "fd").iterdir()):
                return int(entry.name)
        except OSError:
            continue
    return None


def counter_total(metrics_url: str, name: str) -> float | None:
    """The sum of every series of the Prometheus counter `name` at `metrics_url`; None when it is not exported."""
    try:
        with urllib.request.urlopen(metrics_url, timeout=5) as response:
            text = response.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None
    values = [float(match) for match in re.findall(rf"^{re.escape(name)}(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)]
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
        real = counter_total(self.metrics_url, "gip_encoder_real_tokens_total") if self.metrics_url else None
        computed = counter_total(self.metrics_url, "gip_encoder_computed_tokens_total") if self.metrics_url else None
        return None if real is None or computed is None else (real, computed)
