"""ModelRepository: a hardened S3 bucket holding content-addressed model builds, read-only access
for serving, and engine-build Jobs for every GPU family of the fleet (TensorRT plans, TensorRT-LLM engines).

Objects are published under `models/<tree-hash>/`: unchanged content gives identical
resources (no diff); a new build adds a new prefix and leaves the old one in place
(`retain_on_delete`), so running pods and rollbacks keep their files.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.cluster_ref import ClusterRef
from gpu_inference_platform.components.constants import AWAIT_TIMEOUT_ANNOTATION, DEFAULT_AWS_CLI_IMAGE, GPU_RESOURCE, GPU_TOLERATION, INSTANCE_TYPE_LABEL
from gpu_inference_platform.components.iam import AccountContext, encryption_key, policy_document, service_account_role
from gpu_inference_platform.components.model_manifest import MANIFEST_NAME, Manifest
from gpu_inference_platform.components.network_policies import deny_all_but_dns_and_https
from gpu_inference_platform.components.pods import RESTRICTED_CONTAINER_CONTEXT, RESTRICTED_POD_CONTEXT, RESTRICTED_POD_SECURITY, aws_cli_container
from gpu_inference_platform.components.s3 import private_bucket
from gpu_inference_platform.components.tensorrt_engines import TIMING_CACHE_FILE, EngineProfile, LlmEngineBuild
from gpu_inference_platform.components.validation import ConfigIssue, check_args

_WORK_DIR = "/work"
JOB_AWAIT_MARGIN_S = 300
"""How long past a Job's own deadline Pulumi keeps awaiting it, so the Job's status (not the await) decides the outcome."""
PLAN_WORK_VOLUME = "4Gi"
LLM_WORK_VOLUME = "64Gi"
"""Scratch of an LLM engine Job: the Hugging Face checkpoint, the TensorRT-LLM checkpoint and the engine, each about the weights' size."""


@dataclass(frozen=True)
class EngineBuildArgs:
    """How TensorRT plans and TensorRT-LLM engines are built on the fleet's GPUs."""

    tensorrt_image: str
    """`nvcr.io/nvidia/tensorrt:YY.MM-py3` of the same NGC release as the Triton image (plans only load in the TensorRT that built them)."""
    profiles: Mapping[str, EngineProfile | LlmEngineBuild]
    """Plan path -> dynamic-shape profile, engine folder -> TensorRT-LLM build, as the model build planned them (`engine-plan.json`)."""
    instance_types_by_capability: Mapping[str, Sequence[str]]
    """Fleet instance types per compute capability (a Job lands on one of them); capabilities absent here get no Job."""
    cluster: ClusterRef
    """The cluster the Jobs run in (IRSA trust of the builder role)."""
    aws_cli_image: str = DEFAULT_AWS_CLI_IMAGE
    """Image of the fetch and upload steps."""
    active_deadline_s: int = 3600
    """A Job that has not finished by then fails (and `pulumi up` with it)."""
    tensorrt_llm_image: str | None = None
    """`nvcr.io/nvidia/tritonserver:YY.MM-trtllm-python-py3` that serves the TensorRT-LLM engines (required when the build has any)."""

    def __post_init__(self) -> None:
        issues = []
        if self.active_deadline_s < 1:
            issues.append(ConfigIssue("EngineBuildArgs.active_deadline_s", self.active_deadline_s, "must be at least 1"))
        llm = sorted(path for path, build in self.profiles.items() if isinstance(build, LlmEngineBuild))
        if llm and not self.tensorrt_llm_image:
            issues.append(ConfigIssue("EngineBuildArgs.tensorrt_llm_image", self.tensorrt_llm_image, f"required: the build has TensorRT-LLM engines {llm}"))
        check_args(self, issues)


@dataclass(frozen=True)
class ModelRepositoryArgs:
    """The built repository to publish and where."""

    repository_dir: Path
    """A folder written by `python -m scripts.build_models` (holds `manifest.json`)."""
    manifest: Manifest
    """Its manifest (`model_manifest.load_manifest(repository_dir)`); every listed file is uploaded."""
    account: AccountContext
    """Account, partition and region (key policy, KMS via-service condition)."""
    noncurrent_version_days: int = 90
    """Days an overwritten or deleted object version is kept before it expires."""
    engines: EngineBuildArgs | None = None
    """Engine Jobs (gpu builds); None for a repository without TensorRT plans."""
    force_destroy: bool = False
    """`pulumi destroy` deletes the bucket with every build in it (non-production); otherwise the bucket must be emptied first."""

    def __post_init__(self) -> None:
        issues = []
        if self.noncurrent_version_days < 1:
            issues.append(ConfigIssue("ModelRepositoryArgs.noncurrent_version_days", self.noncurrent_version_days, "must be at least 1"))
        if self.engines is not None:
            for plan in sorted(set(self.manifest.engines) - set(self.engines.profiles)):
                issues.append(ConfigIssue("ModelRepositoryArgs.engines.profiles", plan, "the manifest declares this plan but no build profile does"))
        check_args(self, issues)


