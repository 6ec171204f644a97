"""`loadtest --llm` and the RAG demo against the real local Triton."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from gpu_inference_platform.cli import loadtest
from gpu_inference_platform.ops.serving.generation_load import generation_prompts
from gpu_inference_platform.ops.serving.local_triton import LocalTriton
from gpu_inference_platform.ops.serving.rag import PassageIndex, answer, grounded_prompt
from gpu_inference_platform.ops.serving.workload import corpus_passages
from tests.conftest import ROOT

CPU_BUILD = ROOT / "build" / "models" / "cpu"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalTriton]:
    with LocalTriton(CPU_BUILD) as triton:
        yield triton


def _run(server: LocalTriton, tmp_path: Path, *extra: str) -> dict[str, object]:
    report = tmp_path / "llm.json"
    arguments = ["--url", server.url, "--grpc-url", server.grpc_url, "--metrics-url", server.metrics_url, "--llm", "--max-tokens", "8"]
    assert loadtest.main([*arguments, "--requests-per-client", "1", "--json", str(report), "--chart", str(tmp_path / "llm.png"), *extra]) == 0
    assert (tmp_path / "llm.png").stat().st_size > 0
    return dict(json.loads(report.read_text()))


def test_the_generation_prompts_mix_questions_and_passages() -> None:
    prompts = generation_prompts()
    assert len(prompts) == 24 and prompts == generation_prompts()
    assert sum(prompt.startswith("Passages:\n[1] ") for prompt in prompts) == 12


def test_a_streaming_sweep_reports_ttft_inter_token_latency_and_tokens(server: LocalTriton, tmp_path: Path) -> None:
    report = _run(server, tmp_path, "--concurrency", "1,3")
    levels = report["Triton, in-flight batching"]
    assert isinstance(levels, list) and [level["concurrency"] for level in levels] == [1, 3]
    for level in levels:
        assert level["requests"] == level["concurrency"] and level["errors"] == 0
        assert 0 < level["output_tokens"] <= 8 * level["requests"]
        assert 0 < level["ttft_p50_ms"] <= level["ttft_p95_ms"] and 0 < level["itl_p50_ms"] <= level["itl_p95_ms"]
        assert level["server_cpu_s"] > 0
    assert report["mode"] == "llm" and "targets" not in report and len(report["load_average_after"]) == 3


def test_compare_adds_the_sequential_server_and_the_in_process_reference(server: LocalTriton, tmp_path: Path) -> None:
    report = _run(server, tmp_path, "--concurrency", "1,8", "--compare")
    assert [level["concurrency"] for level in report["Triton, one generation at a time"]] == [1, 8]
    in_process = report["onnxruntime_genai_in_process"]
    assert set(in_process["tokens_per_s_by_batch"]) == {"1", "4", "8"} and in_process["best_tokens_per_s"] > 0
    targets = report["targets"]
    assert set(targets) == {"inflight_vs_sequential_tokens_per_s_at_8", "ttft_p50_at_8_vs_at_1", "served_vs_in_process_best_batch"}
    assert all(isinstance(target["value"], float) and target["met"] in (True, False) for target in targets.values())


def test_rag_retrieves_the_spot_passage_and_streams_an_answer(server: LocalTriton) -> None:
    index = PassageIndex(server.url, corpus_passages())
    question = "What happens to my inference service when AWS reclaims a spot GPU?"
    retrieved, stream = answer(index, server.grpc_url, question, max_tokens=24)
    assert len(retrieved) == 3 and retrieved[0].passage.startswith("Spot GPU instances cost far less")
    assert retrieved[0].score >= retrieved[1].score >= retrieved[2].score
    assert stream.error == "" and len(stream.pieces) > 3
    assert grounded_prompt(question, retrieved).startswith(f"Passages:\n[1] {retrieved[0].passage}\n[2] ")
