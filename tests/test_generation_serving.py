"""Text generation on the real local Triton, for both targets of `smollm2_generate`.

- cpu: the cpu build, SmolLM2 int4 on onnxruntime-genai, decoupled, in-flight batched.
- gpu: the dev build's chat front (Python BLS) unchanged, calling its TensorRT-LLM model, whose built
  config is served by a test double of the tensorrtllm backend (`tensorrt_llm_double/model.py`).

Each runs the same tests: one greedy answer over HTTP generate, SSE and gRPC streaming, equal to
onnxruntime-genai's in this process; stop words; cancellation; the queue limit; graceful shutdown
with a stream in flight; input validation; the custom metrics moving. Two more follow the gpu
front's engine requests: one ends at a stop word with the front, one is drained after a cancel.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from gpu_inference_platform.components.model_manifest import load_manifest, write_manifest
from gpu_inference_platform.ops.model_config import model_parameters
from gpu_inference_platform.ops.serving.build_module import build_module
from gpu_inference_platform.ops.serving.generation_client import GenerationError, Stream, generate, stream_grpc, stream_sse
from gpu_inference_platform.ops.serving.local_triton import LocalTriton
from gpu_inference_platform.ops.serving.server_probe import counter_total, fetch_metrics
from gpu_inference_platform.ops.serving.variants import with_parameters
from tests.conftest import ROOT

CPU_BUILD = ROOT / "build" / "models" / "cpu"
GPU_BUILD = ROOT / "build" / "models" / "dev"
ENGINE_DOUBLE = Path(__file__).parent / "tensorrt_llm_double" / "model.py"
MODEL = "smollm2_generate"
QUESTION = "What is the capital of France?"
LONG_ANSWER = "Write a long story about a dragon who guards a castle."
ENGINE_TOKENS = "double_engine_generated_tokens_total"


def gpu_front_repository(out: Path) -> Path:
    """The gpu build's chat front as built, and its engine model's built config served by the engine double."""
    shutil.copytree(GPU_BUILD / MODEL, out / MODEL)
    engine = model_parameters((GPU_BUILD / MODEL / "config.pbtxt").read_text())["engine_model"]
    config = (GPU_BUILD / engine / "config.pbtxt").read_text()
    assert config.count('backend: "tensorrtllm"') == 1 and config.count("parameters [") == 1
    cpu_model = CPU_BUILD / MODEL / "1" / "model"
    config = config.replace('backend: "tensorrtllm"', 'backend: "python"').replace(
        "parameters [", f'parameters [\n  {{ key: "double_model_path", value: {{ string_value: "{cpu_model}" }} }},'
    )
    (out / engine / "1").mkdir(parents=True)
    (out / engine / "config.pbtxt").write_text(config)
    shutil.copy(ENGINE_DOUBLE, out / engine / "1" / "model.py")
    built = load_manifest(GPU_BUILD)
    source = {**built.source, "variant": "tensorrt-llm-double"}
    write_manifest(out, target=built.target, tools=built.tools, source=source, onnx_opset=built.onnx_opset, engines={})
    return out


@pytest.fixture(scope="module", params=["cpu", "gpu"])
def target(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def repository(target: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return CPU_BUILD if target == "cpu" else gpu_front_repository(tmp_path_factory.mktemp("gpu-front"))


@pytest.fixture(scope="module")
def server(repository: Path) -> Iterator[LocalTriton]:
    with LocalTriton(repository) as triton:
        yield triton


@pytest.fixture(scope="module")
def in_process_answer() -> str:
    """onnxruntime-genai's greedy 24-token answer to QUESTION in this process, with the build's prompt files."""
    import onnxruntime_genai as og

    version = CPU_BUILD / MODEL / "1"
    model = og.Model(str(version / "model"))
    tokenizer = og.Tokenizer(model)
    prompt_ids = build_module(version, "inflight").ChatPrompt(tokenizer, version).ids(QUESTION)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=prompt_ids.size + 24, do_sample=False)
    generator = og.Generator(model, params)
    generator.append_tokens(prompt_ids)
    tokens = []
    while not generator.is_done():
        generator.generate_next_token()
        tokens.append(int(generator.get_next_tokens()[0]))
    return str(tokenizer.decode(np.asarray(tokens, dtype=np.int32)))


def _metrics(server: LocalTriton) -> str:
    text = fetch_metrics(server.metrics_url)
    assert text is not None, "the metrics endpoint answers"
    return text


def _metric(server: LocalTriton, name: str, **labels: str) -> float:
    return counter_total(_metrics(server), name, **labels) or 0.0


def test_generate_sse_and_grpc_streaming_return_the_same_greedy_text(server: LocalTriton, in_process_answer: str) -> None:
    whole = generate(server.url, QUESTION, max_tokens=24)
    sse = stream_sse(server.url, QUESTION, max_tokens=24)
    grpc = stream_grpc(server.grpc_url, QUESTION, max_tokens=24)
    assert "Paris" in whole and whole == in_process_answer
    assert sse.error == "" and grpc.error == ""
    assert sse.text == whole and grpc.text == whole
    assert len(sse.pieces) > 5 and len(grpc.pieces) == len(sse.pieces), "streamed piece by piece, not in one response"
    assert generate(server.url, QUESTION, max_tokens=24) == whole, "greedy decoding is repeatable"


def test_stop_words_cut_the_answer_before_the_first_stop_word(server: LocalTriton) -> None:
    full = generate(server.url, QUESTION, max_tokens=24)
    cut = generate(server.url, QUESTION, max_tokens=24, stop_words=["Paris"])
    streamed = stream_grpc(server.grpc_url, QUESTION, max_tokens=24, stop_words=["Paris"])
    assert cut == full[: full.index("Paris")] == streamed.text
    assert _metric(server, "gip_llm_requests_finished_total", reason="stop") >= 2


def test_cancelling_a_stream_stops_its_generation(server: LocalTriton) -> None:
    tokens_before = _metric(server, "gip_llm_generated_tokens_total")
    cancelled_before = _metric(server, "gip_llm_requests_finished_total", reason="cancelled")
    partial = stream_grpc(server.grpc_url, LONG_ANSWER, max_tokens=400, stop_after=3)
    assert len(partial.pieces) == 3
    deadline = time.monotonic() + 30
    while _metric(server, "gip_llm_requests_finished_total", reason="cancelled") == cancelled_before and time.monotonic() < deadline:
        time.sleep(0.1)
    generated = _metric(server, "gip_llm_generated_tokens_total") - tokens_before
    assert _metric(server, "gip_llm_requests_finished_total", reason="cancelled") == cancelled_before + 1
    assert 3 <= generated < 100, f"{generated} tokens generated of the 400 asked: the cancellation stopped it"
    assert _metric(server, "gip_llm_requests_active") == 0


@pytest.mark.parametrize("target", ["gpu"], indirect=True)
def test_the_engine_stops_at_a_stop_word_where_the_front_cuts(server: LocalTriton) -> None:
    engine_before, front_before = _metric(server, ENGINE_TOKENS), _metric(server, "gip_llm_generated_tokens_total")
    cut = generate(server.url, QUESTION, max_tokens=24, stop_words=["Paris"])
    engine, front = _metric(server, ENGINE_TOKENS) - engine_before, _metric(server, "gip_llm_generated_tokens_total") - front_before
    assert cut == "The capital of France is "
    assert engine == front == 6, "stop_words_list holds ' Paris' as it is spelled mid-text, so the engine ends with the front"


@pytest.mark.parametrize("target", ["gpu"], indirect=True)
def test_a_cancelled_stream_frees_its_place_once_the_engine_request_ends(server: LocalTriton) -> None:
    """The pods' Triton (r25.06) cancels the engine request (`ResponseIterator.cancel()`, python_backend #398).

    The local 2.51 stub has no such method, so the front falls back to draining: the client's stream
    ends at once, the engine request runs to its max_tokens, then the front's place is free again.
    """
    engine_before = _metric(server, ENGINE_TOKENS)
    partial = stream_grpc(server.grpc_url, LONG_ANSWER, max_tokens=120, stop_after=3)
    assert partial.pieces == ["Once", " upon", " a"]
    deadline = time.monotonic() + 30
    while _metric(server, ENGINE_TOKENS) - engine_before < 120 and time.monotonic() < deadline:
        time.sleep(0.1)
    while _metric(server, "gip_llm_requests_active") > 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _metric(server, ENGINE_TOKENS) - engine_before == 120
    assert _metric(server, "gip_llm_requests_active") == 0 and _metric(server, "gip_llm_requests_waiting") == 0
    assert stream_grpc(server.grpc_url, QUESTION, max_tokens=4).error == ""


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"max_tokens": 0}, "max_tokens must be an integer in [1, 512], got 0"),
        ({"max_tokens": 100000}, "max_tokens must be an integer in [1, 512], got 100000"),
        ({"temperature": float("nan")}, "temperature must be a finite number in [0.0, 2.0]"),
        ({"top_p": 0.0}, "top_p must be a finite number in [0.01, 1.0], got 0.0"),
        ({"stop_words": ["x"] * 17}, "stop_words must be at most 16 non-empty strings, got 17"),
        ({"stop_words": [""]}, "stop_words must be at most 16 non-empty strings, got 1"),
    ],
)
def test_bad_parameters_are_refused_with_the_input_and_its_range(server: LocalTriton, parameters: dict[str, object], message: str) -> None:
    with pytest.raises(GenerationError, match="HTTP 400") as refused:
        generate(server.url, QUESTION, **parameters)
    assert message in str(refused.value)


def test_an_oversized_or_empty_prompt_is_refused(server: LocalTriton) -> None:
    with pytest.raises(GenerationError, match="text_input has 9000 characters; at most 8192"):
        generate(server.url, "x" * 9000)
    with pytest.raises(GenerationError, match=r"prompt has \d+ tokens; at most 1536"):
        generate(server.url, "word " * 1600)
    with pytest.raises(GenerationError, match="text_input is empty"):
        generate(server.url, "   ")
    assert server.is_ready()


def test_ttft_histogram_and_token_counter_move(server: LocalTriton) -> None:
    before = _metrics(server)
    stream = stream_sse(server.url, QUESTION, max_tokens=8)
    after = _metrics(server)
    assert counter_total(after, "gip_llm_time_to_first_token_seconds_count") == (counter_total(before, "gip_llm_time_to_first_token_seconds_count") or 0) + 1
    assert (counter_total(after, "gip_llm_generated_tokens_total") or 0) - (counter_total(before, "gip_llm_generated_tokens_total") or 0) == 8
    assert len(stream.pieces) <= 8
    for family in ("gip_llm_requests_waiting", "gip_llm_requests_active", "gip_llm_requests_finished_total", "gip_llm_time_to_first_token_seconds_bucket"):
        assert f"\n{family}{{" in after


@pytest.fixture
def tight_server(repository: Path, tmp_path: Path) -> Iterator[LocalTriton]:
    """One generation at a time and one waiting: the queue limit within reach of a test."""
    variant = with_parameters(repository, tmp_path / "tight", MODEL, {"max_active_requests": "1", "max_queue_size": "1"}, "tight-queue")
    with LocalTriton(variant) as triton:
        yield triton


def test_a_full_queue_refuses_at_once_and_the_admitted_requests_complete(tight_server: LocalTriton) -> None:
    results: dict[int, Stream] = {}

    def client(index: int) -> None:
        results[index] = stream_grpc(tight_server.grpc_url, LONG_ANSWER, max_tokens=40)

    first = threading.Thread(target=client, args=(0,))
    first.start()
    while _metric(tight_server, "gip_llm_requests_active") < 1:
        time.sleep(0.02)
    second = threading.Thread(target=client, args=(1,))
    second.start()
    while _metric(tight_server, "gip_llm_requests_waiting") < 1:
        time.sleep(0.02)
    started = time.perf_counter()
    with pytest.raises(GenerationError, match=r"1 requests already wait \(max_queue_size 1\); retry later"):
        generate(tight_server.url, QUESTION, max_tokens=4)
    refused_in = time.perf_counter() - started
    first.join()
    second.join()
    assert refused_in < 1.0, "refused at once, not after the queue drained"
    assert results[0].error == "" and results[1].error == "" and results[0].text == results[1].text != ""
    assert _metric(tight_server, "gip_llm_requests_finished_total", reason="rejected") == 1


def test_graceful_shutdown_completes_a_stream_in_flight(tight_server: LocalTriton) -> None:
    expected = generate(tight_server.url, LONG_ANSWER, max_tokens=60)
    received: list[str] = []
    result: dict[str, Stream] = {}
    worker = threading.Thread(target=lambda: result.update(stream=stream_grpc(tight_server.grpc_url, LONG_ANSWER, max_tokens=60, on_piece=received.append)))
    worker.start()
    while len(received) < 3:
        time.sleep(0.01)
    tight_server.signal_shutdown()
    worker.join(60)
    assert tight_server.wait(60) == 0
    assert result["stream"].error == "" and result["stream"].text == expected, "every token of the stream arrived after SIGTERM"
