"""Clients of a text-generation model (TensorRT-LLM's contract): HTTP generate, SSE generate_stream, gRPC streaming.

Each streaming call returns a `Stream`: the text pieces, when the first arrived (TTFT) and the
gaps between pieces (inter-token latency), so tests, the load test and the demo share one client.
"""

from __future__ import annotations

import json
import queue
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GENERATION_MODEL = "smollm2_generate"
_INPUT_TYPES = {
    "max_tokens": ("INT32", np.int32),
    "stream": ("BOOL", np.bool_),
    "temperature": ("FP32", np.float32),
    "top_k": ("INT32", np.int32),
    "top_p": ("FP32", np.float32),
    "repetition_penalty": ("FP32", np.float32),
    "seed": ("UINT64", np.uint64),
}


class GenerationError(RuntimeError):
    """The server refused or failed a generation (its message)."""


@dataclass
class Stream:
    """One streamed generation as the client saw it."""

    pieces: list[str] = field(default_factory=list)
    arrivals_s: list[float] = field(default_factory=list)
    """Seconds from sending the request to each piece."""
    error: str = ""
    total_s: float = 0.0

    @property
    def text(self) -> str:
        """The whole generated text."""
        return "".join(self.pieces)

    @property
    def ttft_s(self) -> float | None:
        """Time to the first piece."""
        return self.arrivals_s[0] if self.arrivals_s else None

    @property
    def inter_token_s(self) -> list[float]:
        """Gaps between consecutive pieces."""
        return [later - earlier for earlier, later in zip(self.arrivals_s, self.arrivals_s[1:], strict=False)]


def _post(url: str, body: dict[str, Any], timeout_s: float) -> Any:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        return urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as error:
        payload = error.read().decode(errors="replace")
        raise GenerationError(f"HTTP {error.code}: {json.loads(payload).get('error', payload) if payload.startswith('{') else payload}") from None


def generate(url: str, text: str, *, model: str = GENERATION_MODEL, timeout_s: float = 300, **parameters: Any) -> str:
    """The whole answer from HTTP `generate` (Triton can answer 200 with an `error` body: raised too)."""
    with _post(f"http://{url}/v2/models/{model}/generate", {"text_input": text, **parameters}, timeout_s) as response:
        body = json.loads(response.read())
    if "error" in body:
        raise GenerationError(body["error"])
    return str(body["text_output"])


def stream_sse(url: str, text: str, *, model: str = GENERATION_MODEL, timeout_s: float = 300, **parameters: Any) -> Stream:
    """The answer streamed over HTTP server-sent events (`generate_stream`)."""
    result, started = Stream(), time.perf_counter()
    with _post(f"http://{url}/v2/models/{model}/generate_stream", {"text_input": text, "stream": True, **parameters}, timeout_s) as response:
        for line in response:
            if not line.startswith(b"data: "):
                continue
            event = json.loads(line[len(b"data: ") :])
            if "error" in event:
                result.error = event["error"]
                break
            result.pieces.append(event["text_output"])
            result.arrivals_s.append(time.perf_counter() - started)
    result.total_s = time.perf_counter() - started
    return result


def _grpc_inputs(text: str, parameters: dict[str, Any]) -> list[Any]:
    import tritonclient.grpc as grpcclient

    prompt = grpcclient.InferInput("text_input", [1], "BYTES")
    prompt.set_data_from_numpy(np.array([text.encode()], dtype=np.object_))
    inputs = [prompt]
    for name, value in parameters.items():
        if name == "stop_words":
            words = grpcclient.InferInput(name, [len(value)], "BYTES")
            words.set_data_from_numpy(np.array([word.encode() for word in value], dtype=np.object_))
            inputs.append(words)
            continue
        triton_type, numpy_type = _INPUT_TYPES[name]
        tensor = grpcclient.InferInput(name, [1], triton_type)
        tensor.set_data_from_numpy(np.array([value], dtype=numpy_type))
        inputs.append(tensor)
    return inputs


def stream_grpc(
    grpc_url: str,
    text: str,
    *,
    model: str = GENERATION_MODEL,
    timeout_s: float = 300,
    stop_after: int | None = None,
    on_piece: Callable[[str], None] | None = None,
    **parameters: Any,
) -> Stream:
    """The answer over a gRPC bidirectional stream; with `stop_after`, the client cancels after that many pieces."""
    import tritonclient.grpc as grpcclient

    events: queue.Queue[tuple[Any, Any]] = queue.Queue()
    result, started = Stream(), time.perf_counter()
    client = grpcclient.InferenceServerClient(grpc_url)
    try:
        client.start_stream(callback=lambda result, error: events.put((result, error)))
        client.async_stream_infer(model, _grpc_inputs(text, {"stream": True, **parameters}), enable_empty_final_response=True)
        while True:
            response, error = events.get(timeout=timeout_s)
            if error is not None:
                result.error = str(error)
                break
            final = response.get_response().parameters["triton_final_response"].bool_param
            output = response.as_numpy("text_output")
            if output is not None and output.size:
                piece = output.reshape(-1)[0].decode()
                result.pieces.append(piece)
                result.arrivals_s.append(time.perf_counter() - started)
                if on_piece is not None:
                    on_piece(piece)
            if final:
                break
            if stop_after is not None and len(result.pieces) >= stop_after:
                client.stop_stream(cancel_requests=True)
                break
    finally:
        client.stop_stream()
        client.close()
    result.total_s = time.perf_counter() - started
    return result
