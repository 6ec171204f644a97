"""A test double of TensorRT-LLM's Triton backend, so the gpu target's chat front (BLS) runs on the local Triton.

It is served by the Python backend under the built `smollm2_tensorrt_llm` config, whose only change is its
`backend`: Triton itself checks every tensor the chat front sends against the real declarations. It keeps the
backend's streaming contract (decoupled, `exclude_input_in_output`): one response per new token with
`output_ids` [1, 1, 1] and `sequence_length` [1, 1]; it ends at `end_id` (not sent), at `request_output_len`
tokens, at a word of `stop_words_list` ([1, 2, N]: token ids, then each word's end offset, padded with -1;
the word is sent) or when the request is cancelled. Tokens come from onnxruntime-genai running the cpu
build's SmolLM2 (`double_model_path`), so greedy text can be compared with the cpu target. The metric
`double_engine_generated_tokens_total` counts what the engine generated, whoever reads it.
"""

import json
import threading

import numpy as np
import onnxruntime_genai as og
import triton_python_backend_utils as pb_utils

FINAL = pb_utils.TRITONSERVER_RESPONSE_COMPLETE_FINAL


def _scalar(request, name, default):
    tensor = pb_utils.get_input_tensor_by_name(request, name)
    return default if tensor is None else tensor.as_numpy().reshape(-1)[0].item()


def stop_words(request):
    """The token-id words of a `stop_words_list` input."""
    tensor = pb_utils.get_input_tensor_by_name(request, "stop_words_list")
    if tensor is None:
        return []
    flat, offsets = tensor.as_numpy()[0]
    ends = [int(end) for end in offsets if end >= 0]
    return [flat[start:end].tolist() for start, end in zip([0, *ends[:-1]], ends, strict=True)]


class TritonPythonModel:
    """One thread per request, generating token by token."""

    def initialize(self, args):
        parameters = json.loads(args["model_config"])["parameters"]
        self.model = og.Model(parameters["double_model_path"]["string_value"])
        self.family = pb_utils.MetricFamily("double_engine_generated_tokens_total", "Tokens the engine double generated", pb_utils.MetricFamily.COUNTER)
        self.generated = self.family.Metric(labels={})
        self.threads = []

    def execute(self, requests):
        for request in requests:
            thread = threading.Thread(target=self._generate, args=(request, request.get_response_sender()))
            thread.start()
            self.threads.append(thread)

    def finalize(self):
        for thread in self.threads:
            thread.join()

    def _generate(self, request, sender):
        prompt = pb_utils.get_input_tensor_by_name(request, "input_ids").as_numpy().reshape(-1)
        prompt = prompt[: _scalar(request, "input_lengths", prompt.size)]
        output_len, end_id = _scalar(request, "request_output_len", 16), _scalar(request, "end_id", -1)
        top_k = _scalar(request, "runtime_top_k", 0)
        params = og.GeneratorParams(self.model)
        options = {"max_length": int(prompt.size + output_len), "do_sample": top_k != 1}
        if top_k != 1:
            options |= {"top_k": top_k, "top_p": _scalar(request, "runtime_top_p", 1.0), "temperature": _scalar(request, "temperature", 1.0)}
        params.set_search_options(**options, repetition_penalty=_scalar(request, "repetition_penalty", 1.0))
        generator = og.Generator(self.model, params)
        generator.append_tokens(prompt.astype(np.int32))
        words, generated = stop_words(request), []
        while not generator.is_done() and not sender.is_cancelled():
            generator.generate_next_token()
            token = int(generator.get_next_tokens()[0])
            self.generated.increment(1)
            if token == end_id:
                break
            generated.append(token)
            sender.send(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("output_ids", np.array([[[token]]], dtype=np.int32)),
                        pb_utils.Tensor("sequence_length", np.array([[1]], dtype=np.int32)),
                    ]
                )
            )
            if any(word and generated[-len(word) :] == word for word in words):
                break
        sender.send(flags=FINAL)
