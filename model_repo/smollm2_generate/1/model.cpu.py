"""Triton Python-backend text generation for the cpu target: SmolLM2 int4 on onnxruntime-genai, decoupled.

The contract of TensorRT-LLM's engine-mode ensemble: `text_input`, `max_tokens`, `stream`,
sampling inputs and `stop_words` in, `text_output` out, so a client is the same for both
targets. `text_input` is the user's message; the chat template, system prompt and sampling
defaults are files of this version folder (hashed in the build manifest). With `stream` true
each decoded piece is its own response; otherwise one response carries the whole text.
Generation runs in-flight batched (`inflight.py`); a full queue is refused with UNAVAILABLE.
"""

import json
import locale
import math
from pathlib import Path

import numpy as np
import onnxruntime_genai as og
import triton_python_backend_utils as pb_utils
from inflight import ChatPrompt, InFlightScheduler, Job, Observer, Outcome, QueueFullError, Sampling, ShuttingDownError

TTFT_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]
MAX_STOP_WORDS = 16
MAX_STOP_WORD_CHARS = 64
FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


class InvalidInputError(ValueError):
    """A request input outside its allowed values."""


class TritonObserver(Observer):
    """The scheduler's events as Triton custom metrics (the families stay referenced here)."""

    def __init__(self, model_name: str) -> None:
        labels = {"model": model_name}
        family = pb_utils.MetricFamily
        outcomes = "Requests by how they ended (eos, stop, length, cancelled, failed, rejected)"
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
        self.outcomes = {
            reason: self.families["finished"].Metric(labels={**labels, "reason": reason})
            for reason in ("eos", "stop", "length", "cancelled", "failed", "rejected")
        }

    def first_token(self, seconds: float) -> None:
        self.ttft.observe(seconds)

    def tokens(self, count: int) -> None:
        self.generated.increment(count)

    def finished(self, outcome: Outcome) -> None:
        self.outcomes[outcome.reason].increment(1)

    def occupancy(self, waiting: int, active: int) -> None:
        self.waiting.set(waiting)
        self.active.set(active)


def _scalar(request, name, default):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    if tensor is None:
        return default
    values = tensor.as_numpy().reshape(-1)
    if values.size != 1:
        raise InvalidInputError(f"{name} must hold one value, got {values.size}")
    return values[0].item() if hasattr(values[0], "item") else values[0]


def _bounded_number(name, value, low, high, *, integer=False):
    if isinstance(value, bytes) or not math.isfinite(float(value)) or not low <= value <= high or (integer and int(value) != value):
        raise InvalidInputError(f"{name} must be {'an integer' if integer else 'a finite number'} in [{low}, {high}], got {value!r}")
    return int(value) if integer else float(value)


def _text(value, name, max_chars):
    try:
        text = value.decode("utf-8") if isinstance(value, bytes) else str(value)
    except UnicodeDecodeError as error:
        raise InvalidInputError(f"{name} must be UTF-8: {error}") from error
    if len(text) > max_chars:
        raise InvalidInputError(f"{name} has {len(text)} characters; at most {max_chars}")
    return text


class TritonPythonModel:
    """One onnxruntime-genai model and one in-flight scheduler per instance."""

    def initialize(self, args):
        locale.setlocale(locale.LC_CTYPE, "C.UTF-8")  # the stub starts in the C locale; the tokenizer needs UTF-8
        config = json.loads(args["model_config"])
        parameters = {key: value["string_value"] for key, value in config["parameters"].items()}
        version = Path(args["model_repository"]) / args["model_version"]
        self.model = og.Model(str(version / "model"))
        self.tokenizer = og.Tokenizer(self.model)
        self.prompt = ChatPrompt(self.tokenizer, version)
        self.defaults = json.loads((version / "sampling.json").read_text())
        self.max_prompt_tokens = int(parameters["max_prompt_tokens"])
        self.max_output_tokens = int(parameters["max_output_tokens"])
        self.max_text_chars = int(parameters["max_text_chars"])
        self.observer = TritonObserver(args["model_name"])
        self.scheduler = InFlightScheduler(
            self.model,
            self.tokenizer,
            max_active=int(parameters["max_active_requests"]),
            max_queue=int(parameters["max_queue_size"]),
            observer=self.observer,
        )

    def execute(self, requests):
        for request in requests:
            sender = request.get_response_sender()
            try:
                job = self._job(request, sender)
                self.scheduler.submit(job)
            except InvalidInputError as error:
                sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error), pb_utils.TritonError.INVALID_ARG)), flags=FINAL)
            except (QueueFullError, ShuttingDownError) as error:
                self.observer.finished(Outcome("rejected", 0, ""))
                sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(str(error), pb_utils.TritonError.UNAVAILABLE)), flags=FINAL)

    def finalize(self):
        """Graceful shutdown: finish every admitted and waiting generation, then stop."""
        self.scheduler.stop()

    def _sampling(self, request):
        defaults = self.defaults
        stop_words = pb_utils.get_input_tensor_by_name(request, "stop_words")
        words = [] if stop_words is None else [_text(word, "stop_words", MAX_STOP_WORD_CHARS) for word in stop_words.as_numpy().reshape(-1)]
        if len(words) > MAX_STOP_WORDS or any(not word for word in words):
            raise InvalidInputError(f"stop_words must be at most {MAX_STOP_WORDS} non-empty strings, got {len(words)}")
        seed = _scalar(request, "seed", None)
        return Sampling(
            max_tokens=_bounded_number("max_tokens", _scalar(request, "max_tokens", defaults["max_tokens"]), 1, self.max_output_tokens, integer=True),
            temperature=_bounded_number("temperature", _scalar(request, "temperature", defaults["temperature"]), 0.0, 2.0),
            top_k=_bounded_number("top_k", _scalar(request, "top_k", defaults["top_k"]), 0, 1000, integer=True),
            top_p=_bounded_number("top_p", _scalar(request, "top_p", defaults["top_p"]), 0.01, 1.0),
            repetition_penalty=_bounded_number("repetition_penalty", _scalar(request, "repetition_penalty", defaults["repetition_penalty"]), 0.5, 2.0),
            seed=None if seed is None else _bounded_number("seed", seed, 0, 2**63 - 1, integer=True),
            stop_words=tuple(words),
        )

    def _prompt_ids(self, request):
        text = _text(_scalar(request, "text_input", b""), "text_input", self.max_text_chars)
        if not text.strip():
            raise InvalidInputError("text_input is empty: send the user's message")
        ids = self.prompt.ids(text)
        if ids.size > self.max_prompt_tokens:
            raise InvalidInputError(f"the prompt has {ids.size} tokens; at most {self.max_prompt_tokens} (max_prompt_tokens)")
        return ids

    def _job(self, request, sender):
        stream = bool(_scalar(request, "stream", False))
        sampling, prompt_ids = self._sampling(request), self._prompt_ids(request)

        def text_response(text):
            return pb_utils.InferenceResponse(output_tensors=[pb_utils.Tensor("text_output", np.array([text.encode("utf-8")], dtype=np.object_))])

        def on_text(piece):
            if stream:
                sender.send(text_response(piece))

        def on_finish(outcome):
            if outcome.reason == "failed":
                sender.send(pb_utils.InferenceResponse(error=pb_utils.TritonError(f"generation failed: {outcome.error}")), flags=FINAL)
            elif stream or outcome.reason == "cancelled":
                sender.send(flags=FINAL)
            else:
                sender.send(text_response(outcome.text), flags=FINAL)

        return Job(prompt_ids, sampling, on_text, on_finish, sender.is_cancelled)
