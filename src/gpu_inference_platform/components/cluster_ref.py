"""ClusterRef: the handle of an EKS cluster that components deploy into.

`GpuCluster.ref` gives one for a cluster this program creates; for an existing
cluster, build it from its attributes (a stack reference, `aws.eks.get_cluster`, config).
The Kubernetes provider is not part of it: pass it through `opts.providers`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi


@dataclass(frozen=True)
class ClusterRef:
    """Identity and IRSA facts of one EKS cluster (wiring, so `Input`s)."""

    name: pulumi.Input[str]
    """Cluster name (Karpenter settings, discovery tags, access entries)."""
    arn: pulumi.Input[str]
    """Cluster ARN (scopes Karpenter's IAM)."""
    endpoint: pulumi.Input[str]
    """API server endpoint (Karpenter settings)."""
    oidc_provider_arn: pulumi.Input[str]
    """ARN of the cluster's IAM OIDC provider (IRSA trust policies)."""
    oidc_issuer_url: pulumi.Input[str]
    """The cluster's OIDC issuer URL, `https://oidc.eks.<region>.amazonaws.com/id/<id>`."""
    security_group_id: pulumi.Input[str]
    """Cluster security group: EKS attaches it to managed nodes, so pods (VPC CNI) carry it."""
