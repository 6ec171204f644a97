"""Serving groups: each public model in one group, groups on their own instance types and images, LLM groups drained and
kept open longer than their longest generation, and each group's HPA on its own signal."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from gpu_inference_platform import LlmScaling, TritonServer, TritonServerArgs
from gpu_inference_platform.components.model_manifest import verify
from tests.components.alone import CLUSTER, build_alone, errors
from tests.conftest import ROOT, config_issues, valid_config

S = "gpu-inference-platform:serving"
TRTLLM_IMAGE = "nvcr.io/nvidia/tritonserver:25.06-trtllm-python-py3"


def _llm_group(**changes: Any) -> dict[str, Any]:
    group = {
        "name": "llm",
        "models": ["smollm2_generate"],
        "instanceTypes": ["g6e.xlarge"],
        "tritonImage": TRTLLM_IMAGE,
        "floorReplicas": 2,
        "maxSpotReplicas": 2,
        "maxGenerationS": 45,
        "preStopSleepS": 20,
        "exitTimeoutS": 30,
        "terminationGracePeriodS": 60,
    }
    return {**group, **changes}


def _with_groups(*groups: dict[str, Any]) -> Any:
    def mutate(raw: dict[str, Any]) -> None:
        raw["serving"] = [raw["serving"][0], *groups]  # the embedder, then these in place of the committed LLM group
        raw["fleet"]["spot"]["gpuLimit"] = 24
        raw["fleet"]["onDemand"]["gpuLimit"] = 8

    return mutate


def test_the_committed_stacks_parse_into_groups() -> None:
    prod = valid_config("prod").serving
    assert [(g.name, g.models, g.instance_types) for g in prod] == [
        ("triton", ["minilm_embed"], ["g6.xlarge", "g5.xlarge"]),
        ("llm", ["smollm2_generate"], ["g6e.xlarge"]),
    ]
    dev = valid_config("dev").serving
    assert [(g.name, g.models, g.instance_types) for g in dev] == [
        ("triton", ["minilm_embed"], None),
        ("llm", ["smollm2_generate"], ["g6.xlarge", "g5.xlarge"]),
    ], "dev: two groups on one pool (the TensorRT-LLM image cannot serve the embedder's plan)"


def test_a_serving_object_is_one_group_serving_every_public_model() -> None:
    def object_form(raw: dict[str, Any]) -> None:
        raw["serving"] = {key: value for key, value in raw["serving"][0].items() if key not in ("name", "models")}

    found = config_issues("dev", object_form)
    assert f"{S}.tritonImage = 'nvcr.io/nvidia/tritonserver:25.06-py3': serves smollm2_generate (TensorRT-LLM): use {TRTLLM_IMAGE}" in found


def test_a_model_the_gpu_build_cannot_serve_is_named() -> None:
    assert config_issues("prod", _with_groups(_llm_group(models=["minilm_encoder"]))) == [
        f"{S}[1].models[0] = 'minilm_encoder': not a public model the gpu build serves; allowed: minilm_embed, smollm2_generate",
    ]


def test_an_llm_group_on_the_tensorrt_llm_image_is_valid() -> None:
    assert config_issues("prod", _with_groups(_llm_group())) == []


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (
            [_llm_group(name="triton")],
            [f"{S}[1].name = 'triton': another group has this name (it is the group's namespace); names must be distinct"],
        ),
        ([_llm_group(models=["minilm_embed", "smollm2_generate"], tritonImage="nvcr.io/nvidia/tritonserver:25.06-py3")], None),
        (
            [_llm_group(instanceTypes=["p5.48xlarge", "g4dn.xlarge"], gpusPerReplica=2)],
            [
                f"{S}[1].instanceTypes[0] = 'p5.48xlarge': not an instance type of the fleet's pools; allowed: g5.xlarge, g5.2xlarge, g6.xlarge, g6e.xlarge",
                f"{S}[1].instanceTypes[1] = 'g4dn.xlarge': not an instance type of the fleet's pools; allowed: g5.xlarge, g5.2xlarge, g6.xlarge, g6e.xlarge",
                f"{S}[1].instanceTypes[1] = 'g4dn.xlarge': has 1 GPU(s), fewer than gpusPerReplica of serving group llm (2)",
                f"{S}[1].instanceTypes = ['p5.48xlarge', 'g4dn.xlarge']: the floor of llm runs on-demand, but none of these types is in "
                "fleet.onDemand.instanceTypes (g5.xlarge, g6.xlarge, g6e.xlarge)",
                f"{S}[1].gpusPerReplica = 2: must be 1 for a TensorRT-LLM group: an engine across GPUs needs one MPI rank per GPU "
                "(launch_triton_server.py), which these pods do not run; one replica per GPU scales the same model out instead",
                f"{S}[1].instanceTypes = ['p5.48xlarge', 'g4dn.xlarge']: g4dn.xlarge: TensorRT-LLM supports compute capabilities 8.0, 8.6, 8.9, 9.0 only",
            ],
        ),
        (
            [_llm_group(tritonImage="nvcr.io/nvidia/tritonserver:25.06-py3")],
            [f"{S}[1].tritonImage = 'nvcr.io/nvidia/tritonserver:25.06-py3': serves smollm2_generate (TensorRT-LLM): use {TRTLLM_IMAGE}"],
        ),
        (
            [_llm_group(exitTimeoutS=10, terminationGracePeriodS=40, maxGenerationS=120)],
            [
                f"{S}[1].exitTimeoutS = 10: preStopSleepS + exitTimeoutS (30 s) is shorter than maxGenerationS (120); "
                "a generation in flight when the pod stops would be cut",
                "gpu-inference-platform:loadBalancer.idleTimeoutS = 120: must exceed llm's maxGenerationS (120): a non-streamed generation, "
                "and a stream waiting in queue or prefill, sends nothing until it has tokens",
            ],
        ),
        (
            [{**_llm_group(), "models": None}],
            [
                f"{S}[1].tritonImage = '{TRTLLM_IMAGE}': the TensorRT-LLM image has only the TensorRT-LLM and Python backends, and minilm_embed "
                "needs TensorRT: serve it from a group on nvcr.io/nvidia/tritonserver:25.06-py3",
                f"{S}[1].models = None: list this group's models: with several groups, each public model belongs to one",
            ],
        ),
    ],
)
def test_group_mistakes_are_named(groups: list[dict[str, Any]], expected: list[str] | None) -> None:
    found = config_issues("prod", _with_groups(*groups))
    if expected is None:
        assert f"{S} = 'minilm_embed': served by several groups (triton, llm); the load balancer routes each model to one group" in found
        assert f"{S}[1].tritonImage = 'nvcr.io/nvidia/tritonserver:25.06-py3': serves smollm2_generate (TensorRT-LLM): use {TRTLLM_IMAGE}" in found, (
            "a group mixing an embedder and an LLM has no image that serves both"
        )
    else:
        assert [line for line in found if not line.startswith("warning")] == expected


def test_the_tensorrt_llm_image_cannot_serve_a_tensorrt_plan() -> None:
    def embedder_on_trtllm(raw: dict[str, Any]) -> None:
        raw["serving"][0]["tritonImage"] = TRTLLM_IMAGE

    (line,) = [line for line in config_issues("prod", embedder_on_trtllm) if not line.startswith("warning")]
    assert line == (
        f"{S}[0].tritonImage = '{TRTLLM_IMAGE}': the TensorRT-LLM image has only the TensorRT-LLM and Python backends, and minilm_embed "
        "needs TensorRT: serve it from a group on nvcr.io/nvidia/tritonserver:25.06-py3"
    )


def _triton(**changes: Any) -> TritonServerArgs:
    settings: dict[str, Any] = {
        "image": TRTLLM_IMAGE,
        "model_bucket": "models",
        "model_prefix": "models/abc/",
        "model_tree_hash": "abc",
        "model_read_policy_arn": "arn:aws:iam::123456789012:policy/read",
        "cluster": CLUSTER,
        "floor_capacity_type": "on-demand",
        "floor_replicas": 1,
        "min_spot_replicas": 1,
        "max_spot_replicas": 4,
    }
    return TritonServerArgs(**{**settings, **changes})


def test_an_llm_group_scales_on_waiting_requests_and_kv_cache() -> None:
    plan = build_alone(lambda: TritonServer("llm", _triton(queue_time_target_us=None, llm_scaling=LlmScaling(4, 0.85), instance_types=["g6e.xlarge"])))
    metrics = plan.get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "llm-spot").inputs["spec"]["metrics"]
    assert [(m["pods"]["metric"]["name"], m["pods"]["target"]) for m in metrics] == [
        ("llm_requests_waiting", {"type": "AverageValue", "averageValue": "4000m"}),
        ("trtllm_kv_cache_used_ratio", {"type": "AverageValue", "averageValue": "850m"}),
    ]
    floor = plan.get("kubernetes:apps/v1:Deployment", "llm-floor").inputs["spec"]["template"]["spec"]
    assert floor["nodeSelector"] == {"karpenter.sh/capacity-type": "on-demand"}
    assert floor["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] == [
        {"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g6e.xlarge"]}]}
    ]


def test_a_group_with_both_kinds_scales_on_all_three_signals() -> None:
    plan = build_alone(lambda: TritonServer("mixed", _triton(llm_scaling=LlmScaling(2, 0.5))))
    metrics = plan.get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "mixed-spot").inputs["spec"]["metrics"]
    assert [m["pods"]["metric"]["name"] for m in metrics] == ["triton_queue_time_per_request_us", "llm_requests_waiting", "trtllm_kv_cache_used_ratio"]


def test_an_hpa_without_a_signal_or_with_impossible_targets_is_refused() -> None:
    assert errors(lambda: _triton(queue_time_target_us=None)) == [
        "TritonServerArgs.queue_time_target_us = None: the spot HPA needs a signal: set it, llm_scaling, or both"
    ]
    assert errors(lambda: _triton(llm_scaling=LlmScaling(0, 1.5))) == [
        "TritonServerArgs.llm_scaling = LlmScaling(waiting_requests=0, kv_cache_used_ratio=1.5): waiting_requests must be above 0 and "
        "kv_cache_used_ratio in (0, 1]"
    ]


def test_a_group_verifies_only_its_own_models(tmp_path: Path) -> None:
    build = ROOT / "build/models/cpu"
    embedder = ["minilm_embed", "minilm_tokenizer", "minilm_encoder"]
    for folder in embedder:
        shutil.copytree(build / folder, tmp_path / folder)
    shutil.copyfile(build / "manifest.json", tmp_path / "manifest.json")
    assert verify(tmp_path, embedder).ok, "the embedder group fetched only its models and they check out"
    full = verify(tmp_path)
    assert not full.ok and all(path.startswith("smollm2_generate/") for path in full.missing)
    assert verify(tmp_path, ["chat"]).missing == ["chat/ (no such model in the build)"]
    (tmp_path / "minilm_tokenizer/1/model.py").write_text("tampered")
    assert verify(tmp_path, embedder).changed == ["minilm_tokenizer/1/model.py"]
