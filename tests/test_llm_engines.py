"""TensorRT-LLM engines against each LLM group's GPUs: one engine per GPU family it can land on, and weights plus the
configured KV cache within each instance type's GPU memory (the preview refuses the stack otherwise)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from gpu_inference_platform.components.model_manifest import load_manifest
from gpu_inference_platform.components.tensorrt_engines import ENGINE_PLAN_NAME, LlmEngineBuild
from gpu_inference_platform.program.platform import llm_engine_issues
from tests.conftest import ROOT, valid_config

BUILD = ROOT / "build" / "models" / "prod"
KEY = "gpu-inference-platform:serving[1].instanceTypes"


def _build(tmp_path: Path, **changes: object) -> Path:
    """The prod build's engine plan, its TensorRT-LLM entries changed."""
    plan = json.loads((BUILD / ENGINE_PLAN_NAME).read_text())
    for entry in plan.values():
        if entry.get("kind") == "tensorrt_llm":
            entry["build"].update(changes)
    (tmp_path / ENGINE_PLAN_NAME).write_text(json.dumps(plan))
    shutil.copyfile(BUILD / "manifest.json", tmp_path / "manifest.json")
    return tmp_path


def test_the_committed_llm_group_fits_and_has_its_engine() -> None:
    assert list(llm_engine_issues(valid_config("prod"), load_manifest(BUILD), BUILD)) == []


def test_smollm2_memory_facts_come_from_its_checkpoint() -> None:
    (build,) = {json.dumps(e["build"], sort_keys=True) for e in json.loads((BUILD / ENGINE_PLAN_NAME).read_text()).values() if e.get("kind")}
    facts = json.loads(build)
    assert (facts["weights_bytes"], facts["kv_cache_bytes_per_token"]) == (134_515_008 * 2, 2 * 30 * 3 * 64 * 2), "135M fp16; 30 layers x 3 KV heads x 64"


def test_a_kv_cache_beyond_the_gpu_is_refused(tmp_path: Path) -> None:
    build = _build(tmp_path, max_tokens_in_paged_kv_cache=2_000_000)
    (issue,) = llm_engine_issues(valid_config("prod"), load_manifest(build), build)
    assert str(issue) == (
        f"{KEY} = ['g6e.xlarge']: smollm2_generate on g6e.xlarge (NVIDIA L40S, 48 GiB): weights 0.25 GiB + KV cache 42.92 GiB "
        "(2000000 tokens x 23040 B) do not fit: the cache may use kv_cache_free_gpu_mem_fraction 0.5 of the 45.75 GiB left of 48 GiB "
        "after weights and ~2 GiB runtime per GPU"
    )
    assert (
        list(
            llm_engine_issues(
                valid_config("prod"), load_manifest(_build(tmp_path, kv_cache_free_gpu_mem_fraction=0.95, max_tokens_in_paged_kv_cache=2_000_000)), tmp_path
            )
        )
        == []
    )


def test_a_gpu_family_without_an_engine_is_refused(tmp_path: Path) -> None:
    committed = valid_config("prod")
    llm = committed.serving[1].model_copy(update={"instance_types": ["g6e.xlarge", "g5.xlarge"]})
    config = committed.model_copy(update={"serving": [committed.serving[0], llm]})
    manifest = load_manifest(BUILD)
    only_89 = {path: cc for path, cc in manifest.engines.items() if cc == "8.9"}
    (issue,) = llm_engine_issues(config, manifest.__class__(**{**manifest.__dict__, "engines": only_89}), BUILD)
    assert str(issue) == (
        f"{KEY} = ['g6e.xlarge', 'g5.xlarge']: g5.xlarge has compute capability 8.6 but smollm2_generate has no TensorRT-LLM engine for it; engines: ['8.9']"
    )


def test_memory_shortfall_counts_every_tensor_parallel_gpu() -> None:
    build = LlmEngineBuild("c/", "float16", 1, 64, 1536, 2048, 14 * 1024**3, 131072, 100_000, 0.9)
    assert build.memory_shortfall(24 * 1024**3) is not None, "14 GiB weights + 12.2 GiB cache on one 24 GiB GPU"
    assert LlmEngineBuild("c/", "float16", 2, 64, 1536, 2048, 14 * 1024**3, 131072, 100_000, 0.9).memory_shortfall(24 * 1024**3) is None
