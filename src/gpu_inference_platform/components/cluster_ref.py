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


@dataclass(frozen=True)
class ExistingCluster:
    """An EKS cluster this program does not manage: its handle, VPC and kubeconfig."""

    ref: ClusterRef
    """Pass as `cluster=` to SpotFleet, TritonServer, LoadBalancer and engine builds."""
    vpc_id: pulumi.Output[str]
    """The cluster's VPC."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig (secret) authenticating with `aws eks get-token`: `k8s.Provider(..., kubeconfig=...)`."""


def existing_cluster(name: str, region: str) -> ExistingCluster:
    """Look up an existing EKS cluster by name (a data source read at preview; nothing is created)."""
    import pulumi_aws as aws

    from gpu_inference_platform.components.kubeconfig import eks_kubeconfig

    found = aws.eks.get_cluster_output(name=name)
    issuer = found.identities.apply(lambda ids: ids[0].oidcs[0].issuer)
    account = aws.get_caller_identity_output().account_id
    partition = aws.get_partition_output().partition
    oidc_provider_arn = pulumi.Output.concat("arn:", partition, ":iam::", account, ":oidc-provider/", issuer.apply(lambda url: url.removeprefix("https://")))
    certificate = found.certificate_authorities.apply(lambda authorities: authorities[0].data)
    kubeconfig = pulumi.Output.all(found.endpoint, certificate).apply(lambda a: eks_kubeconfig(name, a[0], a[1], region))
    return ExistingCluster(
        ref=ClusterRef(
            name=found.name,
            arn=found.arn,
            endpoint=found.endpoint,
            oidc_provider_arn=oidc_provider_arn,
            oidc_issuer_url=issuer,
            security_group_id=found.vpc_config.cluster_security_group_id,
        ),
        vpc_id=found.vpc_config.vpc_id,
        kubeconfig=pulumi.Output.secret(kubeconfig),
    )
