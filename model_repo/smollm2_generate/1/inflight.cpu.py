"""In-flight batching of text generations on onnxruntime-genai's Engine, with no Triton dependency.

Requests wait in a bounded queue; between two decode steps the scheduler admits waiting ones
into the running batch (at most `max_active`), so a new request never waits for the batch to
finish. Every token reaches its job's callbacks as it is decoded; a cancelled job's turn is
cancelled at the next step. `stop()` refuses new work and returns once every admitted and
waiting job has finished, which is what a graceful shutdown needs. `ChatPrompt` turns a user
message into the prompt's token ids, for the server and for in-process measurements alike.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnxruntime_genai as og
from chat_request import ChatFiles, Observer, Outcome, Sampling, StopText


class ChatPrompt:
    """The version folder's chat template and system prompt around a user message, as token ids."""

    def __init__(self, tokenizer: og.Tokenizer, version_folder: Path) -> None:
        self.tokenizer = tokenizer
        self.files = ChatFiles.read(version_folder)

    def ids(self, user_message: str) -> np.ndarray:
        """Token ids of the whole prompt, ending where the assistant's answer starts."""
        messages = json.dumps(self.files.messages(user_message))
        prompt = self.tokenizer.apply_chat_template(messages, template_str=self.files.template, add_generation_prompt=True)
        return np.asarray(self.tokenizer.encode(prompt), dtype=np.int32)


class QueueFullError(RuntimeError):
    """The waiting queue is at `max_queue`: the request is refused, not queued."""


class ShuttingDownError(RuntimeError):
    """The scheduler is draining for shutdown and admits nothing new."""


def turn_options(sampling: Sampling, request: og.Request) -> og.TurnOptions:
    """The engine's options for one turn; temperature 0 is greedy decoding."""
    options = og.TurnOptions(request)
    options.set_max_generated_tokens(sampling.max_tokens)
    options.set_do_sample(sampling.temperature > 0)
    if sampling.temperature > 0:
        options.set_temperature(sampling.temperature)
        options.set_top_k(sampling.top_k)
        options.set_top_p(sampling.top_p)
    options.set_repetition_penalty(sampling.repetition_penalty)
    if sampling.seed is not None:
        options.set_seed(sampling.seed)
    return options


@dataclass
class Job:
    """One generation: its prompt, settings and callbacks (called on the scheduler's thread)."""

    prompt_ids: np.ndarray
    sampling: Sampling
    on_text: Callable[[str], None]
    on_finish: Callable[[Outcome], None]
    is_cancelled: Callable[[], bool] = lambda: False
    arrived_s: float = field(default_factory=time.monotonic)
    first_token_s: float | None = None
    pieces: list[str] = field(default_factory=list)
    tokens: int = 0


@dataclass
class _Running:
    job: Job
    request: og.Request
    turn: int
    stream: og.TokenizerStream
    stop: StopText
    cancel_sent: bool = False


_FINISH_REASONS = {
    og.FinishReason.EOS: "eos",
    og.FinishReason.STOP_STRING: "stop",
    og.FinishReason.MAX_GENERATED_TOKENS: "length",
    og.FinishReason.MAX_SESSION_TOKENS: "length",
    og.FinishReason.CANCELLED: "cancelled",
    og.FinishReason.FAILED: "failed",
}


