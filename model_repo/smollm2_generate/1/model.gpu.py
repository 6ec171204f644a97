"""Triton Python-backend text generation for the gpu target: a chat front (BLS) on a TensorRT-LLM engine, decoupled.

The same contract, files, limits and metrics as the cpu target's model: it renders the version
folder's chat template and system prompt around `text_input`, tokenizes with the checkpoint's
`tokenizer.json`, and streams from the TensorRT-LLM model its `engine_model` parameter names.
That model does the in-flight batching and the paged KV cache; this one maps the sampling
inputs to the engine's, detokenizes as tokens arrive, and cuts at stop words. Each generation
runs on one of `max_active_requests` threads; `max_queue_size` more may wait and the next is
refused with UNAVAILABLE at once.
"""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import triton_python_backend_utils as pb_utils
from chat_request import InvalidInputError, Outcome, StopText
from prompt_tokens import Detokenizer, TemplatePrompt, stop_words_list
from tokenizers import Tokenizer
from triton_llm import ChatModel, TritonObserver, send_end, send_error, text_response


class EngineError(RuntimeError):
    """The TensorRT-LLM model answered with an error."""


def _tensor(name, value, dtype):
    return pb_utils.Tensor(name, np.array([[value]], dtype=dtype))


class TritonPythonModel:
    """A tokenizer, the chat prompt and a thread pool of generations per instance."""

    def initialize(self, args):
        self.chat = ChatModel.load(args)
        parameters, version = self.chat.parameters, self.chat.version
        self.tokenizer = Tokenizer.from_file(str(version / "tokenizer.json"))
        special = json.loads((version / "tokenizer_config.json").read_text())
        self.end_id = self._token_id(special["eos_token"])
        self.pad_id = self._token_id(special.get("pad_token") or special["eos_token"])
        self.prompt = TemplatePrompt(self.tokenizer, version)
        self.engine_model = parameters["engine_model"]
        self.observer = TritonObserver(args["model_name"])
        self.max_active = int(parameters["max_active_requests"])
        self.max_admitted = self.max_active + int(parameters["max_queue_size"])
        self.pool = ThreadPoolExecutor(max_workers=self.max_active, thread_name_prefix="generation")
        self.lock = threading.Lock()
        self.admitted = self.active = 0
        self.stopping = False

    def _token_id(self, token):
        found = self.tokenizer.token_to_id(token if isinstance(token, str) else token["content"])
        if found is None:
            raise ValueError(f"the tokenizer has no token {token!r}")
        return found

    def execute(self, requests):
        for request in requests:
            arrived = time.monotonic()
            sender = request.get_response_sender()
            try:
                stream, sampling, prompt_ids = self.chat.read(request, self.prompt.ids)
            except InvalidInputError as error:
                send_error(sender, str(error), pb_utils.TritonError.INVALID_ARG)
                continue
            refusal = self._admit()
            if refusal:
                self.observer.finished(Outcome("rejected", 0, ""))
                send_error(sender, refusal, pb_utils.TritonError.UNAVAILABLE)
                continue
            self.pool.submit(self._run, sender, prompt_ids, sampling, stream, arrived)

    def finalize(self):
        """Graceful shutdown: refuse new requests, finish every admitted generation, then stop."""
        with self.lock:
            self.stopping = True
        self.pool.shutdown(wait=True)

    def _admit(self):
        """None when admitted, else why not."""
        with self.lock:
            if self.stopping:
                return "the model is shutting down and admits no new requests"
            if self.admitted >= self.max_admitted:
                return f"{self.admitted - self.active} requests already wait (max_queue_size {self.max_admitted - self.max_active}); retry later"
            self.admitted += 1
            self.observer.occupancy(self.admitted - self.active, self.active)
        return None

    def _occupy(self, change_active, change_admitted):
        with self.lock:
            self.active += change_active
            self.admitted += change_admitted
            self.observer.occupancy(self.admitted - self.active, self.active)

    def _run(self, sender, prompt_ids, sampling, stream, arrived):
        self._occupy(1, 0)
        try:
            outcome = self._generate(sender, prompt_ids, sampling, stream, arrived)
        except Exception as error:  # one generation fails alone, with its reason
            outcome = Outcome("failed", 0, "", str(error))
        finally:
            self._occupy(-1, -1)
        send_end(sender, outcome, stream)
        self.observer.finished(outcome)

    def _generate(self, sender, prompt_ids, sampling, stream, arrived):
        responses = self._engine_request(prompt_ids, sampling).exec(decoupled=True)
        detokenizer, stop, pieces, tokens, ended = Detokenizer(self.tokenizer), StopText(sampling.stop_words), [], 0, ""
        for response in responses:
            if ended:
                continue  # drain an ended generation: what the engine still sent, or its CANCELLED error once cancel() reached it
            if response.has_error():
                raise EngineError(response.error().message())
            ids = _new_token_ids(response)
            if not ids:
                continue
            if tokens == 0:
                self.observer.first_token(time.monotonic() - arrived)
            tokens += len(ids)
            self.observer.tokens(len(ids))
            piece = stop.feed(detokenizer.add(ids))
            if piece:
                pieces.append(piece)
                if stream:
                    sender.send(text_response(piece))
            if stop.stopped or sender.is_cancelled():
                ended = "stop" if stop.stopped else "cancelled"
                getattr(responses, "cancel", lambda: None)()  # releases the engine's slot where the backend can cancel a BLS stream
        tail = stop.flush()
        if tail and not ended:
            pieces.append(tail)
            if stream:
                sender.send(text_response(tail))
        reason = ended or ("stop" if stop.stopped else "length" if tokens >= sampling.max_tokens else "eos")
        return Outcome(reason, tokens, "".join(pieces))

    def _engine_request(self, prompt_ids, sampling):
        """One streamed TensorRT-LLM request (its tensor names: tensorrt_llm/config.pbtxt); temperature 0 is greedy (top-k 1)."""
        greedy = sampling.temperature == 0
        inputs = [
            pb_utils.Tensor("input_ids", prompt_ids.reshape(1, -1)),
            _tensor("input_lengths", prompt_ids.size, np.int32),
            _tensor("request_output_len", sampling.max_tokens, np.int32),
            _tensor("end_id", self.end_id, np.int32),
            _tensor("pad_id", self.pad_id, np.int32),
            _tensor("streaming", True, bool),
            _tensor("runtime_top_k", 1 if greedy else sampling.top_k, np.int32),
            _tensor("repetition_penalty", sampling.repetition_penalty, np.float32),
        ]
        if not greedy:
            inputs += [_tensor("temperature", sampling.temperature, np.float32), _tensor("runtime_top_p", sampling.top_p, np.float32)]
        if sampling.seed is not None:
            inputs.append(_tensor("random_seed", sampling.seed, np.uint64))
        if sampling.stop_words:
            inputs.append(pb_utils.Tensor("stop_words_list", stop_words_list(self.tokenizer, sampling.stop_words)))
        return pb_utils.InferenceRequest(model_name=self.engine_model, inputs=inputs, requested_output_names=["output_ids", "sequence_length"])


def _new_token_ids(response):
    """The tokens of one streamed response (output_ids [1, beam, n], sequence_length [1, beam])."""
    output = pb_utils.get_output_tensor_by_name(response, "output_ids")
    if output is None:
        return []
    ids = output.as_numpy()[0][0]
    length = pb_utils.get_output_tensor_by_name(response, "sequence_length").as_numpy().reshape(-1)[0]
    return ids[: int(length)].tolist()
