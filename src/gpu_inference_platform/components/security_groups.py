"""Security-group rules shared by components."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws


def tcp_ingress_from_group(
    name: str, *, into: pulumi.Input[str], source: pulumi.Input[str], port: int, description: str, opts: pulumi.ResourceOptions
) -> aws.vpc.SecurityGroupIngressRule:
    """Let the members of security group `source` reach TCP `port` of the members of security group `into`."""
    return aws.vpc.SecurityGroupIngressRule(
        name,
        security_group_id=into,
        referenced_security_group_id=source,
        ip_protocol="tcp",
        from_port=port,
        to_port=port,
        description=description,
        opts=opts,
    )