def objects_prefix(manifest: Manifest) -> str:
    """The content-addressed key prefix of a build."""
    return f"models/{manifest.tree_hash}/"


class ModelRepository(PlatformComponent):
    """Versioned, KMS-encrypted, TLS-only bucket with one immutable prefix per build."""

    bucket_name: pulumi.Output[str]
    """Name of the model bucket."""
    prefix: str
    """`models/<tree-hash>/` of the published build (plain data)."""
    tree_hash: str
    """Tree hash of the published build (deployments carry it)."""
    kms_key_arn: pulumi.Output[str]
    """Key that encrypts every object."""
    read_policy_arn: pulumi.Output[str]
    """Managed policy granting Get/List on this build's prefix only (attach to the serving role)."""
    engine_job_names: list[str]
    """Kubernetes Jobs that build engines (one per engine whose compute capability the fleet can launch; empty without engines)."""
    bucket: aws.s3.Bucket
    """The bucket resource."""

    def __init__(self, name: str, args: ModelRepositoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelrepository", "ModelRepository", name, opts)
        manifest = args.manifest
        self.prefix = objects_prefix(manifest)
        self.tree_hash = manifest.tree_hash

        key = encryption_key(f"{name}-bucket", description="model repository objects", account=args.account, for_cloudwatch_logs=False, opts=self.child())
        storage = private_bucket(
            f"{name}-bucket",
            kms_key_arn=key.arn,
            noncurrent_version_days=args.noncurrent_version_days,
            force_destroy=args.force_destroy,
            opts=self.child(),
        )
        bucket = storage.bucket
        uploads = self._upload(name, args, bucket, key, storage.guards)
        self.read_policy_arn = aws.iam.Policy(
            f"{name}-read",
            description=f"Read-only access to model build {manifest.short_hash}",
            policy=pulumi.Output.all(bucket.arn, key.arn, args.account.region).apply(lambda a: self._read_policy(a[0], a[1], a[2])),
            opts=self.child(),
        ).arn
        self.engine_job_names = []
        if args.engines is not None and manifest.engines:
            self.engine_job_names = self._engine_jobs(name, args, args.engines, bucket=bucket, key=key, uploads=uploads)

        self.bucket = bucket
        self.bucket_name = bucket.bucket
        self.kms_key_arn = key.arn
        self.register_outputs(self.public_outputs())

    def _upload(
        self, name: str, args: ModelRepositoryArgs, bucket: aws.s3.Bucket, key: aws.kms.Key, guards: list[pulumi.Resource]
    ) -> dict[str, aws.s3.BucketObjectv2]:
        """Every manifest file plus the manifest, under the build's content-addressed prefix."""
        short = args.manifest.short_hash
        return {
            path: aws.s3.BucketObjectv2(
                f"{name}-{short}-{path}",
                bucket=bucket.id,
                key=f"{self.prefix}{path}",
                source=pulumi.FileAsset(str(args.repository_dir / path)),
                server_side_encryption="aws:kms",
                kms_key_id=key.arn,
                opts=self.child(depends_on=guards, retain_on_delete=True),
            )
            for path in [*sorted(args.manifest.files), MANIFEST_NAME]
        }

    def _read_policy(self, bucket_arn: str, key_arn: str, region: str) -> str:
        """Get/List on this build's prefix; Decrypt only through S3."""
        return policy_document(
            [
                {"Sid": "ReadModelObjects", "Effect": "Allow", "Action": ["s3:GetObject", "s3:GetObjectVersion"], "Resource": f"{bucket_arn}/{self.prefix}*"},
                {
                    "Sid": "ListModelPrefix",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": f"{self.prefix}*"}},
                },
                {
                    "Sid": "DecryptThroughS3",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": key_arn,
                    "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
                },
            ]
        )

    def _engine_jobs(
        self,
        name: str,
        args: ModelRepositoryArgs,
        engines: EngineBuildArgs,
        *,
        bucket: aws.s3.Bucket,
        key: aws.kms.Key,
        uploads: Mapping[str, aws.s3.BucketObjectv2],
    ) -> list[str]:
        """One Job per plan the fleet can build (its GPU family is launchable): fetch the ONNX, `trtexec`, upload the plan next to it."""
        namespace = k8s.core.v1.Namespace(
            f"{name}-engines",
            metadata={"name": f"{name}-engines", "labels": RESTRICTED_POD_SECURITY},
            opts=self.child(),
        )
        deny_all_but_dns_and_https(f"{name}-engines", f"{name}-engines", self.child(depends_on=[namespace]))
        service_account = f"{name}-engine-builder"
        role = service_account_role(
            service_account,
            oidc_provider_arn=engines.cluster.oidc_provider_arn,
            oidc_issuer_url=engines.cluster.oidc_issuer_url,
            namespace=f"{name}-engines",
            service_account=service_account,
            opts=self.child(),
        )
        plans = sorted(args.manifest.engines)
        aws.iam.RolePolicy(
            service_account,
            role=role.id,
            policy=pulumi.Output.all(bucket.arn, key.arn).apply(lambda a: self._builder_policy(a[0], a[1], plans, args.account)),
            opts=self.child(),
        )
        k8s.core.v1.ServiceAccount(
            service_account,
            metadata={"name": service_account, "namespace": namespace.metadata["name"], "annotations": {"eks.amazonaws.com/role-arn": role.arn}},
            automount_service_account_token=False,
            opts=self.child(),
        )
        buildable = [plan for plan in plans if args.manifest.engines[plan] in engines.instance_types_by_capability]
        job_names = []
        for target in buildable:
            capability, build = args.manifest.engines[target], engines.profiles[target]
            job_name, source = _job_identity(args.manifest.short_hash, target, capability, build)
            job: dict[str, Any] = {
                "metadata": {
                    "name": job_name,
                    "namespace": namespace.metadata["name"],
                    "labels": {"gpuinfra.io/model-tree": args.manifest.short_hash},
                    # Pulumi awaits the Job past its whole deadline (GPU node, image pull, build), not the provider's default 10 minutes.
                    "annotations": {AWAIT_TIMEOUT_ANNOTATION: str(engines.active_deadline_s + JOB_AWAIT_MARGIN_S)},
                },
                "spec": pulumi.Output.all(bucket.bucket, key.arn).apply(
                    lambda a, t=target, cc=capability, b=build: self._job_spec(  # type: ignore[misc]
                        engines,
                        service_account=service_account,
                        capability=cc,
                        steps=self._build_steps(engines, f"s3://{a[0]}/{self.prefix}", a[1], t, b),
                        work_size=LLM_WORK_VOLUME if isinstance(b, LlmEngineBuild) else PLAN_WORK_VOLUME,
                    )
                ),
            }
            sources = [uploads[path] for path in sorted(args.manifest.files) if path.startswith(source)]
            k8s.batch.v1.Job(f"{name}-{job_name}", opts=self.child(depends_on=sources), **job)
            job_names.append(job_name)
        return job_names

    def _builder_policy(self, bucket_arn: str, key_arn: str, plans: Sequence[str], account: AccountContext) -> str:
        """Read (and list, for folder copies) this build; write only its declared plans and into its declared engine folders."""
        written = [f"{bucket_arn}/{self.prefix}{plan}{'*' if plan.endswith('/') else ''}" for plan in plans]
        return policy_document(
            [
                {"Sid": "ReadBuild", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/{self.prefix}*"},
                {
                    "Sid": "ListBuild",
                    "Effect": "Allow",
                    "Action": "s3:ListBucket",
                    "Resource": bucket_arn,
                    "Condition": {"StringLike": {"s3:prefix": f"{self.prefix}*"}},
                },
                {"Sid": "WritePlans", "Effect": "Allow", "Action": "s3:PutObject", "Resource": written},
                {"Sid": "UseBucketKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key_arn},
            ]
        )

    def _build_steps(self, engines: EngineBuildArgs, s3: str, key_arn: str, target: str, build: EngineProfile | LlmEngineBuild) -> list[dict[str, Any]]:
        """Fetch (aws-cli), build (1 GPU of the family), upload (aws-cli): a TensorRT plan from the ONNX, or a TensorRT-LLM engine from the checkpoint."""
        work = [{"name": "work", "mountPath": _WORK_DIR}, {"name": "tmp", "mountPath": "/tmp"}]
        encrypt = ["--sse", "aws:kms", "--sse-kms-key-id", key_arn]
        # The root filesystem is read-only: the tools run in the work volume, and HOME, TMPDIR and the timing cache are on mounts.
        build_step: dict[str, Any] = {
            "name": "build-engine",
            "workingDir": _WORK_DIR,
            "env": [{"name": "HOME", "value": "/tmp"}, {"name": "TMPDIR", "value": "/tmp"}],
            "securityContext": RESTRICTED_CONTAINER_CONTEXT,
            "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "2", "memory": "16Gi", GPU_RESOURCE: 1}},
            "volumeMounts": work,
        }
        timing_cache = f"{_WORK_DIR}/{TIMING_CACHE_FILE}"
        if isinstance(build, LlmEngineBuild):
            checkpoint, engine = f"{_WORK_DIR}/checkpoint", f"{_WORK_DIR}/engine"
            convert, compile_engine = build.convert_command(f"{_WORK_DIR}/hf", checkpoint), build.build_command(checkpoint, engine, timing_cache)
            return [
                aws_cli_container("fetch-checkpoint", engines.aws_cli_image, ["s3", "cp", "--recursive", f"{s3}{build.checkpoint}", f"{_WORK_DIR}/hf"], work),
                {**build_step, "image": engines.tensorrt_llm_image, "command": ["sh", "-c", f"{shlex.join(convert)} && {shlex.join(compile_engine)}"]},
                aws_cli_container("upload-engine", engines.aws_cli_image, ["s3", "cp", "--recursive", engine, f"{s3}{target}", *encrypt], work),
            ]
        onnx, plan_file = f"{Path(target).parent.as_posix()}/model.onnx", Path(target).name
        trtexec = ["trtexec", *build.trtexec_args(f"{_WORK_DIR}/model.onnx", f"{_WORK_DIR}/{plan_file}", timing_cache)]
        return [
            aws_cli_container("fetch-onnx", engines.aws_cli_image, ["s3", "cp", f"{s3}{onnx}", f"{_WORK_DIR}/model.onnx"], work),
            {**build_step, "image": engines.tensorrt_image, "command": trtexec},
            aws_cli_container("upload-plan", engines.aws_cli_image, ["s3", "cp", f"{_WORK_DIR}/{plan_file}", f"{s3}{target}", *encrypt], work),
        ]

    def _job_spec(self, engines: EngineBuildArgs, *, service_account: str, capability: str, steps: list[dict[str, Any]], work_size: str) -> dict[str, Any]:
        """The build steps in one pod on a GPU of this family: fetch and build as init containers, upload last."""
        return {
            "backoffLimit": 2,
            "activeDeadlineSeconds": engines.active_deadline_s,
            "template": {
                "metadata": {"labels": {"gpuinfra.io/engine-cc": capability}},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": service_account,
                    "automountServiceAccountToken": False,
                    "securityContext": RESTRICTED_POD_CONTEXT,
                    "tolerations": [GPU_TOLERATION],
                    "affinity": {
                        "nodeAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": {
                                "nodeSelectorTerms": [
                                    {
                                        "matchExpressions": [
                                            {
                                                "key": INSTANCE_TYPE_LABEL,
                                                "operator": "In",
                                                "values": sorted(engines.instance_types_by_capability[capability]),
                                            }
                                        ]
                                    }
                                ]
                            }
                        }
                    },
                    "initContainers": steps[:-1],
                    "containers": steps[-1:],
                    "volumes": [{"name": "work", "emptyDir": {"sizeLimit": work_size}}, {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
                },
            },
        }


def _job_identity(short_hash: str, target: str, capability: str, build: EngineProfile | LlmEngineBuild) -> tuple[str, str]:
    """(Job name, build-relative prefix of the files it reads): `trt-<tree>-cc86` for a plan, `trtllm-<tree>-<model>-cc89-tp1` for an LLM engine."""
    cc = capability.replace(".", "")
    if isinstance(build, LlmEngineBuild):
        model = target.split("/", 1)[0].replace("_", "-")
        return f"trtllm-{short_hash}-{model}-cc{cc}-tp{build.tensor_parallel}"[:63].rstrip("-"), build.checkpoint
    return f"trt-{short_hash}-cc{cc}", f"{Path(target).parent.as_posix()}/model.onnx"
