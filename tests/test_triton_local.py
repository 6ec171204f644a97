"""The real Triton (bundled in nvidia-pytriton) serving the cpu build: correctness, batching, errors, lifecycle."""

from __future__ import annotations

import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

from gpu_inference_platform.ops.modelbuild.export import load_tokenizer, onnx_embeddings, tokenize
from gpu_inference_platform.ops.modelbuild.spec import load_specs
from gpu_inference_platform.ops.serving.load import embed, run_level
from gpu_inference_platform.ops.serving.local_triton import LocalTriton
from gpu_inference_platform.ops.serving.workload import SHORT_SENTENCES
from tests.conftest import ROOT

REPOSITORY = ROOT / "build/models/cpu"
MODEL = "minilm_embed"


@pytest.fixture(scope="module")
def server() -> Iterator[LocalTriton]:
    with LocalTriton(REPOSITORY) as triton:
        yield triton


def _client(server: LocalTriton) -> httpclient.InferenceServerClient:
    return httpclient.InferenceServerClient(server.url, network_timeout=60)


def _infer(server: LocalTriton, data: np.ndarray, datatype: str) -> Any:
    tensor = httpclient.InferInput("TEXT", list(data.shape), datatype)
    tensor.set_data_from_numpy(data)
    return _client(server).infer(MODEL, [tensor])


def _metric(server: LocalTriton, name: str, model: str) -> float:
    with urllib.request.urlopen(server.metrics_url, timeout=5) as response:
        text = response.read().decode()
    match = re.search(rf'^{name}{{[^}}]*model="{model}"[^}}]*}} (\S+)$', text, re.MULTILINE)
    assert match, f"{name} for {model} not in metrics"
    return float(match.group(1))


def test_server_is_ready_and_serves_the_ensemble(server: LocalTriton) -> None:
    client = _client(server)
    assert client.is_server_ready()
    assert all(client.is_model_ready(m) for m in ("minilm_embed", "minilm_tokenizer", "minilm_encoder"))
    metadata = client.get_model_metadata(MODEL)
    assert metadata["inputs"] == [{"name": "TEXT", "datatype": "BYTES", "shape": [-1, 1]}]
    assert metadata["outputs"] == [{"name": "EMBEDDING", "datatype": "FP32", "shape": [-1, 384]}]


def test_embeddings_equal_in_process_onnxruntime(server: LocalTriton) -> None:
    sentences = [*SHORT_SENTENCES, "A longer sentence " * 40]
    served = embed(server.url, sentences)
    spec = load_specs()[0]
    input_ids, attention_mask = tokenize(load_tokenizer(spec), sentences)
    local = onnx_embeddings(REPOSITORY / "minilm_encoder/1/model.onnx", input_ids, attention_mask)
    assert served.shape == (len(sentences), 384)
    assert ((served * local).sum(axis=1) / (np.linalg.norm(served, axis=1) * np.linalg.norm(local, axis=1))).min() >= 0.9999


def _metric_reaches(server: LocalTriton, name: str, model: str, expected: float, timeout_s: float = 10) -> float:
    """The metric's value once it reaches `expected` (Triton publishes counters slightly after responding)."""
    deadline = time.monotonic() + timeout_s
    value = _metric(server, name, model)
    while value < expected and time.monotonic() < deadline:
        time.sleep(0.1)
        value = _metric(server, name, model)
    return value


def test_dynamic_batching_merges_concurrent_requests(server: LocalTriton) -> None:
    requests_before = _metric(server, "nv_inference_request_success", "minilm_encoder")
    executions_before = _metric(server, "nv_inference_exec_count", "minilm_encoder")
    result = run_level(server.grpc_url, 32, duration_s=2.0, batch=1)
    assert result.errors == 0 and result.requests > 0
    requests = _metric_reaches(server, "nv_inference_request_success", "minilm_encoder", requests_before + result.requests) - requests_before
    executions = _metric(server, "nv_inference_exec_count", "minilm_encoder") - executions_before
    assert requests == result.requests, "the server counted every request the client completed"
    assert executions < requests / 2, f"{requests:.0f} requests ran in {executions:.0f} executions"


@pytest.mark.parametrize(
    ("case", "data", "datatype", "message"),
    [
        ("wrong dtype", np.array([[1]], dtype=np.int32), "INT32", "data-type is 'INT32', but model 'minilm_embed' expects 'BYTES'"),
        ("wrong shape", np.array([[b"a", b"b"]], dtype=object), "BYTES", "unexpected shape"),
        ("empty batch", np.empty((0, 1), dtype=object), "BYTES", "expected 1 string elements for inference input 'TEXT'"),
        ("oversized batch", np.array([[b"x"]] * 65, dtype=object), "BYTES", "batch-size must be <= 64 for 'minilm_embed'"),
        ("invalid utf-8", np.array([[b"\xff\xfe"]], dtype=object), "BYTES", "TEXT must be UTF-8"),
    ],
)
def test_malformed_requests_fail_and_the_server_stays_healthy(server: LocalTriton, case: str, data: np.ndarray, datatype: str, message: str) -> None:
    with pytest.raises(InferenceServerException) as caught:
        _infer(server, data, datatype)
    assert message in str(caught.value), case
    assert server.is_ready()
    assert embed(server.url, ["still serving"]).shape == (1, 384)


def test_model_load_and_unload_are_refused(server: LocalTriton) -> None:
    for action in ("load", "unload"):
        request = urllib.request.Request(f"http://{server.url}/v2/repository/models/{MODEL}/{action}", data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=10)
        assert "explicit model load / unload is not allowed" in caught.value.read().decode()
    assert _client(server).is_model_ready(MODEL)


def test_graceful_shutdown_finishes_in_flight_requests() -> None:
    triton = LocalTriton(REPOSITORY).start()
    outcome: list[Any] = []
    long_batch = ["A deliberately long sentence to keep the encoder busy for a while. " * 12] * 64  # ~2 s of encoder work
    tokenized_before = _metric(triton, "nv_inference_request_success", "minilm_tokenizer")
    request = threading.Thread(target=lambda: outcome.append(embed(triton.url, long_batch).shape))
    request.start()
    _metric_reaches(triton, "nv_inference_request_success", "minilm_tokenizer", tokenized_before + 1)
    assert not outcome, "the request is still being encoded when SIGTERM is sent"
    triton.signal_shutdown()
    request.join(timeout=60)
    assert outcome == [(64, 384)], "the request in flight when SIGTERM arrived completed"
    assert triton.wait(timeout_s=60) == 0
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://{triton.url}/v2/health/live", timeout=2)
    triton.stop()
