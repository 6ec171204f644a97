"""TensorRT engines: one plan per GPU compute capability, built by the TensorRT release of the Triton image.

A plan only runs on the compute capability and TensorRT version it was built with
("expecting compute 7.5 got compute 8.6"), so every GPU family the fleet can launch
needs its own plan, built on that family, with the same NGC release (YY.MM) as Triton.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

ENGINE_PLAN_NAME = "engine-plan.json"
TRITON_IMAGE_REPOSITORY = "nvcr.io/nvidia/tritonserver"
TENSORRT_IMAGE_REPOSITORY = "nvcr.io/nvidia/tensorrt"
MIN_RELEASE_HTTP_MAX_INPUT_SIZE = "25.06"
"""First Triton release with `--http-max-input-size` (server r25.06, src/command_line_parser.cc)."""
TRTLLM_FLAVOUR = "trtllm-python-"
"""Tag flavour of the Triton images with the TensorRT-LLM backend; they hold only the TensorRT-LLM and Python backends
(tensorrtllm_backend issue #401), so TensorRT-plan and ONNX models need the plain `-py3` image."""
_NGC_TAG = re.compile(rf":(?P<release>\d{{2}}\.\d{{2}})-(?P<flavour>{TRTLLM_FLAVOUR})?py3$")


def ngc_release(image: str) -> str | None:
    """The NGC release (`YY.MM`) of an `nvcr.io/nvidia/<name>:YY.MM-py3` (or `-trtllm-python-py3`) image, or None."""
    match = _NGC_TAG.search(image)
    return match.group("release") if match else None


def serves_tensorrt_llm(image: str) -> bool:
    """The image is a Triton `YY.MM-trtllm-python-py3` (TensorRT-LLM and Python backends only)."""
    match = _NGC_TAG.search(image)
    return bool(match and match.group("flavour"))


def bounds_http_input(image: str) -> bool:
    """The Triton image accepts `--http-max-input-size` (an NGC release of 25.06 or later)."""
    return (ngc_release(image) or "") >= MIN_RELEASE_HTTP_MAX_INPUT_SIZE


def plan_filename(compute_capability: str) -> str:
    """File name of the plan for one compute capability (selected by Triton's `cc_model_filenames`)."""
    return f"model_cc{compute_capability}.plan"


@dataclass(frozen=True)
class EngineProfile:
    """The encoder engine's dynamic shapes: one TensorRT optimisation profile per sequence-length bucket.

    Triton batches only equal shapes for a TensorRT plan, and the tokenizer pads to a multiple
    of 16, so a batch of short requests never carries a long one's padding; a profile per
    bucket tunes kernels for short shapes too instead of for one `opt` shape of every length.
    Triton's TensorRT backend loads every profile the instance group lists and runs each batch
    on the best-fitting one. Bucket upper bounds lie strictly between `min_sequence` and
    `max_sequence`; the last profile ends at `max_sequence`.
    """

    max_batch: int
    max_sequence: int
    opt_batch: int = 32
    min_sequence: int = 16
    sequence_buckets: tuple[int, ...] = ()
    """Upper bounds of the sequence buckets (none: one profile over every length)."""
    inputs: tuple[str, ...] = ("input_ids", "attention_mask")

    def __post_init__(self) -> None:
        bounds = (self.min_sequence, *self.sequence_buckets, self.max_sequence)
        if any(low >= high for low, high in pairwise(bounds)):
            raise ValueError(
                f"sequence_buckets {list(self.sequence_buckets)} must increase strictly between min_sequence {self.min_sequence} "
                f"and max_sequence {self.max_sequence}"
            )

    def sequence_ranges(self) -> list[tuple[int, int, int]]:
        """(min, opt, max) sequence length of each profile, in profile order; opt is the bucket's middle, a multiple of 16."""
        bounds = (self.min_sequence, *self.sequence_buckets, self.max_sequence)
        return [(low, min(high, -(-(low + high) // 32) * 16), high) for low, high in pairwise(bounds)]

    def _shapes(self, batch: int, sequence: int) -> str:
        return ",".join(f"{name}:{batch}x{sequence}" for name in self.inputs)

    def trtexec_args(self, onnx_path: str, plan_path: str) -> list[str]:
        """`trtexec` arguments that build an FP16 plan with every profile (`--profile=N` then its three shapes, TensorRT 10)."""
        shapes = []
        for index, (low, opt, high) in enumerate(self.sequence_ranges()):
            shapes += [f"--profile={index}", f"--minShapes={self._shapes(1, low)}"]
            shapes += [f"--optShapes={self._shapes(self.opt_batch, opt)}", f"--maxShapes={self._shapes(self.max_batch, high)}"]
        return [f"--onnx={onnx_path}", f"--saveEngine={plan_path}", "--fp16", *shapes, "--skipInference"]


def engine_plan_entry(compute_capability: str, ngc_release: str, profile: EngineProfile, plan_path: str) -> dict[str, Any]:
    """How one plan is built: written by the model build, read by the engine Jobs."""
    return {
        "compute_capability": compute_capability,
        "tensorrt_image_release": ngc_release,
        "profile": {**asdict(profile), "sequence_buckets": list(profile.sequence_buckets), "inputs": list(profile.inputs)},
        "trtexec": profile.trtexec_args("model.onnx", Path(plan_path).name),
    }


def load_engine_profiles(repository_dir: Path) -> dict[str, EngineProfile]:
    """Plan path -> build profile, from a repository's engine plan (empty for cpu builds)."""
    path = repository_dir / ENGINE_PLAN_NAME
    if not path.is_file():
        return {}
    entries: dict[str, dict[str, Any]] = json.loads(path.read_text())
    profiles = {plan: entry["profile"] for plan, entry in entries.items()}
    return {
        plan: EngineProfile(**{**fields, "sequence_buckets": tuple(fields["sequence_buckets"]), "inputs": tuple(fields["inputs"])})
        for plan, fields in profiles.items()
    }
