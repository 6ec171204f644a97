"""Retrieval-augmented answers through one Triton: embed a corpus, retrieve in memory, stream a grounded answer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gpu_inference_platform.ops.serving.generation_client import Stream, stream_grpc
from gpu_inference_platform.ops.serving.load import embed

TOP_K = 3


@dataclass(frozen=True)
class Retrieved:
    """A corpus passage and its cosine similarity to the question."""

    passage: str
    score: float


class PassageIndex:
    """The corpus embedded once by the served embedding model; top-k by cosine in memory."""

    def __init__(self, url: str, passages: list[str]) -> None:
        self.url = url
        self.passages = passages
        self.vectors = embed(url, passages)

    def top(self, question: str, k: int = TOP_K) -> list[Retrieved]:
        """The k passages closest to `question`, best first."""
        scores = self.vectors @ embed(self.url, [question])[0]
        return [Retrieved(self.passages[i], float(scores[i])) for i in np.argsort(-scores)[:k]]


def grounded_prompt(question: str, retrieved: list[Retrieved]) -> str:
    """The user message: numbered passages, then the question (the system prompt asks for answers from them, cited)."""
    passages = "\n".join(f"[{number}] {item.passage}" for number, item in enumerate(retrieved, start=1))
    return f"Passages:\n{passages}\n\nQuestion: {question}"


def answer(
    index: PassageIndex, grpc_url: str, question: str, *, max_tokens: int = 96, on_piece: Callable[[str], None] | None = None
) -> tuple[list[Retrieved], Stream]:
    """Retrieve the top passages and stream the model's answer over gRPC."""
    retrieved = index.top(question)
    return retrieved, stream_grpc(grpc_url, grounded_prompt(question, retrieved), max_tokens=max_tokens, on_piece=on_piece)
