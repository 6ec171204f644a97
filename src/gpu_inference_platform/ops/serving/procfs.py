"""The Linux process table, read once from /proc: who is whose parent, which session, how much CPU."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")
PPID, SESSION, UTIME, STIME, CUTIME, CSTIME = 1, 3, 11, 12, 13, 14
"""Indexes into a process's stat fields after its command name (`proc(5)` fields 4, 6, 14-17)."""


def process_stats() -> dict[int, list[str]]:
    """Every live process's /proc/<pid>/stat fields after the command name (which may contain spaces and parentheses)."""
    stats = {}
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue  # exited between the listing and the read
    return stats
