"""Assemble a servable Triton repository from `model_repo/` sources plus exported artifacts."""

from __future__ import annotations

import importlib.metadata
import json
import platform
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpu_inference_platform.components.model_manifest import MANIFEST_NAME, Manifest, sha256_file, write_manifest
from gpu_inference_platform.components.tensorrt_engines import (
    ENGINE_PLAN_NAME,
    MODELS_MOUNT,
    TENSORRT_LLM_COMPUTE_CAPABILITIES,
    EngineProfile,
    LlmEngineBuild,
    engine_plan_entry,
    llm_engine_entry,
    model_config_name,
    plan_filename,
)
from gpu_inference_platform.ops.model_config import model_parameters
from gpu_inference_platform.ops.modelbuild import engines
from gpu_inference_platform.ops.modelbuild.export import (
    ONNX_MIN_COSINE,
    PARITY_SENTENCES,
    Parity,
    ParityError,
    cosine_parity,
    export_onnx,
    load_encoder,
    load_tokenizer,
    onnx_embeddings,
    tokenize,
    torch_embeddings,
)
from gpu_inference_platform.ops.modelbuild.generation import CHECKPOINT_TOKENIZER_FILES, ENGINE_FOLDER, GenerationModelSpec, export_checkpoint, export_genai
from gpu_inference_platform.ops.modelbuild.spec import MODEL_REPO, EmbeddingModelSpec

TARGETS = ("cpu", "gpu")
_INSTANCE_PROFILES = re.compile(r"\bprofile:\s*\[([^\]]*)\]")
_MAX_BATCH_SIZE = re.compile(r"^max_batch_size:\s*(?P<size>\d+)", re.MULTILINE)
_TOOL_PACKAGES = ("torch", "onnx", "onnxruntime", "tokenizers", "transformers", "numpy")
_GENERATION_TOOL_PACKAGES = ("onnxruntime-genai", "gguf", "accelerate", "onnx-ir")


@dataclass(frozen=True)
class BuildResult:
    """What a build produced and how it checked out."""

    manifest: Manifest
    parity: list[Parity] = field(default_factory=list)
    engine_plan: dict[str, dict[str, object]] = field(default_factory=dict)


def target_file_name(name: str, target: str) -> str | None:
    """`config.cpu.pbtxt` -> `config.pbtxt` for cpu, None (skip) for gpu; other names unchanged."""
    parts = name.split(".")
    if len(parts) >= 3 and parts[-2] in TARGETS:
        return ".".join([*parts[:-2], parts[-1]]) if parts[-2] == target else None
    return name


def _prepare_output(out: Path) -> None:
    """Start from an empty folder; only ever delete a previous build (one with a manifest)."""
    if out.exists():
        if any(out.iterdir()) and not (out / MANIFEST_NAME).exists():
            raise FileExistsError(f"{out} is not empty and is not a previous build; refusing to overwrite it")
        shutil.rmtree(out)
    out.mkdir(parents=True)


def copy_sources(folders: Sequence[str], target: str, out: Path, model_repo: Path = MODEL_REPO) -> None:
    """Copy model folders from `model_repo`, resolving target-specific files; never caches."""
    for folder in folders:
        source = model_repo / folder
        for path in sorted(source.rglob("*")):
            if path.is_dir() or "__pycache__" in path.parts:
                continue
            name = target_file_name(path.name, target)
            if name is not None:
                destination = out / folder / path.relative_to(source).with_name(name)
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, destination)


def check_instance_profiles(config: Path, profile: EngineProfile) -> None:
    """The encoder's instance group loads exactly the engine's optimisation profiles ("0".."N-1"), or the build stops."""
    listed = [re.findall(r'"([^"]*)"', group) for group in _INSTANCE_PROFILES.findall(config.read_text())]
    expected = [str(index) for index in range(len(profile.sequence_ranges()))]
    if listed != [expected]:
        raise ValueError(
            f"{config}: instance_group profile must be {expected} (one per sequence bucket {list(profile.sequence_buckets)} of models.yaml), "
            f"got {listed[0] if len(listed) == 1 else listed}"
        )


def _package_pin(package: str) -> str:
    """`package==<installed version>` of an importable weights package (its distribution name has dashes)."""
    return f"{package}=={importlib.metadata.version(package.replace('_', '-'))}"


