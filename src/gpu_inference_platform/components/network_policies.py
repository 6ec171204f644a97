"""NetworkPolicies shared by components: deny by default, then allow exactly what a namespace's pods need.

Enforced by the VPC CNI's network policy agent (`GpuCluster` enables it on the vpc-cni add-on).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
"""Label Kubernetes puts on every namespace with its name (namespace selectors use it)."""


def deny_all_but_dns_and_https(name: str, namespace: str, opts: pulumi.ResourceOptions) -> list[k8s.networking.v1.NetworkPolicy]:
    """Default deny (ingress and egress) for every pod of `namespace`, plus egress to cluster DNS and to HTTPS (S3 through
    the gateway endpoint, STS for IRSA; their addresses are AWS's, so port 443 is the narrowest rule a NetworkPolicy can state)."""
    deny: dict[str, Any] = {
        "metadata": {"name": f"{name}-default-deny", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    egress: dict[str, Any] = {
        "metadata": {"name": f"{name}-dns-and-https", "namespace": namespace},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: "kube-system"}}}],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                },
                {"ports": [{"protocol": "TCP", "port": 443}]},
            ],
        },
    }
    return [
        k8s.networking.v1.NetworkPolicy(f"{name}-default-deny", opts=opts, **deny),
        k8s.networking.v1.NetworkPolicy(f"{name}-dns-and-https", opts=opts, **egress),
    ]


def allow_ingress(
    name: str, namespace: str, pod_labels: Mapping[str, str], rules: Sequence[Mapping[str, Any]], opts: pulumi.ResourceOptions
) -> k8s.networking.v1.NetworkPolicy:
    """Ingress `rules` (NetworkPolicy `ingress` entries) to the pods with `pod_labels`."""
    policy: dict[str, Any] = {
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"podSelector": {"matchLabels": dict(pod_labels)}, "policyTypes": ["Ingress"], "ingress": list(rules)},
    }
    return k8s.networking.v1.NetworkPolicy(name, opts=opts, **policy)
