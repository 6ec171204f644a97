"""ModelRepository component: bucket hardening, content-addressed objects, IAM, engine Jobs; engine-target rules."""

from __future__ import annotations

import json
import shlex
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from gpu_inference_platform.components.model_manifest import load_manifest
from gpu_inference_platform.preview.harness import Plan
from tests.conftest import ROOT, committed_raw, config_issues, run_preview, run_program, set_key, write_stack_file

MODELS = "models"
OBJECT = "aws:s3/bucketObjectv2:BucketObjectv2"
JOB = "kubernetes:batch/v1:Job"


def _manifest(stack: str) -> Any:
    return load_manifest(ROOT / f"build/models/{stack}")


def test_children_are_exact(plans: dict[str, Plan]) -> None:
    manifest = _manifest("prod")
    short = manifest.short_hash
    expected = Counter(
        [
            ("aws:kms/key:Key", "models-bucket"),
            ("aws:s3/bucket:Bucket", "models-bucket"),
            ("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "models-bucket-ownership"),
            ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "models-bucket-public-access"),
            ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "models-bucket-encryption"),
            ("aws:s3/bucketVersioning:BucketVersioning", "models-bucket-versioning"),
            ("aws:s3/bucketPolicy:BucketPolicy", "models-bucket-policy"),
            ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "models-bucket-lifecycle"),
            ("aws:iam/policy:Policy", "models-read"),
            ("kubernetes:core/v1:Namespace", "models-engines"),
            ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "models-engines-default-deny"),
            ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "models-engines-dns-and-https"),
            ("aws:iam/role:Role", "models-engine-builder"),
            ("aws:iam/rolePolicy:RolePolicy", "models-engine-builder"),
            ("kubernetes:core/v1:ServiceAccount", "models-engine-builder"),
            (JOB, f"models-trt-{short}-cc86"),
            (JOB, f"models-trt-{short}-cc89"),
            (JOB, f"models-trtllm-{short}-smollm2-tensorrt-llm-cc86-tp1"),
            (JOB, f"models-trtllm-{short}-smollm2-tensorrt-llm-cc89-tp1"),
        ]
        + [(OBJECT, f"models-{short}-{path}") for path in [*manifest.files, "manifest.json"]]
    )
    assert Counter((r.type, r.name) for r in plans["prod"].children(MODELS)) == expected


