"""Private S3 buckets: the one hardened bucket recipe every component uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpu_inference_platform.components.iam import Statement, deny_insecure_transport, policy_document


def no_extra_statements(_bucket_arn: str) -> list[Statement]:
    """The default: nothing granted beyond the owner account."""
    return []


@dataclass(frozen=True)
class PrivateBucket:
    """A bucket and the guard resources that must exist before anything is written into it."""

    bucket: aws.s3.Bucket
    guards: list[pulumi.Resource]


def private_bucket(
    name: str,
    *,
    kms_key_arn: pulumi.Input[str] | None,
    noncurrent_version_days: int,
    expire_after_days: int | None = None,
    statements: Callable[[str], pulumi.Input[Sequence[Statement]]] = no_extra_statements,
    force_destroy: bool = False,
    opts: pulumi.ResourceOptions,
) -> PrivateBucket:
    """Owner-enforced, all public access blocked, encrypted (SSE-KMS with `kms_key_arn`, else SSE-S3), versioned,
    TLS-only, with old versions (and, optionally, current objects) expiring. `statements(bucket_arn)` adds grants.
    `force_destroy` lets `pulumi destroy` delete it with its objects and versions (non-production: a bucket that is
    written to is never empty, and a failed delete stops the teardown with the GPUs still running)."""
    bucket = aws.s3.Bucket(name, force_destroy=force_destroy, opts=opts)
    default_encryption = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
        sse_algorithm="aws:kms" if kms_key_arn is not None else "AES256", kms_master_key_id=kms_key_arn
    )
    guards: list[pulumi.Resource] = [
        aws.s3.BucketOwnershipControls(
            f"{name}-ownership", bucket=bucket.id, rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"), opts=opts
        ),
        aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=opts,
        ),
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=default_encryption, bucket_key_enabled=kms_key_arn is not None
                )
            ],
            opts=opts,
        ),
    ]
    versioning = aws.s3.BucketVersioning(
        f"{name}-versioning", bucket=bucket.id, versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"), opts=opts
    )

    def document(arn: str) -> pulumi.Output[str]:
        grants: pulumi.Output[Sequence[Statement]] = pulumi.Output.from_input(statements(arn))
        return grants.apply(lambda extra: policy_document([*extra, deny_insecure_transport("s3", [arn, f"{arn}/*"])]))

    policy_json: pulumi.Output[str] = bucket.arn.apply(document)
    policy = aws.s3.BucketPolicy(
        f"{name}-policy",
        bucket=bucket.id,
        policy=policy_json,
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=guards[:2])),
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        rules=[
            aws.s3.BucketLifecycleConfigurationRuleArgs(
                id="expire-old-objects",
                status="Enabled",
                filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_after_days) if expire_after_days else None,
                noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(noncurrent_days=noncurrent_version_days),
                abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(days_after_initiation=7),
            )
        ],
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[versioning])),
    )
    return PrivateBucket(bucket, [*guards, versioning, policy])
