"""Load-test workloads: a seeded pool of realistic texts with a stated length distribution, or the old short set.

Real embedding traffic mixes one-line queries with tickets, documents and paragraphs near the
model's 256-token limit; twelve short sentences (13.6 tokens on average) report about three
times the throughput such traffic gets. The realistic pool draws word windows from a shipped
corpus (`data/corpus.txt`) with word counts from `LENGTH_CLASSES`, so the same seed always
gives the same texts.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

CORPUS_PATH = Path(__file__).parent / "data" / "corpus.txt"
DEFAULT_SEED = 2026
DEFAULT_POOL_SIZE = 240
WORKLOADS = ("realistic", "short")

SHORT_SENTENCES = (
    "How do I reset my password?",
    "The invoice for October is attached to this message.",
    "Spot instances can be interrupted with a two-minute warning.",
    "What is the refund policy for annual subscriptions?",
    "Our GPU cluster scales out when the queue time per request grows.",
    "A man is playing a guitar on a street corner.",
    "Please summarise the quarterly results in three bullet points.",
    "The deployment failed because the image tag was not pinned.",
    "Where can I find the API documentation for embeddings?",
    "Latency went up after the last release; can we roll back?",
    "Sentence embeddings power semantic search and retrieval.",
    "Two dogs are running through a field of tall grass.",
)
"""The load test's original workload (`--workload short`): 13.6 tokens on average, at most 16."""


@dataclass(frozen=True)
class LengthClass:
    """A share of the pool whose texts have between `min_words` and `max_words` words (uniform)."""

    name: str
    share: float
    min_words: int
    max_words: int


LENGTH_CLASSES = (
    LengthClass("query", 0.40, 5, 15),
    LengthClass("sentence", 0.35, 16, 40),
    LengthClass("passage", 0.17, 41, 120),
    LengthClass("paragraph", 0.08, 170, 230),
)
"""The realistic mix: mostly queries and sentences, a tail of passages and paragraphs of ~200-256 tokens."""


@dataclass(frozen=True)
class Workload:
    """The texts a load test cycles through, and how they were made."""

    name: str
    texts: tuple[str, ...]
    seed: int | None = None

    def describe(self, token_counts: Sequence[int] | None) -> dict[str, Any]:
        """The distribution, for the JSON report: the classes drawn from, words and (where counted) tokens per text."""
        words = np.array([len(text.split()) for text in self.texts])
        description: dict[str, Any] = {"name": self.name, "size": len(self.texts), "seed": self.seed, "words": _summary(words)}
        if token_counts is not None:
            tokens = np.array(token_counts)
            description["tokens"] = {**_summary(tokens), "share_over_128": float((tokens > 128).mean())}
        if self.name == "realistic":
            description["length_classes"] = [{"name": c.name, "share": c.share, "words": [c.min_words, c.max_words]} for c in LENGTH_CLASSES]
        return description


def _summary(values: np.ndarray) -> dict[str, float]:
    return {"mean": float(values.mean()), "p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)), "max": float(values.max())}


def corpus_passages(path: Path = CORPUS_PATH) -> list[str]:
    """The corpus, one passage per non-comment line."""
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and not line.startswith("#")]


def realistic_pool(size: int = DEFAULT_POOL_SIZE, seed: int = DEFAULT_SEED) -> Workload:
    """`size` texts: for each, a length class by share, a word count in its range, a word window of the corpus."""
    if size < 1:
        raise ValueError(f"pool size must be at least 1, got {size}")
    words = " ".join(corpus_passages()).split()
    rng = random.Random(seed)
    texts = []
    for _ in range(size):
        length_class = rng.choices(LENGTH_CLASSES, weights=[c.share for c in LENGTH_CLASSES])[0]
        count = rng.randint(length_class.min_words, length_class.max_words)
        start = rng.randrange(len(words) - count)
        window = " ".join(words[start : start + count])
        texts.append(window[0].upper() + window[1:])
    return Workload("realistic", tuple(texts), seed)


def workload(name: str, *, size: int = DEFAULT_POOL_SIZE, seed: int = DEFAULT_SEED) -> Workload:
    """The named workload (one of `WORKLOADS`)."""
    if name == "short":
        return Workload("short", SHORT_SENTENCES)
    if name == "realistic":
        return realistic_pool(size, seed)
    raise ValueError(f"workload must be one of {', '.join(WORKLOADS)}, got {name!r}")
