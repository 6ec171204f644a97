"""Triton Python-backend text generation for the cpu target: SmolLM2 int4 on onnxruntime-genai, decoupled.

The contract of TensorRT-LLM's engine-mode ensemble: `text_input`, `max_tokens`, `stream`,
sampling inputs and `stop_words` in, `text_output` out, so a client is the same for both
targets (the gpu target's `model.py` streams from a TensorRT-LLM engine instead). `text_input`
is the user's message; the chat template, system prompt and sampling defaults are files of
this version folder (hashed in the build manifest). With `stream` true each decoded piece is
its own response; otherwise one response carries the whole text. Generation runs in-flight
batched (`inflight.py`); a full queue is refused with UNAVAILABLE.
"""

import onnxruntime_genai as og
import triton_python_backend_utils as pb_utils
from chat_request import InvalidInputError, Outcome
from inflight import ChatPrompt, InFlightScheduler, Job, QueueFullError, ShuttingDownError
from triton_llm import ChatModel, TritonObserver, send_end, send_error, text_response


class TritonPythonModel:
    """One onnxruntime-genai model and one in-flight scheduler per instance."""

    def initialize(self, args):
        self.chat = ChatModel.load(args)
        parameters = self.chat.parameters
        self.model = og.Model(str(self.chat.version / "model"))
        self.tokenizer = og.Tokenizer(self.model)
        self.prompt = ChatPrompt(self.tokenizer, self.chat.version)
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
                self.scheduler.submit(self._job(request, sender))
            except InvalidInputError as error:
                send_error(sender, str(error), pb_utils.TritonError.INVALID_ARG)
            except (QueueFullError, ShuttingDownError) as error:
                self.observer.finished(Outcome("rejected", 0, ""))
                send_error(sender, str(error), pb_utils.TritonError.UNAVAILABLE)

    def finalize(self):
        """Graceful shutdown: finish every admitted and waiting generation, then stop."""
        self.scheduler.stop()

    def _job(self, request, sender):
        stream, sampling, prompt_ids = self.chat.read(request, self.prompt.ids)

        def on_text(piece):
            if stream:
                sender.send(text_response(piece))

        return Job(prompt_ids, sampling, on_text, lambda outcome: send_end(sender, outcome, stream), sender.is_cancelled)
