"""P20-P23: S3 buckets (model repository, access logs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from gpu_inference_platform.policy.model import Finding, Policy, Resource, Settings, Severity, Stack
from gpu_inference_platform.policy.values import as_list, is_true, mapping, principals, statements
from gpu_inference_platform.policy.workloads import WORKLOAD_TYPES, containers, pod_spec

BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = ("aws:s3/bucketVersioning:BucketVersioning", "aws:s3/bucketVersioningV2:BucketVersioningV2")
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
PUBLIC_ACCESS_FLAGS = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
KMS_ALGORITHMS = ("aws:kms", "aws:kms:dsse")

BucketCheck = Callable[[Stack, Resource], Iterator[str]]


def _companions(stack: Stack, bucket: Resource, *type_tokens: str) -> list[Resource]:
    return [r for t in type_tokens for r in stack.referencing(bucket, t, "bucket")]


def _per_bucket(check: BucketCheck) -> Callable[[Stack, Settings], Iterator[Finding]]:
    def run(stack: Stack, _: Settings) -> Iterator[Finding]:
        for bucket in stack.of_type(*BUCKETS):
            for message in check(stack, bucket):
                yield Finding(bucket, message)

    return run


def _public_access(stack: Stack, bucket: Resource) -> Iterator[str]:
    blocks = _companions(stack, bucket, PUBLIC_ACCESS_BLOCK)
    if not blocks:
        yield "bucket has no public access block"
    for block in blocks:
        off = [f for f in PUBLIC_ACCESS_FLAGS if not is_true(block.props.get(f))]
        if off:
            yield f"public access block leaves {', '.join(off)} off"


def _kms_encryption(stack: Stack, bucket: Resource) -> Iterator[str]:
    configs = _companions(stack, bucket, *ENCRYPTION)
    if not configs:
        yield "bucket has no default encryption configuration"
    for config in configs:
        for rule in as_list(config.props.get("rules")):
            default = mapping(mapping(rule).get("applyServerSideEncryptionByDefault"))
            algorithm = default.get("sseAlgorithm")
            if algorithm not in KMS_ALGORITHMS:
                yield f"default encryption is {algorithm} (required: aws:kms with a customer key)"
            elif not default.get("kmsMasterKeyId"):
                yield "default encryption uses the AWS managed key (set kmsMasterKeyId to a customer key)"


def _versioning(stack: Stack, bucket: Resource) -> Iterator[str]:
    configs = _companions(stack, bucket, *VERSIONING)
    if not any(mapping(c.props.get("versioningConfiguration")).get("status") == "Enabled" for c in configs):
        yield "versioning is not enabled"


def _denies_insecure_transport(statement: object) -> bool:
    statement = mapping(statement)
    condition = mapping(mapping(statement.get("Condition")).get("Bool"))
    actions = as_list(statement.get("Action"))
    return (
        statement.get("Effect") == "Deny"
        and principals(statement, "AWS") == ["*"]
        and any(a in ("s3:*", "*") for a in actions)
        and str(condition.get("aws:SecureTransport")).lower() == "false"
    )


def _tls_only(stack: Stack, bucket: Resource) -> Iterator[str]:
    policies = _companions(stack, bucket, BUCKET_POLICY)
    if not any(_denies_insecure_transport(s) for p in policies for s in statements(p.props.get("policy"))):
        yield "no bucket policy statement denies s3:* to any principal when aws:SecureTransport is false"


def _upload_keys(resource: Resource, _: Settings) -> Iterator[str]:
    for container in containers(pod_spec(resource.type, resource.props)):
        command = [str(part) for part in [*as_list(container.get("command")), *as_list(container.get("args"))]]
        if "--sse" in command and "aws:kms" in command and "--sse-kms-key-id" not in command:
            name = container.get("name")
            yield f"container {name} uploads with --sse aws:kms and no --sse-kms-key-id: the AWS-managed key, which readers of the bucket cannot use"


POLICIES = [
    Policy(
        "P20",
        "p20-s3-public-access-block",
        "Every bucket has a public access block with all four flags on.",
        Severity.CRITICAL,
        "Use components.s3.private_bucket (it adds the block with all four flags).",
        "CKV_AWS_53, CKV_AWS_54, CKV_AWS_55, CKV_AWS_56",
        check_stack=_per_bucket(_public_access),
    ),
    Policy(
        "P21",
        "p21-s3-sse-kms",
        "Buckets encrypt by default with SSE-KMS and a customer-managed key.",
        Severity.HIGH,
        "Give private_bucket a rotating customer KMS key. ALB access-log buckets only support SSE-S3: waive them with that reason.",
        "CKV_AWS_145",
        check_stack=_per_bucket(_kms_encryption),
    ),
    Policy(
        "P22",
        "p22-s3-versioning",
        "Buckets keep object versions (model rollback).",
        Severity.MEDIUM,
        "Add a BucketVersioning with status Enabled (private_bucket does) and expire noncurrent versions.",
        "CKV_AWS_21",
        check_stack=_per_bucket(_versioning),
    ),
    Policy(
        "P23",
        "p23-s3-tls-only",
        "Bucket policies deny every request that does not use TLS.",
        Severity.HIGH,
        'Add a Deny of s3:* for Principal "*" when aws:SecureTransport is false (components.iam.deny_insecure_transport).',
        "CKV_AWS_379",
        check_stack=_per_bucket(_tls_only),
    ),
    Policy(
        "P32",
        "p32-uploads-use-the-bucket-key",
        "Objects a workload uploads with SSE-KMS name the bucket's customer key.",
        Severity.HIGH,
        "Pass --sse-kms-key-id with the bucket's key ARN (ModelRepository's engine Jobs do).",
        "S3 user guide: SSE-KMS; aws s3 cp --sse-kms-key-id",
        WORKLOAD_TYPES,
        check_resource=_upload_keys,
    ),
]
