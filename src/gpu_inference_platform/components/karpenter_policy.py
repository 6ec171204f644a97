"""Least-privilege IAM policy for the Karpenter controller of one cluster.

Launch and delete rights are scoped to resources tagged as owned by this cluster;
only describe/pricing calls (which IAM cannot scope to resources) use "*", limited
to the stack's region. It covers the upstream reference policy of the pinned
Karpenter version (`policy/references/karpenter-<version>.json`; the wiring check
W05 compares them on every preview).
"""

from __future__ import annotations

from dataclasses import dataclass

from gpu_inference_platform.components.iam import Statement, policy_document

_LAUNCH = ["ec2:RunInstances", "ec2:CreateFleet"]
_READ_ONLY_EC2 = [
    "ec2:DescribeAvailabilityZones",
    "ec2:DescribeCapacityReservations",
    "ec2:DescribeImages",
    "ec2:DescribeInstanceTypeOfferings",
    "ec2:DescribeInstanceTypes",
    "ec2:DescribeInstances",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribePlacementGroups",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSpotPriceHistory",
    "ec2:DescribeSubnets",
]


@dataclass(frozen=True)
class KarpenterScope:
    """Resolved identifiers the controller policy is scoped to."""

    partition: str
    region: str
    account_id: str
    cluster_name: str
    cluster_arn: str
    interruption_queue_arn: str
    node_role_arn: str


def karpenter_controller_policy(scope: KarpenterScope) -> str:
    """The controller's policy document for `scope`."""
    ec2 = f"arn:{scope.partition}:ec2:{scope.region}"
    owned = f"aws:ResourceTag/kubernetes.io/cluster/{scope.cluster_name}"
    requested = f"aws:RequestTag/kubernetes.io/cluster/{scope.cluster_name}"
    created = [f"{ec2}:*:{kind}/*" for kind in ("fleet", "instance", "volume", "network-interface", "launch-template", "spot-instances-request")]
    profile = f"arn:{scope.partition}:iam::{scope.account_id}:instance-profile/*"
    statements: list[Statement] = [
        {
            "Sid": "LaunchFromSharedResources",
            "Effect": "Allow",
            "Action": _LAUNCH,
            "Resource": [
                f"{ec2}::image/*",
                f"{ec2}::snapshot/*",
                f"{ec2}:*:security-group/*",
                f"{ec2}:*:subnet/*",
                f"{ec2}:*:capacity-reservation/*",
                f"{ec2}:*:placement-group/*",
            ],
        },
        {
            "Sid": "LaunchWithOwnedLaunchTemplates",
            "Effect": "Allow",
            "Action": _LAUNCH,
            "Resource": f"{ec2}:*:launch-template/*",
            "Condition": {"StringEquals": {owned: "owned"}},
        },
        {
            "Sid": "CreateOnlyClusterTaggedResources",
            "Effect": "Allow",
            "Action": [*_LAUNCH, "ec2:CreateLaunchTemplate"],
            "Resource": created,
            "Condition": {"StringEquals": {requested: "owned"}, "StringLike": {"aws:RequestTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "TagOnlyOnCreation",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": created,
            "Condition": {"StringEquals": {requested: "owned", "ec2:CreateAction": ["RunInstances", "CreateFleet", "CreateLaunchTemplate"]}},
        },
        {
            "Sid": "NameOwnedInstances",
            "Effect": "Allow",
            "Action": "ec2:CreateTags",
            "Resource": f"{ec2}:*:instance/*",
            "Condition": {
                "StringEquals": {owned: "owned"},
                "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"},
                "StringEqualsIfExists": {"aws:RequestTag/eks:eks-cluster-name": scope.cluster_name},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["eks:eks-cluster-name", "karpenter.sh/nodeclaim", "Name"]},
            },
        },
        {
            "Sid": "DeleteOnlyOwned",
            "Effect": "Allow",
            "Action": ["ec2:TerminateInstances", "ec2:DeleteLaunchTemplate"],
            "Resource": [f"{ec2}:*:instance/*", f"{ec2}:*:launch-template/*"],
            "Condition": {"StringEquals": {owned: "owned"}, "StringLike": {"aws:ResourceTag/karpenter.sh/nodepool": "*"}},
        },
        {
            "Sid": "RegionalReadOnly",
            "Effect": "Allow",
            "Action": _READ_ONLY_EC2,
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:RequestedRegion": scope.region}},
        },
        {"Sid": "PricingReadOnly", "Effect": "Allow", "Action": "pricing:GetProducts", "Resource": "*"},
        {
            "Sid": "ResolveAmis",
            "Effect": "Allow",
            "Action": "ssm:GetParameter",
            "Resource": f"arn:{scope.partition}:ssm:{scope.region}::parameter/aws/service/*",
        },
        {
            "Sid": "ConsumeInterruptionQueue",
            "Effect": "Allow",
            "Action": ["sqs:DeleteMessage", "sqs:GetQueueUrl", "sqs:ReceiveMessage"],
            "Resource": scope.interruption_queue_arn,
        },
        {
            "Sid": "PassNodeRole",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": scope.node_role_arn,
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        },
        {
            "Sid": "ManageOwnedInstanceProfiles",
            "Effect": "Allow",
            "Action": [
                "iam:CreateInstanceProfile",
                "iam:TagInstanceProfile",
                "iam:AddRoleToInstanceProfile",
                "iam:RemoveRoleFromInstanceProfile",
                "iam:DeleteInstanceProfile",
            ],
            "Resource": profile,
            "Condition": {"StringEquals": {owned: "owned", "aws:ResourceTag/topology.kubernetes.io/region": scope.region}},
        },
        {
            "Sid": "CreateOwnedInstanceProfiles",
            "Effect": "Allow",
            "Action": ["iam:CreateInstanceProfile", "iam:TagInstanceProfile"],
            "Resource": profile,
            "Condition": {"StringEquals": {requested: "owned", "aws:RequestTag/topology.kubernetes.io/region": scope.region}},
        },
        {"Sid": "ReadInstanceProfiles", "Effect": "Allow", "Action": "iam:GetInstanceProfile", "Resource": profile},
        {"Sid": "ListInstanceProfiles", "Effect": "Allow", "Action": "iam:ListInstanceProfiles", "Resource": "*"},
        {"Sid": "DescribeCluster", "Effect": "Allow", "Action": "eks:DescribeCluster", "Resource": scope.cluster_arn},
    ]
    return policy_document(statements)