class InFlightScheduler:
    """Admits jobs into onnxruntime-genai's running batch between decode steps, on one thread."""

    def __init__(self, model: og.Model, tokenizer: og.Tokenizer, *, max_active: int, max_queue: int, observer: Observer | None = None) -> None:
        self.tokenizer = tokenizer
        self.max_queue = max_queue
        self.observer = observer or Observer()
        self._waiting: deque[Job] = deque()
        self._running: dict[int, _Running] = {}
        self._condition = threading.Condition()
        self._stopping = False
        self._ready = threading.Event()
        self.max_active = max_active
        # onnxruntime-genai's Engine may only be used by the thread that created it.
        self._thread = threading.Thread(target=self._serve, args=(model,), name="inflight-scheduler", daemon=True)
        self._thread.start()
        self._ready.wait()

    def submit(self, job: Job) -> None:
        """Queue a job, or raise QueueFullError / ShuttingDownError."""
        with self._condition:
            if self._stopping:
                raise ShuttingDownError("the model is shutting down and admits no new requests")
            if len(self._waiting) >= self.max_queue:
                raise QueueFullError(f"{len(self._waiting)} requests already wait (max_queue_size {self.max_queue}); retry later")
            self._waiting.append(job)
            self._condition.notify()

    def stop(self) -> None:
        """Refuse new jobs, finish every admitted and waiting job, then end the scheduler's thread."""
        with self._condition:
            self._stopping = True
            self._condition.notify()
        self._thread.join()

    def _serve(self, model: og.Model) -> None:
        self.engine = og.Engine(model)
        capacity = self.engine.get_capabilities().configured_max_batch_size
        self.max_active = min(self.max_active, capacity) if capacity else self.max_active
        self._events = self.engine.create_event_buffer(max(64, 4 * self.max_active))
        self._ready.set()
        while self._next_round():
            pass

    def _next_round(self) -> bool:
        """Admit, cancel, decode one step; False once stopped and empty."""
        with self._condition:
            while not self._waiting and not self._running and not self._stopping:
                self._condition.wait()
            if self._stopping and not self._waiting and not self._running:
                return False
            admitted = self._admit()
            self.observer.occupancy(len(self._waiting), len(self._running) + len(admitted))
        for job in admitted:
            self._start(job)
        self._cancel_abandoned()
        if self._running:
            self._step()
        return True

    def _admit(self) -> list[Job]:
        admitted: list[Job] = []
        while self._waiting and len(self._running) + len(admitted) < self.max_active:
            job = self._waiting.popleft()
            if job.is_cancelled():
                self._finish(job, Outcome("cancelled", 0, ""))
            else:
                admitted.append(job)
        return admitted

    def _start(self, job: Job) -> None:
        request = self.engine.create_request()
        try:
            turn = request.begin_turn(job.prompt_ids, turn_options(job.sampling, request))
        except Exception as error:  # the engine refused the turn: this job fails alone
            request.close()
            self._finish(job, Outcome("failed", 0, "", str(error)))
            return
        with self._condition:
            self._running[id(request)] = _Running(job, request, turn, self.tokenizer.create_stream(), StopText(job.sampling.stop_words))

    def _cancel_abandoned(self) -> None:
        for running in list(self._running.values()):
            if not running.cancel_sent and running.job.is_cancelled():
                running.cancel_sent = running.request.cancel_turn(running.turn)

    def _step(self) -> None:
        events = self.engine.run(self._events)
        for index in range(len(events)):
            event = events[index]
            running = self._running.get(id(event.request))
            if running is None:
                continue
            if event.flags & og.EngineEventFlags.TOKEN:
                self._token(running, int(event.token))
            if event.flags & (og.EngineEventFlags.TURN_FINISHED | og.EngineEventFlags.FAILED):
                reason = "failed" if event.flags & og.EngineEventFlags.FAILED else _FINISH_REASONS.get(event.finish_reason, "eos")
                self._close(running, reason, "" if reason != "failed" else f"engine error {event.error_code.name}")

    def _token(self, running: _Running, token: int) -> None:
        job = running.job
        job.tokens += 1
        self.observer.tokens(1)  # before any response goes out, so a client that saw the end sees the count
        if job.first_token_s is None:
            job.first_token_s = time.monotonic()
            self.observer.first_token(job.first_token_s - job.arrived_s)
        if running.stop.stopped:
            return
        self._emit(job, running.stop.feed(running.stream.decode(token)))
        if running.stop.stopped and not running.cancel_sent:
            running.cancel_sent = running.request.cancel_turn(running.turn)

    @staticmethod
    def _emit(job: Job, text: str) -> None:
        if text:
            job.pieces.append(text)
            job.on_text(text)

    def _close(self, running: _Running, reason: str, error: str) -> None:
        with self._condition:
            del self._running[id(running.request)]
            self.observer.occupancy(len(self._waiting), len(self._running))
        running.request.close()
        self._emit(running.job, running.stop.flush())
        if running.stop.stopped:
            reason = "stop"
        self._finish(running.job, Outcome(reason, running.job.tokens, "".join(running.job.pieces), error))

    def _finish(self, job: Job, outcome: Outcome) -> None:
        job.on_finish(outcome)
        self.observer.finished(outcome)
