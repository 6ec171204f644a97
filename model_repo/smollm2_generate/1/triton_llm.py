"""The Triton side both targets share: custom metrics, request inputs and the responses a generation sends."""

from __future__ import annotations

import json
import locale
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import triton_python_backend_utils as pb_utils
from chat_request import InputReader, Limits, Observer, Outcome, Sampling, check_prompt_length, read_message, read_sampling, read_stream

TTFT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]
FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL
OUTCOMES = ("eos", "stop", "length", "cancelled", "failed", "rejected")


class TritonObserver(Observer):
    """Generation events as Triton custom metrics (the families stay referenced here)."""

    def __init__(self, model_name: str) -> None:
        labels = {"model": model_name}
        family = pb_utils.MetricFamily
        outcomes = "Requests by how they ended (" + ", ".join(OUTCOMES) + ")"
        self.families = {
            "tokens": family("gip_llm_generated_tokens_total", "Tokens generated, cancelled generations included", family.COUNTER),
            "ttft": family("gip_llm_time_to_first_token_seconds", "Seconds from a request's arrival to its first token", family.HISTOGRAM),
            "waiting": family("gip_llm_requests_waiting", "Requests queued for a place in the running batch", family.GAUGE),
            "active": family("gip_llm_requests_active", "Requests in the running batch", family.GAUGE),
            "finished": family("gip_llm_requests_finished_total", outcomes, family.COUNTER),
        }
        self.generated = self.families["tokens"].Metric(labels=labels)
        self.ttft = self.families["ttft"].Metric(labels=labels, buckets=TTFT_BUCKETS)
        self.waiting = self.families["waiting"].Metric(labels=labels)
        self.active = self.families["active"].Metric(labels=labels)
        self.outcomes = {reason: self.families["finished"].Metric(labels={**labels, "reason": reason}) for reason in OUTCOMES}

    def first_token(self, seconds: float) -> None:
        self.ttft.observe(seconds)

    def tokens(self, count: int) -> None:
        self.generated.increment(count)

    def finished(self, outcome: Outcome) -> None:
        self.outcomes[outcome.reason].increment(1)

    def occupancy(self, waiting: int, active: int) -> None:
        self.waiting.set(waiting)
        self.active.set(active)


def input_reader(request: pb_utils.InferenceRequest) -> InputReader:
    """A request's inputs by name, as numpy arrays."""

    def read(name: str) -> np.ndarray | None:
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        return None if tensor is None else tensor.as_numpy()

    return read


@dataclass(frozen=True)
class ChatModel:
    """What an instance of either target reads when it starts: its parameters, version folder, sampling defaults and limits."""

    parameters: dict[str, str]
    version: Path
    defaults: dict[str, Any]
    limits: Limits

    @classmethod
    def load(cls, args: dict[str, str]) -> ChatModel:
        """From `initialize`'s arguments; the stub starts in the C locale and the tokenizers need UTF-8."""
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config["parameters"].items()}
        version = Path(args["model_repository"]) / args["model_version"]
        return cls(parameters, version, json.loads((version / "sampling.json").read_text()), Limits.from_parameters(parameters))

    def read(self, request: pb_utils.InferenceRequest, prompt_ids: Callable[[str], np.ndarray]) -> tuple[bool, Sampling, np.ndarray]:
        """A request's stream flag, sampling and prompt token ids, each bounded (InvalidInputError otherwise)."""
        read = input_reader(request)
        stream, sampling, message = read_stream(read), read_sampling(read, self.defaults, self.limits), read_message(read, self.limits)
        ids = prompt_ids(message)
        check_prompt_length(ids.size, self.limits)
        return stream, sampling, ids


def text_response(text: str) -> pb_utils.InferenceResponse:
    """One `text_output` response."""
    return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("text_output", np.array([text.encode("utf-8")], dtype=np.object_))])


def send_error(sender: pb_utils.InferenceResponseSender, message: str, code: int | None = None) -> None:
    """End the request with an error response (Triton's default code when `code` is None)."""
    error = pb_utils.TritonError(message) if code is None else pb_utils.TritonError(message, code)
    sender.send(pb_utils.InferenceResponse(error=error), flags=FINAL)


def send_end(sender: pb_utils.InferenceResponseSender, outcome: Outcome, stream: bool) -> None:
    """The last response: the whole text (not streamed), an empty final flag (streamed, cancelled) or the error."""
    if outcome.reason == "failed":
        send_error(sender, f"generation failed: {outcome.error}")
    elif stream or outcome.reason == "cancelled":
        sender.send(flags=FINAL)
    else:
        sender.send(text_response(outcome.text), flags=FINAL)
