"""Length-aware batching for the CPU encoder: sort a dynamic batch by length, run padded sub-batches.

A batch padded to its longest row computes every padding position in every layer; a batch of
short queries beside one 256-token paragraph spends most of its time on padding. Sorting the
rows by length and cutting the sorted run into sub-batches pads each row only to its
neighbours' length. Mean pooling masks the padding out, so the embeddings are the same as the
single padded run, returned in the original row order.

The same file serves the in-process ceiling of `scripts.loadtest --compare`, so server and
ceiling batch identically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np

Encoder = Callable[[np.ndarray, np.ndarray], np.ndarray]
Mapper = Callable[[Callable[[np.ndarray], np.ndarray], Iterable[np.ndarray]], Iterator[np.ndarray]]
"""`map`, or a thread pool's `map`: how the sub-batches of one batch are run (in order, or side by side)."""


@dataclass(frozen=True)
class SubBatchPolicy:
    """How a sorted batch is cut: at most `max_rows` rows and `max_tokens` padded positions per sub-batch."""

    max_rows: int
    max_tokens: int

    def __post_init__(self) -> None:
        if self.max_rows < 1 or self.max_tokens < 1:
            raise ValueError(f"max_rows and max_tokens must be positive, got {self.max_rows} and {self.max_tokens}")

    def fits(self, rows: int, width: int) -> bool:
        """`rows` rows padded to `width` tokens may run as one sub-batch."""
        return rows <= self.max_rows and rows * width <= self.max_tokens


@dataclass(frozen=True)
class BatchStats:
    """Token positions of one batch: real (attention mask 1) and computed (padded sub-batch shapes)."""

    real_tokens: int
    computed_tokens: int


def row_lengths(attention_mask: np.ndarray) -> np.ndarray:
    """Each row's length up to its last real token (at least 1): the columns after it are padding for that row."""
    real = attention_mask != 0
    last = attention_mask.shape[1] - np.argmax(real[:, ::-1], axis=1)
    return np.where(real.any(axis=1), last, 1)


def sub_batches(lengths: np.ndarray, policy: SubBatchPolicy) -> list[np.ndarray]:
    """Row indices of each sub-batch: rows sorted by length (stable), cut when the next row would break the policy."""
    order = np.argsort(lengths, kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    for end in range(1, len(order) + 1):
        if end == len(order) or not policy.fits(end - start + 1, int(lengths[order[end]])):
            batches.append(order[start:end])
            start = end
    return batches


def encode_length_aware(
    encode: Encoder, input_ids: np.ndarray, attention_mask: np.ndarray, policy: SubBatchPolicy, run_all: Mapper = map
) -> tuple[np.ndarray, BatchStats]:
    """Embeddings of every row, in the input order, computed over length-sorted padded sub-batches.

    `run_all` maps the sub-batches, longest first (so parallel workers finish together): a thread
    pool's `map` spreads one batch over several cores, since an ONNX Runtime session runs
    concurrent calls in parallel. A single sub-batch runs in the calling thread (no hand-off).
    """
    lengths = row_lengths(attention_mask)
    plan = sub_batches(lengths, policy)[::-1]
    run_all = run_all if len(plan) > 1 else map

    def run(rows: np.ndarray) -> np.ndarray:
        width = int(lengths[rows].max())
        return encode(np.ascontiguousarray(input_ids[rows, :width]), np.ascontiguousarray(attention_mask[rows, :width]))

    embeddings: np.ndarray | None = None
    for rows, result in zip(plan, run_all(run, plan), strict=True):
        if embeddings is None:
            embeddings = np.empty((len(lengths), result.shape[1]), dtype=result.dtype)
        embeddings[rows] = result
    assert embeddings is not None, "a batch has at least one row"
    computed = sum(len(rows) * int(lengths[rows].max()) for rows in plan)
    return embeddings, BatchStats(int((attention_mask != 0).sum()), computed)
