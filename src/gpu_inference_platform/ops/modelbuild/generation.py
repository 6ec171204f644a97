"""Text-generation models (`model_repo/generators.yaml`): GGUF weights -> onnxruntime-genai int4 for the cpu target,
and a Hugging Face checkpoint plus TensorRT-LLM engine plans for the gpu target.

The weights come from a pinned Python package that ships a GGUF file (offline, hashed in the
manifest). transformers de-quantizes it to an fp32 Hugging Face folder; onnxruntime-genai's
model builder quantizes that to int4 (RTN, deterministic: the same inputs give the same bytes),
and for the gpu target it is saved in the engine's dtype for the engine Jobs to compile.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from gpu_inference_platform.ops.modelbuild.spec import MODEL_REPO

GENERATORS_FILE = "generators.yaml"
ENGINE_FOLDER = "model"
"""Folder of the onnxruntime-genai model inside the version folder."""
_GENAI_FILES = ("model.onnx", "model.onnx.data", "genai_config.json", "tokenizer.json", "tokenizer_config.json")
PRECISIONS = ("int4", "int8", "fp32")
ENGINE_DTYPES = ("float16", "bfloat16")
CHECKPOINT_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json")


@dataclass(frozen=True)
class GenerationModelSpec:
    """A decoder-only chat model served by one decoupled Triton model."""

    name: str
    weights_package: str
    """Python package that ships the GGUF file (installed offline)."""
    weights_file: str
    precision: str
    context_length: int
    """Prompt plus generated tokens one request may reach (onnxruntime-genai's search.max_length)."""
    intra_op_threads: int = 1
    """ONNX Runtime threads of one decode step (onnxruntime-genai defaults to 1)."""
    max_request_bytes: int = 8192
    """Largest request body the load balancer's WAF and Triton's HTTP server let through."""
    targets: tuple[str, ...] = ("cpu",)
    """Build targets with a serving path for this model (cpu: onnxruntime-genai; gpu: TensorRT-LLM behind a BLS model)."""
    engine_model: str = ""
    """gpu target: the TensorRT-LLM model folder the generation model streams from."""
    engine_dtype: str = "float16"
    """gpu target: dtype of the checkpoint and the engine."""
    tensor_parallel_sizes: tuple[int, ...] = (1,)
    """gpu target: one engine per size and compute capability."""
    public: bool = True

    @property
    def weights_path(self) -> Path:
        """The GGUF file inside the installed package."""
        found = importlib.util.find_spec(self.weights_package)
        if found is None or found.origin is None:
            raise FileNotFoundError(f"{self.name}: weights package {self.weights_package!r} is not installed (make setup)")
        return Path(found.origin).parent / self.weights_file

    def model_folders(self, target: str) -> tuple[str, ...]:
        """Triton model folders of this model in a `target` build."""
        return (self.name, self.engine_model) if target == "gpu" else (self.name,)

    @property
    def checkpoint_folder(self) -> str:
        """Build-relative folder of the gpu target's Hugging Face checkpoint (outside every model folder: pods never fetch it)."""
        return f"checkpoints/{self.name}"


def load_generation_specs(model_repo: Path = MODEL_REPO) -> list[GenerationModelSpec]:
    """Every generation model declared in `generators.yaml` (none when the file is absent)."""
    path = model_repo / GENERATORS_FILE
    if not path.exists():
        return []
    document = yaml.safe_load(path.read_text())
    specs = [
        GenerationModelSpec(
            name=name,
            **{**fields, "targets": tuple(fields.get("targets", ("cpu",))), "tensor_parallel_sizes": tuple(fields.get("tensor_parallel_sizes", (1,)))},
        )
        for name, fields in document.items()
    ]
    for spec in specs:
        if spec.precision not in PRECISIONS:
            raise ValueError(f"{GENERATORS_FILE}: {spec.name}.precision must be one of {', '.join(PRECISIONS)}, got {spec.precision!r}")
        if "gpu" in spec.targets and not spec.engine_model:
            raise ValueError(f"{GENERATORS_FILE}: {spec.name}.engine_model must name the TensorRT-LLM model folder of the gpu target")
        if spec.engine_dtype not in ENGINE_DTYPES:
            raise ValueError(f"{GENERATORS_FILE}: {spec.name}.engine_dtype must be one of {', '.join(ENGINE_DTYPES)}, got {spec.engine_dtype!r}")
        if spec.tensor_parallel_sizes != (1,):
            raise ValueError(
                f"{GENERATORS_FILE}: {spec.name}.tensor_parallel_sizes must be [1], got {list(spec.tensor_parallel_sizes)}: "
                "TensorRT-LLM across GPUs needs one MPI rank per GPU (launch_triton_server.py), which these pods do not run"
            )
    return specs


def dequantize_gguf(spec: GenerationModelSpec, out: Path) -> None:
    """The GGUF weights as an fp32 Hugging Face folder (config, safetensors, tokenizer)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = spec.weights_path.parent, spec.weights_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype="float32")
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # de-quantized on load; a plain fp32 model from here on
    plain = AutoModelForCausalLM.from_config(config, dtype="float32")  # type: ignore[no-untyped-call]
    plain.load_state_dict(loaded.state_dict(), strict=True)
    plain.save_pretrained(out)
    tokenizer.save_pretrained(out)


def export_checkpoint(spec: GenerationModelSpec, out: Path) -> dict[str, int]:
    """The gpu target's Hugging Face checkpoint at `out` in the engine's dtype; returns the memory facts of the architecture.

    Facts: `weights_bytes` and `kv_cache_bytes_per_token` (2 x layers x KV heads x head size x dtype bytes).
    """
    import torch
    from transformers import AutoModelForCausalLM

    with tempfile.TemporaryDirectory(prefix="checkpoint-") as scratch:
        dequantize_gguf(spec, Path(scratch))
        model = AutoModelForCausalLM.from_pretrained(scratch, dtype=getattr(torch, spec.engine_dtype))
        model.save_pretrained(out)
        for name in CHECKPOINT_TOKENIZER_FILES:
            shutil.copyfile(Path(scratch) / name, out / name)
    config = model.config
    dtype_bytes = torch.finfo(getattr(torch, spec.engine_dtype)).bits // 8
    head_size = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    kv_heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    return {
        "weights_bytes": sum(parameter.numel() for parameter in model.parameters()) * dtype_bytes,
        "kv_cache_bytes_per_token": 2 * config.num_hidden_layers * kv_heads * head_size * dtype_bytes,
    }


def export_genai(spec: GenerationModelSpec, out: Path) -> None:
    """onnxruntime-genai's model folder for the CPU at `out` (model, data, genai_config, tokenizer)."""
    with tempfile.TemporaryDirectory(prefix="genai-") as scratch:
        work = Path(scratch)
        dequantize_gguf(spec, work / "hf")
        command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(work / "hf"), "-o", str(work / "onnx")]
        command += ["-p", spec.precision, "-e", "cpu", "-c", str(work / "cache")]
        # The builder stamps `git rev-parse HEAD`, run five folders above its own file, into model.onnx: inside a
        # checkout's .venv that is the checkout's commit, so every commit would change the build. No Git: the wheel's commit.
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "GIT_DIR": os.devnull}
        result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise RuntimeError(f"{spec.name}: onnxruntime-genai's model builder failed:\n{result.stderr[-2000:]}")
        out.mkdir(parents=True, exist_ok=True)
        for name in _GENAI_FILES:
            shutil.copyfile(work / "onnx" / name, out / name)
    config_path = out / "genai_config.json"
    config = json.loads(config_path.read_text())
    config["search"]["max_length"] = spec.context_length
    config["model"]["decoder"]["session_options"]["intra_op_num_threads"] = spec.intra_op_threads
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