def test_bucket_is_private_encrypted_versioned_and_tls_only(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    key = plan.get("aws:kms/key:Key", "models-bucket")
    assert key.inputs["enableKeyRotation"] is True
    bucket_id = plan.get("aws:s3/bucket:Bucket", "models-bucket").outputs["bucket"]
    assert plan.get("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "models-bucket-public-access").inputs == {
        "bucket": bucket_id,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    rule = plan.get("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "models-bucket-encryption").inputs["rules"][0]
    assert rule == {"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key.outputs["arn"]}, "bucketKeyEnabled": True}
    assert plan.get("aws:s3/bucketVersioning:BucketVersioning", "models-bucket-versioning").inputs["versioningConfiguration"] == {"status": "Enabled"}
    statement = json.loads(plan.get("aws:s3/bucketPolicy:BucketPolicy", "models-bucket-policy").inputs["policy"])["Statement"][0]
    bucket_arn = plan.get("aws:s3/bucket:Bucket", "models-bucket").outputs["arn"]
    assert statement == {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    lifecycle = plan.get("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "models-bucket-lifecycle").inputs["rules"][0]
    assert (lifecycle["noncurrentVersionExpiration"], lifecycle["abortIncompleteMultipartUpload"]) == ({"noncurrentDays": 365}, {"daysAfterInitiation": 7})
    assert "expiration" not in lifecycle, "current model builds never expire"


def test_every_manifest_file_is_uploaded_under_the_tree_hash(plans: dict[str, Plan]) -> None:
    manifest = _manifest("prod")
    objects = {r.inputs["key"]: r.inputs for r in plans["prod"].children(MODELS) if r.type == OBJECT}
    prefix = f"models/{manifest.tree_hash}/"
    assert sorted(objects) == sorted(prefix + p for p in [*manifest.files, "manifest.json"])
    onnx = objects[f"{prefix}minilm_encoder/1/model.onnx"]
    assert onnx["source"] == {"fileAsset": "build/models/prod/minilm_encoder/1/model.onnx"}
    assert (onnx["serverSideEncryption"], onnx["kmsKeyId"]) == ("aws:kms", plans["prod"].get("aws:kms/key:Key", "models-bucket").outputs["arn"])
    assert plans["prod"].outputs["modelTreeHash"] == manifest.tree_hash


def test_unchanged_content_plans_identical_objects(plans: dict[str, Plan]) -> None:
    again = run_program(_program(), stack="prod", pulumi_config=_config("prod"))
    first = {r.name: r.inputs for r in plans["prod"].children(MODELS) if r.type == OBJECT}
    assert {r.name: r.inputs for r in again.children(MODELS) if r.type == OBJECT} == first


def test_serving_policy_is_read_only_on_this_build(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    bucket_arn = plan.get("aws:s3/bucket:Bucket", "models-bucket").outputs["arn"]
    prefix = f"models/{_manifest('prod').tree_hash}/"
    statements = json.loads(plan.get("aws:iam/policy:Policy", "models-read").inputs["policy"])["Statement"]
    assert statements == [
        {"Sid": "ReadModelObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": f"{bucket_arn}/{prefix}*"},
        {
            "Sid": "ListModelPrefix",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": {"StringLike": {"s3:prefix": f"{prefix}*"}},
        },
        {
            "Sid": "DecryptThroughS3",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": plan.get("aws:kms/key:Key", "models-bucket").outputs["arn"],
            "Condition": {"StringEquals": {"kms:ViaService": "s3.us-west-2.amazonaws.com"}},
        },
    ]
    actions = [a for s in statements for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])]
    assert not any(a.startswith(("s3:Put", "s3:Delete")) for a in actions)


def test_engine_builder_may_write_only_its_plans(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    bucket_arn = plan.get("aws:s3/bucket:Bucket", "models-bucket").outputs["arn"]
    prefix = f"models/{_manifest('prod').tree_hash}/"
    statements = {s["Sid"]: s for s in json.loads(plan.get("aws:iam/rolePolicy:RolePolicy", "models-engine-builder").inputs["policy"])["Statement"]}
    assert statements["WritePlans"]["Resource"] == [
        f"{bucket_arn}/{prefix}minilm_encoder/1/model_cc8.6.plan",
        f"{bucket_arn}/{prefix}minilm_encoder/1/model_cc8.9.plan",
        f"{bucket_arn}/{prefix}smollm2_tensorrt_llm/1/cc8.6-tp1/*",
        f"{bucket_arn}/{prefix}smollm2_tensorrt_llm/1/cc8.9-tp1/*",
    ], "each plan, and only the inside of each TensorRT-LLM engine folder"
    assert statements["ListBuild"]["Condition"] == {"StringLike": {"s3:prefix": f"{prefix}*"}}, "folder copies list this build only"
    trust = json.loads(plan.get("aws:iam/role:Role", "models-engine-builder").inputs["assumeRolePolicy"])["Statement"][0]
    assert "system:serviceaccount:models-engines:models-engine-builder" in trust["Condition"]["StringEquals"].values()


def test_engine_jobs_build_each_plan_on_its_gpu_family(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    manifest = _manifest("prod")
    bucket = plan.get("aws:s3/bucket:Bucket", "models-bucket").outputs["bucket"]
    job = plan.get(JOB, f"models-trt-{manifest.short_hash}-cc89").inputs
    assert job["metadata"]["namespace"] == "models-engines"
    pod = job["spec"]["template"]["spec"]
    affinity = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
    assert affinity == [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g6.xlarge", "g6e.xlarge"]}]
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    fetch, build = pod["initContainers"]
    (upload,) = pod["containers"]
    s3 = f"s3://{bucket}/models/{manifest.tree_hash}/minilm_encoder/1"
    assert fetch["command"] == ["aws", "s3", "cp", f"{s3}/model.onnx", "/work/model.onnx"]
    assert build["image"] == "nvcr.io/nvidia/tensorrt:25.06-py3"
    assert build["command"][:4] == ["trtexec", "--onnx=/work/model.onnx", "--saveEngine=/work/model_cc8.9.plan", "--fp16"]
    assert build["resources"]["limits"]["nvidia.com/gpu"] == 1
    key = plan.get("aws:kms/key:Key", "models-bucket").outputs["arn"]
    assert upload["command"] == ["aws", "s3", "cp", "/work/model_cc8.9.plan", f"{s3}/model_cc8.9.plan", "--sse", "aws:kms", "--sse-kms-key-id", key]
    assert pod["automountServiceAccountToken"] is False
    assert (pod["restartPolicy"], pod["securityContext"]["runAsNonRoot"], job["spec"]["backoffLimit"]) == ("Never", True, 2)
    namespace = plan.get("kubernetes:core/v1:Namespace", "models-engines").inputs["metadata"]["labels"]
    assert namespace == {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("audit", "enforce", "warn")}


def test_job_names_are_content_addressed(plans: dict[str, Plan]) -> None:
    dev, prod = _manifest("dev"), _manifest("prod")
    assert dev.tree_hash != prod.tree_hash
    assert sorted(r.inputs["metadata"]["name"] for r in plans["dev"].of_type(JOB)) == [
        *(f"trt-{dev.short_hash}-cc{cc}" for cc in ("75", "86", "89")),
        *(f"trtllm-{dev.short_hash}-smollm2-tensorrt-llm-cc{cc}-tp1" for cc in ("86", "89")),
    ], "no TensorRT-LLM engine for 7.5 (T4): TensorRT-LLM does not support it"


def test_llm_engine_jobs_compile_the_checkpoint_on_each_gpu_family(plans: dict[str, Plan]) -> None:
    """Per (compute capability x tensor-parallel size x release): the checkpoint -> TensorRT-LLM checkpoint -> trtllm-build, on that family."""
    plan = plans["prod"]
    manifest = _manifest("prod")
    bucket = plan.get("aws:s3/bucket:Bucket", "models-bucket").outputs["bucket"]
    job = plan.get(JOB, f"models-trtllm-{manifest.short_hash}-smollm2-tensorrt-llm-cc89-tp1")
    pod = job.inputs["spec"]["template"]["spec"]
    affinity = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]
    assert affinity == [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g6.xlarge", "g6e.xlarge"]}]
    fetch, build = pod["initContainers"]
    (upload,) = pod["containers"]
    s3 = f"s3://{bucket}/models/{manifest.tree_hash}"
    assert fetch["command"] == ["aws", "s3", "cp", "--recursive", f"{s3}/checkpoints/smollm2_generate/", "/work/hf"]
    assert build["image"] == "nvcr.io/nvidia/tritonserver:25.06-trtllm-python-py3", "the TensorRT-LLM of the image that serves the engine"
    shell, flag, script = build["command"]
    assert (shell, flag) == ("sh", "-c")
    convert, trtllm_build = script.split(" && ")
    assert convert == shlex.join(
        [
            "python3",
            "-c",
            "from tensorrt_llm.mapping import Mapping\n"
            "from tensorrt_llm.models import LLaMAForCausalLM\n"
            "for rank in range(1):\n"
            "    mapping = Mapping(world_size=1, rank=rank, tp_size=1)\n"
            '    model = LLaMAForCausalLM.from_hugging_face("/work/hf", "float16", mapping=mapping)\n'
            '    model.save_checkpoint("/work/checkpoint", save_config=rank == 0)\n',
        ]
    )
    assert trtllm_build.split() == [
        "trtllm-build",
        "--checkpoint_dir=/work/checkpoint",
        "--output_dir=/work/engine",
        "--output_timing_cache=/work/timing.cache",
        "--gemm_plugin=float16",
        "--gpt_attention_plugin=float16",
        "--kv_cache_type=paged",
        "--remove_input_padding=enable",
        "--context_fmha=enable",
        "--max_batch_size=64",
        "--max_input_len=1536",
        "--max_seq_len=2048",
        "--workers=1",
    ]
    assert build["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert build["env"] == [{"name": "HOME", "value": "/tmp"}, {"name": "TMPDIR", "value": "/tmp"}]
    assert build["workingDir"] == "/work" and build["securityContext"]["readOnlyRootFilesystem"] is True, "trtllm-build writes in its working directory"
    key = plan.get("aws:kms/key:Key", "models-bucket").outputs["arn"]
    target = f"{s3}/smollm2_tensorrt_llm/1/cc8.9-tp1/"
    assert upload["command"] == ["aws", "s3", "cp", "--recursive", "/work/engine", target, "--sse", "aws:kms", "--sse-kms-key-id", key]


def _program() -> Any:
    from gpu_inference_platform.program.platform import main

    return main


def _config(stack: str) -> dict[str, str]:
    from gpu_inference_platform.program.stack_files import read_stack_file

    return read_stack_file(ROOT / f"Pulumi.{stack}.yaml")


M = "gpu-inference-platform:modelRepository"


@pytest.mark.parametrize(
    ("stack", "mutate", "expected"),
    [
        (
            "prod",
            set_key("fleet.spot", {"instanceTypes": ["g5.xlarge", "g6.xlarge", "g4dn.xlarge"], "gpuLimit": 16}),
            f"{M}.engineTargets = ['8.6', '8.9']: the fleet can launch compute capability 7.5 (g4dn.xlarge) but no TensorRT engine is built for it; add '7.5' or remove those types",
        ),
        (
            "dev",
            set_key("modelRepository.engineTargets", ["7.5", "8.6", "8.9", "6.1"]),
            f"{M}.engineTargets[3] = '6.1': not the compute capability of any GPU in the catalog; allowed: 7.5, 8.0, 8.6, 8.9, 9.0",
        ),
        (
            "dev",
            set_key("modelRepository.tensorrtImage", "nvcr.io/nvidia/tensorrt:24.12-py3"),
            f"{M}.tensorrtImage = 'nvcr.io/nvidia/tensorrt:24.12-py3': TensorRT release 24.12 differs from the Triton release 25.06 of triton; plans only load in the TensorRT they were built with",
        ),
        (
            "dev",
            set_key("serving.0.tritonImage", "nvcr.io/nvidia/tritonserver:latest"),
            "gpu-inference-platform:serving[0].tritonImage = 'nvcr.io/nvidia/tritonserver:latest': must be pinned to an NGC release: nvcr.io/nvidia/tritonserver:YY.MM-py3 (never 'latest' or untagged)",
        ),
        (
            "prod",
            set_key("serving.0.tritonImage", "nvcr.io/nvidia/tritonserver:25.05-py3"),
            "gpu-inference-platform:serving[0].tritonImage = 'nvcr.io/nvidia/tritonserver:25.05-py3': release 25.05 cannot bound request size "
            "(--http-max-input-size); use 25.06 or later",
        ),
        (
            "dev",
            set_key("modelRepository.tensorrtImage", "nvcr.io/nvidia/tensorrt"),
            f"{M}.tensorrtImage = 'nvcr.io/nvidia/tensorrt': must be pinned to an NGC release: nvcr.io/nvidia/tensorrt:YY.MM-py3 (never 'latest' or untagged)",
        ),
    ],
)
def test_engine_and_image_rules(stack: str, mutate: Any, expected: str) -> None:
    assert expected in config_issues(stack, mutate)


def _preview_error(tmp_path: Path, raw: dict[str, Any]) -> str:
    path = write_stack_file(tmp_path / "Pulumi.dev.yaml", raw)
    result = run_preview("dev", "--config", str(path))
    assert (result.returncode, "Traceback" in result.stderr) == (2, False)
    return result.stderr


def test_preview_fails_clearly_without_a_build(tmp_path: Path) -> None:
    raw = committed_raw("dev")
    raw["modelRepository"]["buildDir"] = str(tmp_path / "nowhere")
    assert _preview_error(tmp_path, raw).splitlines()[1] == (
        f"  - {M}.buildDir = '{tmp_path / 'nowhere'}': no built repository (manifest.json) there; "
        f"build it with: python -m scripts.build_models --target gpu --stack dev --out {tmp_path / 'nowhere'}"
    )


def test_preview_fails_when_the_build_has_other_engines(tmp_path: Path) -> None:
    stale = tmp_path / "stale"
    shutil.copytree(ROOT / "build/models/prod", stale)
    raw = committed_raw("dev")
    raw["modelRepository"]["buildDir"] = str(stale)
    assert "built with engines for ['8.6', '8.9'], but engineTargets is ['7.5', '8.6', '8.9']" in _preview_error(tmp_path, raw)
