"""W09: reachability. Every flow the design needs is allowed by the plan's security groups and NetworkPolicies, and no
client reaches a model port without passing the load balancer's WAF.

The flows: the in-VPC runner to the Kubernetes API (443), the ALB to the serving pods (HTTP 8000), Prometheus to
their metrics (8002), every namespace's pods out to HTTPS (S3, STS, ECR). EKS's cluster security group accepts only
itself (EKS user guide, "security group requirements"), so each flow from outside it needs its own rule.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping
from typing import Any

from gpu_inference_platform.components.constants import TRITON_GRPC_PORT, TRITON_HTTP_PORT, TRITON_METRICS_PORT
from gpu_inference_platform.policy.checks.capacity import HELM_RELEASE
from gpu_inference_platform.policy.checks.cluster import EKS_CLUSTER
from gpu_inference_platform.policy.checks.kubernetes import NETWORK_POLICY
from gpu_inference_platform.policy.checks.network import INGRESS_RULE, SECURITY_GROUP, rule_ports
from gpu_inference_platform.policy.checks.wiring import DEPLOYMENT
from gpu_inference_platform.policy.model import Finding, Policy, Resource, Settings, Severity, Stack
from gpu_inference_platform.policy.values import as_list, mapping
from gpu_inference_platform.policy.workloads import namespace, pod_spec, serving_containers

EGRESS_RULE = "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule"
CODEBUILD_PROJECT = "aws:codebuild/project:Project"
LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
SUBNET = "aws:ec2/subnet:Subnet"
WAF_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
API_PORT = 443
PROMETHEUS_CHART = "kube-prometheus-stack"


def _group_admits(stack: Stack, target: Resource, sources: list[Resource], port: int) -> bool:
    """An ingress rule of `target` (a security group or the EKS cluster's own group) admits one of `sources` on `port`."""
    source_urns = {s.urn for s in sources}
    for rule in stack.of_type(INGRESS_RULE):
        into = {r.urn for r in stack.referenced(rule, "securityGroupId")}
        if target.urn in into and port in rule_ports(rule.props) and source_urns & {r.urn for r in stack.referenced(rule, "referencedSecurityGroupId")}:
            return True
    return False


def _group_sends(stack: Stack, groups: list[Resource], port: int) -> bool:
    """An egress rule of one of `groups` allows `port`."""
    urns = {g.urn for g in groups}
    return any(urns & {r.urn for r in stack.referenced(rule, "securityGroupId")} and port in rule_ports(rule.props) for rule in stack.of_type(EGRESS_RULE))


def _runner_to_api(stack: Stack) -> Iterator[Finding]:
    for project in stack.of_type(CODEBUILD_PROJECT):
        groups = stack.referenced(project, "vpcConfig", SECURITY_GROUP)
        if not groups:
            continue
        names = ", ".join(g.name for g in groups)
        if not _group_sends(stack, groups, API_PORT):
            yield Finding(project, f"runner {project.name} ({names}) has no egress on {API_PORT}, so it cannot reach the Kubernetes API")
        for cluster in stack.of_type(EKS_CLUSTER):
            if not _group_admits(stack, cluster, groups, API_PORT):
                yield Finding(
                    project,
                    f"runner {project.name} ({names}) cannot reach the API of {cluster.name}: its cluster security group admits no rule from "
                    f"{names} on {API_PORT} (it accepts only itself)",
                )


def _serving_namespaces(stack: Stack) -> list[str]:
    found = {namespace(d.props) for d in stack.of_type(DEPLOYMENT) if serving_containers(pod_spec(d.type, d.props))}
    return sorted(n for n in found if n)


def _ingress_entries(stack: Stack, in_namespace: str) -> list[tuple[Resource, Mapping[str, Any]]]:
    return [
        (policy, mapping(entry))
        for policy in stack.of_type(NETWORK_POLICY)
        if namespace(policy.props) == in_namespace
        for entry in as_list(mapping(policy.props.get("spec")).get("ingress"))
    ]


def _entry_ports(entry: Mapping[str, Any]) -> set[int]:
    """Numbered ports of an entry (named ports never match a number; CrossGuard hands numbers over as floats)."""
    return {int(p["port"]) for p in map(mapping, as_list(entry.get("ports"))) if isinstance(p.get("port"), int | float)}


def _ip_blocks(entry: Mapping[str, Any]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(str(mapping(peer.get("ipBlock"))["cidr"])) for peer in map(mapping, as_list(entry.get("from"))) if "ipBlock" in peer]


def _subnet_ranges(stack: Stack, balancer: Resource) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    found = [ipaddress.ip_network(str(s.props["cidrBlock"])) for s in stack.referenced(balancer, "subnets", SUBNET) if s.props.get("cidrBlock")]
    return sorted(found, key=lambda network: (network.version, int(network.network_address)))


def _alb_to_pods(stack: Stack) -> Iterator[Finding]:
    serving = _serving_namespaces(stack)
    eks = stack.of_type(EKS_CLUSTER)
    for balancer in stack.of_type(LOAD_BALANCER):
        groups = stack.referenced(balancer, "securityGroups", SECURITY_GROUP)
        if not _group_sends(stack, groups, TRITON_HTTP_PORT):
            yield Finding(balancer, f"the ALB's security groups allow no egress to Triton HTTP ({TRITON_HTTP_PORT})")
        for cluster in eks:
            if not _group_admits(stack, cluster, groups, TRITON_HTTP_PORT):
                yield Finding(balancer, f"the cluster security group of {cluster.name} (the pods' ENIs) admits nothing from the ALB on {TRITON_HTTP_PORT}")
        subnets = _subnet_ranges(stack, balancer)
        guarded = bool(stack.referencing(balancer, WAF_ASSOCIATION, "resourceArn"))
        for ns in serving:
            entries = _ingress_entries(stack, ns)
            allowed = [block for _, entry in entries if TRITON_HTTP_PORT in _entry_ports(entry) for block in _ip_blocks(entry)]
            for subnet in subnets:
                if not any(subnet.subnet_of(block) for block in allowed if block.version == subnet.version):  # type: ignore[arg-type]
                    yield Finding(balancer, f"no NetworkPolicy in {ns} lets the ALB's subnet {subnet} reach Triton HTTP ({TRITON_HTTP_PORT})")
            if not guarded:
                continue
            for policy, entry in entries:
                model_ports = sorted(_entry_ports(entry) & {TRITON_HTTP_PORT, TRITON_GRPC_PORT})
                for block in _ip_blocks(entry):
                    if model_ports and not any(block.subnet_of(s) for s in subnets if s.version == block.version):  # type: ignore[arg-type]
                        yield Finding(
                            policy,
                            f"lets {block} reach {ns}'s ports {model_ports} directly, around the ALB's WAF (allowed: the ALB's subnets "
                            f"{', '.join(map(str, subnets))} on {TRITON_HTTP_PORT})",
                        )


def _prometheus_to_pods(stack: Stack) -> Iterator[Finding]:
    releases = [r for r in stack.of_type(HELM_RELEASE) if str(r.props.get("chart", "")).endswith(PROMETHEUS_CHART)]
    for release in releases:
        scraper = str(release.props.get("namespace", ""))
        for ns in _serving_namespaces(stack):
            scraped = any(
                TRITON_METRICS_PORT in _entry_ports(entry)
                and any(
                    mapping(mapping(peer.get("namespaceSelector")).get("matchLabels")).get(NAMESPACE_NAME_LABEL) == scraper
                    for peer in map(mapping, as_list(entry.get("from")))
                )
                for _, entry in _ingress_entries(stack, ns)
            )
            if not scraped:
                yield Finding(release, f"no NetworkPolicy in {ns} lets Prometheus ({scraper}) scrape Triton metrics ({TRITON_METRICS_PORT})")


def _pods_to_aws(stack: Stack) -> Iterator[Finding]:
    """A namespace that denies egress lets its pods out on 443 (S3 through the gateway endpoint, STS for IRSA, ECR)."""
    policies: dict[str, list[Resource]] = {}
    for policy in stack.of_type(NETWORK_POLICY):
        policies.setdefault(namespace(policy.props) or "", []).append(policy)
    for ns, found in sorted(policies.items()):
        denies = [p for p in found if "Egress" in as_list(mapping(p.props.get("spec")).get("policyTypes"))]
        egress = [mapping(e) for p in denies for e in as_list(mapping(p.props.get("spec")).get("egress"))]
        if denies and not any(API_PORT in _entry_ports(e) and not as_list(e.get("to")) for e in egress):
            yield Finding(denies[0], f"pods in {ns} may not leave on {API_PORT}, so they cannot reach S3, STS (IRSA) or ECR")


def _reachability(stack: Stack, _: Settings) -> Iterator[Finding]:
    yield from _runner_to_api(stack)
    yield from _alb_to_pods(stack)
    yield from _prometheus_to_pods(stack)
    yield from _pods_to_aws(stack)


POLICIES = (
    Policy(
        "W09",
        "w09-reachability",
        "Every flow the design needs is allowed (runner -> API 443, ALB -> pods 8000, Prometheus -> pods 8002, pods -> HTTPS) "
        "and no NetworkPolicy lets a client reach a model port around the WAF.",
        Severity.HIGH,
        "Add the security-group rule or NetworkPolicy entry the finding names (GpuClusterArgs.api_client_security_group_ids for the runner); "
        "admit model ports only from the ALB's subnets.",
        "EKS user guide: security group requirements; Kubernetes NetworkPolicy",
        check_stack=_reachability,
    ),
)
