"""Hostile clients against the real local Triton: one client must never hurt another.

Normal clients embed realistic sentences concurrently while another client sends poisoned
(out-of-vocabulary token ids straight to the encoder) or oversized requests. Every poisoned or
oversized request fails alone, with a 400; no normal request fails; the server stays ready.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpu_inference_platform.ops.serving.local_triton import LocalTriton
from tests.conftest import ROOT

CPU_BUILD = ROOT / "build" / "models" / "cpu"
MAX_TEXT_CHARS = 4096
SENTENCES = [
    "Spot GPU instances cost less but can be reclaimed with two minutes' notice.",
    "The load balancer checks readiness before it sends traffic to a pod.",
    "A content-addressed model prefix tells you exactly which build is running, and what changed since the last one.",
]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalTriton]:
    with LocalTriton(CPU_BUILD) as triton:
        yield triton


def _post(server: LocalTriton, model: str, inputs: list[dict[str, Any]], timeout_s: float = 60) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"inputs": inputs}).encode()
    request = urllib.request.Request(f"http://{server.url}/v2/models/{model}/infer", data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def _embed(server: LocalTriton, sentences: list[str], timeout_s: float = 60) -> tuple[int, dict[str, Any]]:
    return _post(server, "minilm_embed", [{"name": "TEXT", "datatype": "BYTES", "shape": [len(sentences), 1], "data": sentences}], timeout_s)


def _poisoned(server: LocalTriton) -> tuple[int, dict[str, Any]]:
    ids = [[101, 999_999, 102]]
    return _post(
        server,
        "minilm_encoder",
        [
            {"name": "input_ids", "datatype": "INT64", "shape": [1, 3], "data": ids},
            {"name": "attention_mask", "datatype": "INT64", "shape": [1, 3], "data": [[1, 1, 1]]},
        ],
    )


def _normal_clients(server: LocalTriton, clients: int, stop: threading.Event) -> tuple[list[int], list[threading.Thread]]:
    statuses: list[int] = []
    lock = threading.Lock()

    def client(index: int) -> None:
        while not stop.is_set():
            status, _ = _embed(server, [SENTENCES[index % len(SENTENCES)]])
            with lock:
                statuses.append(status)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    return statuses, threads


def test_a_poisoned_request_fails_alone(server: LocalTriton) -> None:
    stop = threading.Event()
    statuses, threads = _normal_clients(server, clients=8, stop=stop)
    poisoned = [_poisoned(server) for _ in range(40)]
    while len(statuses) <= 40:  # keep poisoning until the normal clients have done real work alongside
        poisoned.append(_poisoned(server))
    stop.set()
    for thread in threads:
        thread.join()
    assert {status for status, _ in poisoned} == {400}
    assert poisoned[0][1]["error"].endswith("token ids must be in [0, 30522)")
    assert len(statuses) > 40 and set(statuses) == {200}, "no collateral failure among the normal clients"


def test_an_oversized_text_is_a_400_and_normal_clients_are_unaffected(server: LocalTriton) -> None:
    stop = threading.Event()
    statuses, threads = _normal_clients(server, clients=4, stop=stop)
    status, body = _embed(server, ["x" * (32 * 1024 * 1024)])
    stop.set()
    for thread in threads:
        thread.join()
    assert status == 400 and "a TEXT item of 33554432 bytes; at most 16384" in body["error"]
    assert set(statuses) == {200} and server.is_ready()


def _tokenizer_peak_rss_mib() -> float:
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            command = (status.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if b"minilm_tokenizer" in command and b"triton_python_backend_stub" in command:
            return int(next(line.split()[1] for line in text.splitlines() if line.startswith("VmHWM:"))) / 1024
    raise AssertionError("no tokenizer stub found")


def test_the_server_answers_within_a_second_while_a_maximum_request_is_processed(server: LocalTriton) -> None:
    """The largest accepted request: a full batch of maximum-length sentences (64 x 4,096 characters)."""
    largest = [("word " * (MAX_TEXT_CHARS // 5 + 1))[:MAX_TEXT_CHARS]] * 64
    result: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: result.update(zip(("status", "body"), _embed(server, largest, timeout_s=120), strict=True)))
    worker.start()
    time.sleep(0.05)
    started = time.monotonic()
    status, body = _embed(server, [SENTENCES[0]], timeout_s=5)
    latency = time.monotonic() - started
    worker.join()
    assert status == 200 and len(body["outputs"][0]["data"]) == 384
    assert latency < 1.0, f"a normal request took {latency:.2f} s beside the largest one"
    assert result["status"] == 200 and result["body"]["outputs"][0]["shape"] == [64, 384]
    peak = _tokenizer_peak_rss_mib()
    print(f"tokenizer peak RSS after the largest accepted request: {peak:.0f} MiB")
    assert peak < 1024, f"tokenizer memory must stay bounded: {peak:.0f} MiB"
