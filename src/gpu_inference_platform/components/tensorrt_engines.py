"""TensorRT engines: one plan per GPU compute capability, built by the TensorRT release of the Triton image;
and TensorRT-LLM engines, one per (compute capability x tensor-parallel size x release).

A plan only runs on the compute capability and TensorRT version it was built with
("expecting compute 7.5 got compute 8.6"), and a TensorRT-LLM engine also only on its
tensor-parallel size ("engine plan file is generated on an incompatible device"), so every
GPU family the fleet can launch needs its own, built on that family, with the same NGC
release (YY.MM) as Triton.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

ENGINE_PLAN_NAME = "engine-plan.json"
TIMING_CACHE_FILE = "timing.cache"
"""The timing cache `trtexec` and `trtllm-build` write, named explicitly: `trtllm-build` defaults to the relative `model.cache`
and asserts the write succeeded (TensorRT-LLM `commands/build.py`, `builder.py`), which fails in a read-only working directory."""
MODELS_MOUNT = "/models"
"""Where a serving pod's model repository is mounted (engine folders are named by absolute path in TensorRT-LLM configs)."""
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

    def trtexec_args(self, onnx_path: str, plan_path: str, timing_cache_path: str = TIMING_CACHE_FILE) -> list[str]:
        """`trtexec` arguments that build an FP16 plan with every profile (`--profile=N` then its three shapes, TensorRT 10),
        with the timing cache at `timing_cache_path`."""
        shapes = []
        for index, (low, opt, high) in enumerate(self.sequence_ranges()):
            shapes += [f"--profile={index}", f"--minShapes={self._shapes(1, low)}"]
            shapes += [f"--optShapes={self._shapes(self.opt_batch, opt)}", f"--maxShapes={self._shapes(self.max_batch, high)}"]
        return [f"--onnx={onnx_path}", f"--saveEngine={plan_path}", "--fp16", *shapes, f"--timingCacheFile={timing_cache_path}", "--skipInference"]


def engine_plan_entry(compute_capability: str, ngc_release: str, profile: EngineProfile, plan_path: str) -> dict[str, Any]:
    """How one plan is built: written by the model build, read by the engine Jobs."""
    return {
        "compute_capability": compute_capability,
        "tensorrt_image_release": ngc_release,
        "profile": {**asdict(profile), "sequence_buckets": list(profile.sequence_buckets), "inputs": list(profile.inputs)},
        "trtexec": profile.trtexec_args("model.onnx", Path(plan_path).name),
    }


TENSORRT_LLM_COMPUTE_CAPABILITIES = ("8.0", "8.6", "8.9", "9.0")
"""GPU families TensorRT-LLM supports (its support matrix, 0.18-0.19: Ampere SM80/SM86, Ada SM89, Hopper SM90); others get no engine."""
TENSORRT_LLM_RUNTIME_OVERHEAD_BYTES = 2 * 1024**3
"""GPU memory a TensorRT-LLM engine needs besides weights and KV cache (CUDA context, workspaces, activations): an estimate."""


def model_config_name(compute_capability: str, tensor_parallel: int) -> str:
    """`--model-config-name` of the engine for one GPU family and tensor-parallel size (`configs/<name>.pbtxt`)."""
    return f"cc{compute_capability}-tp{tensor_parallel}"


