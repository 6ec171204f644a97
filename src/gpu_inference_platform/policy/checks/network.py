"""P12-P13: security groups and VPC hygiene."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gpu_inference_platform.policy.model import Finding, Policy, Resource, Settings, Severity, Stack
from gpu_inference_platform.policy.values import as_list, internet_wide

SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
PULUMI_DEFAULT_DESCRIPTION = "Managed by Pulumi"
REMOTE_LOGIN_PORTS = {22: "SSH", 3389: "RDP"}


def rule_ports(rule: Mapping[str, Any]) -> range:
    """The port range a rule opens (all ports for protocol -1)."""
    if str(rule.get("ipProtocol", rule.get("protocol", ""))) in ("-1", "all"):
        return range(0, 65536)
    low = int(rule.get("fromPort") or 0)
    return range(low, int(rule.get("toPort") or low) + 1)


def _sources(rule: Mapping[str, Any]) -> list[str]:
    return [str(c) for key in ("cidrIpv4", "cidrIpv6", "cidrBlocks", "ipv6CidrBlocks") for c in as_list(rule.get(key))]


def _ingress_problems(rule: Mapping[str, Any], public_ports: list[int], label: str) -> Iterator[str]:
    ports = rule_ports(rule)
    for port, service in REMOTE_LOGIN_PORTS.items():
        if port in ports:
            yield f"{label} allows {service} (port {port})"
    open_sources = internet_wide(_sources(rule))
    if open_sources and not set(ports) <= set(public_ports):
        span = str(ports.start) if len(ports) == 1 else f"{ports.start}-{ports.stop - 1}"
        yield f"{label} opens port {span} to {open_sources[0]} (only listener ports {public_ports} may be public)"
    if not rule.get("description"):
        yield f"{label} has no description"


def _security_groups(resource: Resource, settings: Settings) -> Iterator[str]:
    public_ports = list(settings["publicPorts"])
    if resource.type == SECURITY_GROUP:
        description = resource.props.get("description")
        if not description or description == PULUMI_DEFAULT_DESCRIPTION:
            yield "security group has no description"
        for index, rule in enumerate(as_list(resource.props.get("ingress"))):
            yield from _ingress_problems(rule, public_ports, f"ingress rule #{index + 1}")
    elif resource.type == INGRESS_RULE or resource.props.get("type") == "ingress":
        yield from _ingress_problems(resource.props, public_ports, "ingress rule")


def _vpc_hygiene(stack: Stack, _: Settings) -> Iterator[Finding]:
    for vpc in stack.of_type(VPC):
        if not stack.referencing(vpc, FLOW_LOG, "vpcId"):
            yield Finding(vpc, "VPC has no flow logs")
        defaults = stack.referencing(vpc, DEFAULT_SECURITY_GROUP, "vpcId")
        if not defaults:
            yield Finding(vpc, "VPC's default security group is not managed (AWS's default allows all traffic within the group)")
        for group in defaults:
            if as_list(group.props.get("ingress")) or as_list(group.props.get("egress")):
                yield Finding(group, "default security group has rules (it must deny all)")


POLICIES = [
    Policy(
        "P12",
        "p12-security-group-ingress",
        "No ingress from 0.0.0.0/0 or ::/0 except the load balancer's listener ports; never SSH (22) or RDP (3389); every group and rule has a description.",
        Severity.CRITICAL,
        "Restrict sources to known CIDRs or security groups; reach nodes through SSM; describe every group and rule.",
        "CKV_AWS_24, CKV_AWS_25, CKV_AWS_260, CKV_AWS_23",
        (SECURITY_GROUP, INGRESS_RULE, SECURITY_GROUP_RULE),
        check_resource=_security_groups,
        settings={"publicPorts": [80, 443]},
    ),
    Policy(
        "P13",
        "p13-vpc-flow-logs-default-sg",
        "Every VPC has flow logs and a managed default security group that denies all traffic.",
        Severity.MEDIUM,
        "Use Network (it adds flow logs and an empty DefaultSecurityGroup).",
        "CKV2_AWS_11, CKV2_AWS_12",
        check_stack=_vpc_hygiene,
    ),
]
