"""The demo: offline preview of dev, then the real Triton serving the cpu build - semantic search, a short load test,
and one question answered by retrieval-augmented generation (minilm_embed retrieves, smollm2_generate streams)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from gpu_inference_platform.cli import preview
from gpu_inference_platform.ops.serving.load import LevelResult, embed, run_level
from gpu_inference_platform.ops.serving.local_triton import LocalTriton
from gpu_inference_platform.ops.serving.rag import PassageIndex, answer
from gpu_inference_platform.ops.serving.server_probe import ServerProbe
from gpu_inference_platform.ops.serving.workload import corpus_passages

DOCUMENTS = (
    "Spot GPU instances cost less but can be reclaimed with two minutes' notice.",
    "Triton's dynamic batcher groups concurrent requests to keep the GPU busy.",
    "Budgets notify at 50, 80 and 100 percent of monthly spend, then stop scale-out.",
    "TensorRT plans only run on the GPU architecture they were built for.",
    "The load balancer checks /v2/health/ready before sending traffic to a pod.",
    "A content-addressed model prefix tells you exactly which build is running.",
)
RAG_QUESTION = "What happens to my inference service when AWS reclaims a spot GPU?"
QUERIES = ("what happens when AWS takes my cheap GPU back?", "why will my compiled TensorRT plan not run on a different GPU?", "how do we avoid overspending?")


def semantic_search(url: str) -> list[str]:
    """Top document for each query, by cosine similarity of Triton embeddings."""
    documents, queries = embed(url, DOCUMENTS), embed(url, QUERIES)
    scores = queries @ documents.T
    return [f"  {q!r}\n    -> {DOCUMENTS[int(np.argmax(row))]!r} (cosine {row.max():.3f})" for q, row in zip(QUERIES, scores, strict=True)]


def _row(result: LevelResult) -> str:
    return (
        f"  {result.concurrency:>3} in flight: {result.embeddings_per_s:7.1f} embeddings/s, "
        f"p50 {result.p50_ms:6.1f} ms, p99 {result.p99_ms:6.1f} ms, errors {result.errors}, "
        f"{result.cpu_s_per_1000_requests or 0:.1f} server CPU-s per 1,000 requests, real tokens {result.real_token_fraction or 0:.0%} of computed"
    )


def rag(triton: LocalTriton) -> None:
    """Embed the shipped corpus, retrieve the top passages for one question, stream a grounded answer."""
    index = PassageIndex(triton.url, corpus_passages())
    print(f"retrieval-augmented answer ({len(index.passages)} passages embedded by minilm_embed; answer streamed by smollm2_generate):")
    print(f"  Q: {RAG_QUESTION}\n  A: ", end="", flush=True)
    retrieved, stream = answer(index, triton.grpc_url, RAG_QUESTION, on_piece=lambda piece: print(piece, end="", flush=True))
    if stream.error:
        print(f"\n  error: {stream.error}")
        return
    seconds = stream.total_s - (stream.ttft_s or 0)
    print(f"\n  first token after {1000 * (stream.ttft_s or 0):.0f} ms, {len(stream.pieces) / seconds if seconds else 0:.0f} pieces/s; passages given:")
    for number, item in enumerate(retrieved, start=1):
        print(f"  [{number}] (cosine {item.score:.3f}) {item.passage[:110]}...")


def main() -> int:
    print("== offline preview of the dev stack (no credentials) ==")
    if preview.main(["dev", "--json", "build/preview-dev.json", "--render-k8s", "build/k8s/dev"]) != 0:
        return 1
    print("\n== the real Triton serving build/models/cpu on 127.0.0.1 ==")
    with LocalTriton(Path("build/models/cpu")) as triton:
        print(f"ready at http://{triton.url}")
        print("semantic search:")
        print("\n".join(semantic_search(triton.url)))
        print("load test on the realistic workload (2 s per level; full sweep: python -m scripts.loadtest --url HOST:PORT --compare):")
        probe = ServerProbe(triton.pid, triton.metrics_url)
        for concurrency in (1, 32):
            print(_row(run_level(triton.grpc_url, concurrency, duration_s=2.0, batch=1, probe=probe)))
        rag(triton)
    print("Triton stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