def _tool_versions(target: str, ngc_release: str, generation: bool) -> dict[str, str]:
    tools = {package: importlib.metadata.version(package) for package in (*_TOOL_PACKAGES, *(_GENERATION_TOOL_PACKAGES if generation else ()))}
    tools["python"] = platform.python_version()
    if target == "gpu":
        tools["triton_ngc_release"] = ngc_release
        tools["tensorrt_ngc_release"] = ngc_release
    return tools


def build_repository(
    specs: Sequence[EmbeddingModelSpec],
    *,
    target: str,
    out: Path,
    compute_capabilities: Sequence[str] = (),
    ngc_release: str = "",
    generators: Sequence[GenerationModelSpec] = (),
) -> BuildResult:
    """Build every ensemble in `specs` (and every model in `generators` with this target) for `target` into one repository at `out`.

    Raises ParityError if an export does not reproduce torch (or a local TensorRT plan ONNX).
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    if target == "gpu" and not (compute_capabilities and ngc_release):
        raise ValueError("the gpu target needs the fleet's compute capabilities and the NGC release of the Triton image")
    opsets = {spec.onnx_opset for spec in specs}
    if len(opsets) != 1:
        raise ValueError(f"all models of one repository must use one ONNX opset, got {sorted(opsets)}")
    _prepare_output(out)
    parity: list[Parity] = []
    engine_paths: dict[str, str] = {}
    engine_plan: dict[str, dict[str, object]] = {}
    source: dict[str, str] = {}
    for spec in specs:
        parity += _build_model(
            spec,
            target=target,
            out=out,
            capabilities=sorted(set(compute_capabilities)),
            ngc_release=ngc_release,
            engine_paths=engine_paths,
            engine_plan=engine_plan,
        )
        weights = spec.weights_dir / "model.safetensors"
        source[f"{spec.ensemble}.weights_package"] = _package_pin(spec.weights_package)
        source[f"{spec.ensemble}.weights_sha256"] = sha256_file(weights)
    built_generators = [generator for generator in generators if target in generator.targets]
    for generator in built_generators:
        copy_sources(generator.model_folders(target), target, out)
        if target == "gpu":
            capabilities = sorted(set(compute_capabilities))
            _plan_llm_engines(generator, out=out, capabilities=capabilities, ngc_release=ngc_release, engine_paths=engine_paths, engine_plan=engine_plan)
        else:
            export_genai(generator, out / generator.name / "1" / ENGINE_FOLDER)
        source[f"{generator.name}.weights_package"] = _package_pin(generator.weights_package)
        source[f"{generator.name}.weights_sha256"] = sha256_file(generator.weights_path)
    if engine_plan:
        (out / ENGINE_PLAN_NAME).write_text(json.dumps(engine_plan, indent=2, sort_keys=True) + "\n")
    tools = _tool_versions(target, ngc_release, bool(built_generators))
    manifest = write_manifest(out, target=target, tools=tools, source=source, onnx_opset=opsets.pop(), engines=engine_paths)
    return BuildResult(manifest, parity, engine_plan)


def _plan_llm_engines(
    spec: GenerationModelSpec,
    *,
    out: Path,
    capabilities: list[str],
    ngc_release: str,
    engine_paths: dict[str, str],
    engine_plan: dict[str, dict[str, object]],
) -> None:
    """The checkpoint the engine Jobs compile, the BLS model's tokenizer, and per engine its plan entry and `configs/<name>.pbtxt`.

    Engines are folders (`<engine model>/1/cc<X.Y>-tp<N>/`): the manifest declares them with a trailing slash.
    Compute capabilities TensorRT-LLM does not support get none (the preview refuses LLM groups on them).
    """
    checkpoint = out / spec.checkpoint_folder
    memory = export_checkpoint(spec, checkpoint)
    for name in CHECKPOINT_TOKENIZER_FILES:
        shutil.copyfile(checkpoint / name, out / spec.name / "1" / name)
    limits = model_parameters((out / spec.name / "config.pbtxt").read_text())
    engine_config = (out / spec.engine_model / "config.pbtxt").read_text()
    engine_parameters = model_parameters(engine_config)
    max_prompt, max_output = int(limits["max_prompt_tokens"]), int(limits["max_output_tokens"])
    if max_prompt + max_output != spec.context_length:
        raise ValueError(f"{spec.name}: max_prompt_tokens {max_prompt} + max_output_tokens {max_output} must be context_length {spec.context_length}")
    placeholder, batch = engine_parameters.get("gpt_model_path"), _MAX_BATCH_SIZE.search(engine_config)
    if not placeholder or batch is None:
        raise ValueError(f"{spec.engine_model}/config.pbtxt needs max_batch_size and a gpt_model_path parameter to point at an engine")
    configs = out / spec.engine_model / "configs"
    configs.mkdir()
    for capability in (cc for cc in capabilities if cc in TENSORRT_LLM_COMPUTE_CAPABILITIES):
        for tensor_parallel in spec.tensor_parallel_sizes:
            config_name = model_config_name(capability, tensor_parallel)
            engine_dir = f"{spec.engine_model}/1/{config_name}/"
            build = LlmEngineBuild(
                checkpoint=f"{spec.checkpoint_folder}/",
                dtype=spec.engine_dtype,
                tensor_parallel=tensor_parallel,
                max_batch_size=int(batch["size"]),
                max_input_len=max_prompt,
                max_seq_len=spec.context_length,
                max_tokens_in_paged_kv_cache=int(engine_parameters["max_tokens_in_paged_kv_cache"]),
                kv_cache_free_gpu_mem_fraction=float(engine_parameters["kv_cache_free_gpu_mem_fraction"]),
                **memory,
            )
            engine_paths[engine_dir] = capability
            engine_plan[engine_dir] = llm_engine_entry(capability, ngc_release, build, engine_dir)
            pointed = engine_config.replace(placeholder, f"{MODELS_MOUNT}/{engine_dir.rstrip('/')}")
            (configs / f"{config_name}.pbtxt").write_text(pointed)


def _build_model(
    spec: EmbeddingModelSpec,
    *,
    target: str,
    out: Path,
    capabilities: list[str],
    ngc_release: str,
    engine_paths: dict[str, str],
    engine_plan: dict[str, dict[str, object]],
) -> list[Parity]:
    """Sources, tokenizer, ONNX export and parity for one ensemble; for gpu also its engine targets."""
    copy_sources(spec.model_folders, target, out)
    version_dir = out / spec.encoder_model / "1"
    version_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(spec.weights_dir / "tokenizer.json", out / spec.tokenizer_model / "1" / "tokenizer.json")

    encoder, tokenizer = load_encoder(spec), load_tokenizer(spec)
    onnx_path = version_dir / "model.onnx"
    export_onnx(encoder, tokenizer, onnx_path, spec.onnx_opset)
    input_ids, attention_mask = tokenize(tokenizer, PARITY_SENTENCES)
    reference = torch_embeddings(encoder, input_ids, attention_mask)
    parity = [cosine_parity(f"{spec.ensemble}: onnxruntime vs torch", reference, onnx_embeddings(onnx_path, input_ids, attention_mask), ONNX_MIN_COSINE)]
    if not parity[0].ok:
        raise ParityError(str(parity[0]))
    if target != "gpu":
        return parity

    profile = EngineProfile(max_batch=spec.max_batch_size, max_sequence=spec.max_sequence_length, sequence_buckets=spec.sequence_buckets)
    check_instance_profiles(out / spec.encoder_model / "config.pbtxt", profile)
    plans = {cc: f"{spec.encoder_model}/1/{plan_filename(cc)}" for cc in capabilities}
    with (out / spec.encoder_model / "config.pbtxt").open("a") as config:
        config.write("".join(f'cc_model_filenames {{ key: "{cc}", value: "{plan_filename(cc)}" }}\n' for cc in capabilities))
    for cc, plan in plans.items():
        engine_paths[plan] = cc
        engine_plan[plan] = engine_plan_entry(cc, ngc_release, profile, plan)
    return parity + _build_local_engine(spec, profile=profile, onnx_path=onnx_path, plans=plans, input_ids=input_ids, attention_mask=attention_mask, out=out)


def _build_local_engine(
    spec: EmbeddingModelSpec, *, profile: EngineProfile, onnx_path: Path, plans: dict[str, str], input_ids: np.ndarray, attention_mask: np.ndarray, out: Path
) -> list[Parity]:
    """Where TensorRT and a GPU are present, build this GPU's plan now and check it against ONNX."""
    if engines.tensorrt_unavailable_reason() is not None:
        return []
    capability = engines.local_compute_capability()
    if capability not in plans:
        return []
    plan_path = out / plans[capability]
    engines.build_plan(onnx_path, plan_path, profile)
    check = cosine_parity(
        f"tensorrt fp16 (cc {capability}) vs onnxruntime",
        onnx_embeddings(onnx_path, input_ids, attention_mask),
        engines.run_plan(plan_path, profile, input_ids, attention_mask, spec.embedding_dim),
        engines.TENSORRT_MIN_COSINE,
    )
    if not check.ok:
        raise ParityError(str(check))
    return [check]
