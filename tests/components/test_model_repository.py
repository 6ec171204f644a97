"""ModelRepository built alone from a small synthetic build: content-addressed objects, read-only policy, one engine Job per launchable GPU family."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gpu_inference_platform import EngineBuildArgs, ModelRepository, ModelRepositoryArgs
from gpu_inference_platform.components.model_manifest import Manifest, write_manifest
from gpu_inference_platform.components.tensorrt_engines import EngineProfile
from tests.components.alone import ACCOUNT, CLUSTER, build_alone, errors

PLANS = {"encoder/1/model_cc8.6.plan": "8.6", "encoder/1/model_cc8.9.plan": "8.9"}
PROFILE = EngineProfile(max_batch=8, max_sequence=128)


@pytest.fixture
def build(tmp_path: Path) -> tuple[Path, Manifest]:
    (tmp_path / "encoder" / "1").mkdir(parents=True)
    (tmp_path / "encoder" / "config.pbtxt").write_text('name: "encoder"\n')
    (tmp_path / "encoder" / "1" / "model.onnx").write_bytes(b"onnx bytes")
    return tmp_path, write_manifest(tmp_path, target="gpu", tools={}, source={}, onnx_opset=17, engines=PLANS)


def _args(build: tuple[Path, Manifest], **changes: object) -> ModelRepositoryArgs:
    directory, manifest = build
    engines = EngineBuildArgs(
        tensorrt_image="nvcr.io/nvidia/tensorrt:25.06-py3",
        profiles=dict.fromkeys(PLANS, PROFILE),
        instance_types_by_capability={"8.6": ["g5.xlarge"]},
        cluster=CLUSTER,
    )
    settings: dict[str, object] = {"repository_dir": directory, "manifest": manifest, "account": ACCOUNT, "engines": engines}
    return ModelRepositoryArgs(**{**settings, **changes})  # type: ignore[arg-type]


def test_objects_policy_and_engine_jobs(build: tuple[Path, Manifest]) -> None:
    _, manifest = build
    plan = build_alone(lambda: ModelRepository("models", _args(build)))
    short = manifest.short_hash
    objects = {r.name: r.inputs["key"] for r in plan.of_type("aws:s3/bucketObjectv2:BucketObjectv2")}
    prefix = f"models/{manifest.tree_hash}/"
    assert objects == {
        f"models-{short}-encoder/1/model.onnx": f"{prefix}encoder/1/model.onnx",
        f"models-{short}-encoder/config.pbtxt": f"{prefix}encoder/config.pbtxt",
        f"models-{short}-manifest.json": f"{prefix}manifest.json",
    }
    read = json.loads(plan.get("aws:iam/policy:Policy", "models-read").inputs["policy"])["Statement"]
    assert [s["Action"] for s in read] == [["s3:GetObject", "s3:GetObjectVersion"], "s3:ListBucket", "kms:Decrypt"]
    jobs = plan.of_type("kubernetes:batch/v1:Job")
    assert [j.name for j in jobs] == [f"models-trt-{short}-cc86"], "8.9 has no instance type in the fleet: no Job"
    trust = plan.get("aws:iam/role:Role", "models-engine-builder").inputs["assumeRolePolicy"]
    assert "system:serviceaccount:models-engines:models-engine-builder" in trust and CLUSTER.oidc_provider_arn in trust
    (root,) = plan.roots()
    assert root.registered_outputs["engine_job_names"] == [f"trt-{short}-cc86"]
    assert (root.registered_outputs["prefix"], root.registered_outputs["tree_hash"]) == (prefix, manifest.tree_hash)


def test_args_need_a_profile_for_every_plan_and_sane_retention(build: tuple[Path, Manifest]) -> None:
    engines = EngineBuildArgs(tensorrt_image="nvcr.io/nvidia/tensorrt:25.06-py3", profiles={}, instance_types_by_capability={}, cluster=CLUSTER)
    assert errors(lambda: _args(build, engines=engines, noncurrent_version_days=0)) == [
        "ModelRepositoryArgs.noncurrent_version_days = 0: must be at least 1",
        "ModelRepositoryArgs.engines.profiles = 'encoder/1/model_cc8.6.plan': the manifest declares this plan but no build profile does",
        "ModelRepositoryArgs.engines.profiles = 'encoder/1/model_cc8.9.plan': the manifest declares this plan but no build profile does",
    ]
