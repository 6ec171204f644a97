"""Shared finishing of the load tests' PNG charts."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def save_chart(figure: Any, axes: tuple[Any, ...], path: Path) -> None:
    """Grid and legend on every axis, tight layout, written to `path` (folders created)."""
    for axis in axes:
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