@dataclass(frozen=True)
class LlmEngineBuild:
    """How one TensorRT-LLM engine is built from the build's Hugging Face checkpoint, and what it needs in GPU memory."""

    checkpoint: str
    """Build-relative folder of the Hugging Face checkpoint (config, safetensors, tokenizer)."""
    dtype: str
    tensor_parallel: int
    max_batch_size: int
    max_input_len: int
    max_seq_len: int
    weights_bytes: int
    kv_cache_bytes_per_token: int
    """Keys and values of one token over all layers (2 x layers x KV heads x head size x dtype bytes)."""
    max_tokens_in_paged_kv_cache: int
    kv_cache_free_gpu_mem_fraction: float

    def convert_command(self, hf_dir: str, checkpoint_dir: str) -> list[str]:
        """Hugging Face -> TensorRT-LLM checkpoint, one rank per tensor-parallel shard (TensorRT-LLM's Python API)."""
        script = (
            "from tensorrt_llm.mapping import Mapping\n"
            "from tensorrt_llm.models import LLaMAForCausalLM\n"
            f"for rank in range({self.tensor_parallel}):\n"
            f"    mapping = Mapping(world_size={self.tensor_parallel}, rank=rank, tp_size={self.tensor_parallel})\n"
            f"    model = LLaMAForCausalLM.from_hugging_face({json.dumps(hf_dir)}, {json.dumps(self.dtype)}, mapping=mapping)\n"
            f"    model.save_checkpoint({json.dumps(checkpoint_dir)}, save_config=rank == 0)\n"
        )
        return ["python3", "-c", script]

    def build_command(self, checkpoint_dir: str, engine_dir: str, timing_cache_path: str = TIMING_CACHE_FILE) -> list[str]:
        """`trtllm-build` of an in-flight-batching engine: paged KV cache, packed inputs, fused attention; its timing cache at
        `timing_cache_path`."""
        return [
            "trtllm-build",
            f"--checkpoint_dir={checkpoint_dir}",
            f"--output_dir={engine_dir}",
            f"--output_timing_cache={timing_cache_path}",
            f"--gemm_plugin={self.dtype}",
            f"--gpt_attention_plugin={self.dtype}",
            "--kv_cache_type=paged",
            "--remove_input_padding=enable",
            "--context_fmha=enable",
            f"--max_batch_size={self.max_batch_size}",
            f"--max_input_len={self.max_input_len}",
            f"--max_seq_len={self.max_seq_len}",
            f"--workers={self.tensor_parallel}",
        ]

    def kv_cache_bytes(self) -> int:
        """The KV cache the config asks for (max_tokens_in_paged_kv_cache tokens)."""
        return self.max_tokens_in_paged_kv_cache * self.kv_cache_bytes_per_token

    def memory_shortfall(self, gpu_memory_bytes: int) -> str | None:
        """None when weights, the configured KV cache and the runtime fit `tensor_parallel` GPUs of this size, else why not.

        TensorRT-LLM gives the cache at most `kv_cache_free_gpu_mem_fraction` of what is free after the weights,
        so the configured tokens must fit that share, or the engine silently serves fewer of them.
        """
        gib = 1024**3
        total = gpu_memory_bytes * self.tensor_parallel
        free = total - self.weights_bytes - TENSORRT_LLM_RUNTIME_OVERHEAD_BYTES * self.tensor_parallel
        allowed = free * self.kv_cache_free_gpu_mem_fraction
        if self.kv_cache_bytes() <= allowed:
            return None
        return (
            f"weights {self.weights_bytes / gib:.2f} GiB + KV cache {self.kv_cache_bytes() / gib:.2f} GiB "
            f"({self.max_tokens_in_paged_kv_cache} tokens x {self.kv_cache_bytes_per_token} B) do not fit: the cache may use "
            f"kv_cache_free_gpu_mem_fraction {self.kv_cache_free_gpu_mem_fraction} of the {max(free, 0) / gib:.2f} GiB left of "
            f"{total / gib:.0f} GiB after weights and ~{TENSORRT_LLM_RUNTIME_OVERHEAD_BYTES / gib:.0f} GiB runtime per GPU"
        )


def load_llm_engine_builds(repository_dir: Path) -> dict[str, LlmEngineBuild]:
    """Engine folder -> TensorRT-LLM build, from a repository's engine plan."""
    return {path: build for path, build in load_engine_builds(repository_dir).items() if isinstance(build, LlmEngineBuild)}


def load_engine_builds(repository_dir: Path) -> dict[str, EngineProfile | LlmEngineBuild]:
    """Every engine a repository's engine plan declares: TensorRT plans (by plan path) and TensorRT-LLM engines (by folder)."""
    path = repository_dir / ENGINE_PLAN_NAME
    if not path.is_file():
        return {}
    entries: dict[str, dict[str, Any]] = json.loads(path.read_text())
    builds: dict[str, EngineProfile | LlmEngineBuild] = {}
    for target, entry in entries.items():
        if entry.get("kind") == "tensorrt_llm":
            builds[target] = LlmEngineBuild(**entry["build"])
        else:
            fields = entry["profile"]
            builds[target] = EngineProfile(**{**fields, "sequence_buckets": tuple(fields["sequence_buckets"]), "inputs": tuple(fields["inputs"])})
    return builds


def llm_engine_entry(compute_capability: str, ngc_release: str, build: LlmEngineBuild, engine_dir: str) -> dict[str, Any]:
    """How one TensorRT-LLM engine is built: written by the model build, read by the engine Jobs and the preview."""
    return {
        "kind": "tensorrt_llm",
        "compute_capability": compute_capability,
        "triton_image_release": ngc_release,
        "build": asdict(build),
        "commands": [build.convert_command("hf", "checkpoint"), build.build_command("checkpoint", Path(engine_dir).name)],
    }
