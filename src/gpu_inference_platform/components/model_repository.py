"""ModelRepository: a hardened S3 bucket holding content-addressed model builds, read-only access
for serving, and TensorRT engine-build Jobs for every GPU family of the fleet.

Objects are published under `models/<tree-hash>/`: unchanged content gives identical
resources (no diff); a new build adds a new prefix and leaves the old one in place
(`retain_on_delete`), so running pods and rollbacks keep their files.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.cluster_ref import ClusterRef
from gpu_inference_platform.components.constants import DEFAULT_AWS_CLI_IMAGE, GPU_RESOURCE, GPU_TOLERATION, INSTANCE_TYPE_LABEL
from gpu_inference_platform.components.iam import AccountContext, encryption_key, policy_document, service_account_role
from gpu_inference_platform.components.model_manifest import MANIFEST_NAME, Manifest
from gpu_inference_platform.components.network_policies import deny_all_but_dns_and_https
from gpu_inference_platform.components.pods import RESTRICTED_CONTAINER_CONTEXT, RESTRICTED_POD_CONTEXT, RESTRICTED_POD_SECURITY, aws_cli_container
from gpu_inference_platform.components.s3 import private_bucket
from gpu_inference_platform.components.tensorrt_engines import EngineProfile
from gpu_inference_platform.components.validation import ConfigIssue, check_args

_WORK_DIR = "/work"


@dataclass(frozen=True)
class EngineBuildArgs:
    """How TensorRT plans are built on the fleet's GPUs."""

    tensorrt_image: str
    """`nvcr.io/nvidia/tensorrt:YY.MM-py3` of the same NGC release as the Triton image (plans only load in the TensorRT that built them)."""
    profiles: Mapping[str, EngineProfile]
    """Plan path -> dynamic-shape profile, as the model build planned it (`engine-plan.json`)."""
    instance_types_by_capability: Mapping[str, Sequence[str]]
    """Fleet instance types per compute capability (a Job lands on one of them); capabilities absent here get no Job."""
    cluster: ClusterRef
    """The cluster the Jobs run in (IRSA trust of the builder role)."""
    aws_cli_image: str = DEFAULT_AWS_CLI_IMAGE
    """Image of the fetch and upload steps."""
    active_deadline_s: int = 3600
    """A Job that has not finished by then fails (and `pulumi up` with it)."""

    def __post_init__(self) -> None:
        issues = []
        if self.active_deadline_s < 1:
            issues.append(ConfigIssue("EngineBuildArgs.active_deadline_s", self.active_deadline_s, "must be at least 1"))
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
    """Kubernetes Jobs that build TensorRT plans (one per buildable compute capability; empty without engines)."""
    bucket: aws.s3.Bucket
    """The bucket resource."""

    def __init__(self, name: str, args: ModelRepositoryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("modelrepository", "ModelRepository", name, opts)
        manifest = args.manifest
        self.prefix = objects_prefix(manifest)
        self.tree_hash = manifest.tree_hash

        key = encryption_key(f"{name}-bucket", description="model repository objects", account=args.account, for_cloudwatch_logs=False, opts=self.child())
        storage = private_bucket(f"{name}-bucket", kms_key_arn=key.arn, noncurrent_version_days=args.noncurrent_version_days, opts=self.child())
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
        for plan in buildable:
            onnx = f"{Path(plan).parent.as_posix()}/model.onnx"
            capability = args.manifest.engines[plan]
            job_name = f"trt-{args.manifest.short_hash}-cc{capability.replace('.', '')}"
            job: dict[str, Any] = {
                "metadata": {"name": job_name, "namespace": namespace.metadata["name"], "labels": {"gpuinfra.io/model-tree": args.manifest.short_hash}},
                "spec": pulumi.Output.all(bucket.bucket, key.arn).apply(
                    lambda a, p=plan, o=onnx, cc=capability: self._job_spec(  # type: ignore[misc]
                        engines, service_account=service_account, bucket=a[0], key_arn=a[1], plan=p, onnx=o, capability=cc
                    )
                ),
            }
            k8s.batch.v1.Job(f"{name}-{job_name}", opts=self.child(depends_on=[uploads[onnx]]), **job)
            job_names.append(job_name)
        return job_names

    def _builder_policy(self, bucket_arn: str, key_arn: str, plans: Sequence[str], account: AccountContext) -> str:
        """Read this build's ONNX; write only its declared plan objects."""
        return policy_document(
            [
                {"Sid": "ReadBuild", "Effect": "Allow", "Action": "s3:GetObject", "Resource": f"{bucket_arn}/{self.prefix}*"},
                {"Sid": "WritePlans", "Effect": "Allow", "Action": "s3:PutObject", "Resource": [f"{bucket_arn}/{self.prefix}{plan}" for plan in plans]},
                {"Sid": "UseBucketKey", "Effect": "Allow", "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": key_arn},
            ]
        )

    def _job_spec(self, engines: EngineBuildArgs, *, service_account: str, bucket: str, key_arn: str, plan: str, onnx: str, capability: str) -> dict[str, Any]:
        """Fetch (aws-cli) -> build (TensorRT, 1 GPU of this family) -> upload (aws-cli), in one pod."""
        plan_file = Path(plan).name
        s3 = f"s3://{bucket}/{self.prefix}"
        work = [{"name": "work", "mountPath": _WORK_DIR}, {"name": "tmp", "mountPath": "/tmp"}]

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
                    "initContainers": [
                        aws_cli_container("fetch-onnx", engines.aws_cli_image, ["s3", "cp", f"{s3}{onnx}", f"{_WORK_DIR}/model.onnx"], work),
                        {
                            "name": "build-engine",
                            "image": engines.tensorrt_image,
                            "command": ["trtexec", *engines.profiles[plan].trtexec_args(f"{_WORK_DIR}/model.onnx", f"{_WORK_DIR}/{plan_file}")],
                            "securityContext": RESTRICTED_CONTAINER_CONTEXT,
                            "resources": {"requests": {"cpu": "2", "memory": "8Gi"}, "limits": {"cpu": "2", "memory": "16Gi", GPU_RESOURCE: 1}},
                            "volumeMounts": work,
                        },
                    ],
                    "containers": [
                        aws_cli_container(
                            "upload-plan",
                            engines.aws_cli_image,
                            ["s3", "cp", f"{_WORK_DIR}/{plan_file}", f"{s3}{plan}", "--sse", "aws:kms", "--sse-kms-key-id", key_arn],
                            work,
                        )
                    ],
                    "volumes": [{"name": "work", "emptyDir": {"sizeLimit": "4Gi"}}, {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}}],
                },
            },
        }
