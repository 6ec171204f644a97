"""IAM and KMS building blocks shared by components: policy documents, roles, keys."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

Statement = dict[str, Any]


@dataclass(frozen=True)
class AccountContext:
    """Where the stack deploys: account id, partition and region (wiring, so `Input`s)."""

    account_id: pulumi.Input[str]
    partition: pulumi.Input[str]
    region: pulumi.Input[str]

    def managed_policy_arn(self, policy_name: str) -> pulumi.Output[str]:
        """ARN of an AWS-managed IAM policy in this partition."""
        return pulumi.Output.concat("arn:", self.partition, ":iam::aws:policy/", policy_name)


def policy_document(statements: Sequence[Statement]) -> str:
    """Serialise statements as an IAM policy document (stable key order)."""
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)}, sort_keys=True)


def deny_insecure_transport(service: str, resources: str | Sequence[str]) -> Statement:
    """Deny every `service:*` call on `resources` made without TLS."""
    return {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": f"{service}:*",
        "Resource": resources if isinstance(resources, str) else list(resources),
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


def service_trust_policy(service: str, *, source_account: str | None = None, actions: Sequence[str] = ("sts:AssumeRole",)) -> str:
    """Trust policy letting an AWS service principal assume a role (optionally pinned to one account)."""
    statement: Statement = {"Effect": "Allow", "Principal": {"Service": service}, "Action": list(actions)}
    if source_account is not None:
        statement["Condition"] = {"StringEquals": {"aws:SourceAccount": source_account}}
    return policy_document([statement])


def irsa_trust_policy(oidc_provider_arn: str, oidc_issuer_url: str, namespace: str, service_account: str) -> str:
    """Trust policy for IAM Roles for Service Accounts, scoped to exactly one service account."""
    issuer = oidc_issuer_url.removeprefix("https://")
    return policy_document(
        [
            {
                "Effect": "Allow",
                "Principal": {"Federated": oidc_provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        f"{issuer}:sub": f"system:serviceaccount:{namespace}:{service_account}",
                        f"{issuer}:aud": "sts.amazonaws.com",
                    }
                },
            }
        ]
    )


def service_account_role(
    name: str,
    *,
    oidc_provider_arn: pulumi.Input[str],
    oidc_issuer_url: pulumi.Input[str],
    namespace: str,
    service_account: str,
    opts: pulumi.ResourceOptions,
    force_detach_policies: bool = False,
) -> aws.iam.Role:
    """An IAM role assumable only by `namespace/service_account` through the cluster's OIDC provider.

    `force_detach_policies` for a role something outside Pulumi attaches policies to (a budget action): without it,
    deleting the role fails with DeleteConflict."""
    trust = pulumi.Output.all(oidc_provider_arn, oidc_issuer_url).apply(lambda a: irsa_trust_policy(a[0], a[1], namespace, service_account))
    return aws.iam.Role(
        name,
        assume_role_policy=trust,
        description=f"IRSA role for {namespace}/{service_account}",
        force_detach_policies=force_detach_policies or None,
        opts=opts,
    )


def encryption_key(name: str, *, description: str, account: AccountContext, for_cloudwatch_logs: bool, opts: pulumi.ResourceOptions) -> aws.kms.Key:
    """A customer-managed KMS key with rotation; administered by the account, optionally usable by CloudWatch Logs."""

    def key_policy(args: list[str]) -> str:
        account_id, partition, region = args
        statements: list[Statement] = [
            {
                "Sid": "AccountAdministration",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account_id}:root"},
                "Action": "kms:*",
                "Resource": "*",
            }
        ]
        if for_cloudwatch_logs:
            statements.append(
                {
                    "Sid": "CloudWatchLogsEncryption",
                    "Effect": "Allow",
                    "Principal": {"Service": f"logs.{region}.amazonaws.com"},
                    "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                    "Resource": "*",
                    "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{partition}:logs:{region}:{account_id}:log-group:*"}},
                }
            )
        return policy_document(statements)

    policy = pulumi.Output.all(account.account_id, account.partition, account.region).apply(key_policy)
    return aws.kms.Key(
        name,
        description=description,
        enable_key_rotation=True,
        deletion_window_in_days=30,
        policy=policy,
        opts=opts,
    )
