"""Network component: exact children, subnet layout, NAT topology, flow logs."""

from __future__ import annotations

import json
from collections import Counter

from gpu_inference_platform.preview.harness import Plan

SUBNET = "aws:ec2/subnet:Subnet"
NAT = "aws:ec2/natGateway:NatGateway"
ROUTE = "aws:ec2/route:Route"


def _children(plan: Plan) -> Counter[str]:
    return Counter(r.type for r in plan.children("network"))


def test_dev_children_are_exact(plans: dict[str, Plan]) -> None:
    assert _children(plans["dev"]) == Counter(
        {
            "aws:ec2/vpc:Vpc": 1,
            "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": 1,
            "aws:ec2/internetGateway:InternetGateway": 1,
            "aws:ec2/routeTable:RouteTable": 3,
            ROUTE: 3,
            SUBNET: 4,
            "aws:ec2/routeTableAssociation:RouteTableAssociation": 4,
            "aws:ec2/eip:Eip": 1,
            NAT: 1,
            "aws:ec2/vpcEndpoint:VpcEndpoint": 1,
            "aws:kms/key:Key": 1,
            "aws:cloudwatch/logGroup:LogGroup": 1,
            "aws:iam/role:Role": 1,
            "aws:iam/rolePolicy:RolePolicy": 1,
            "aws:ec2/flowLog:FlowLog": 1,
        }
    )


def test_prod_has_three_private_subnets_and_a_nat_per_zone(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    private = {r.name: r.inputs for r in plan.of_type(SUBNET) if "-private-" in r.name}
    assert {name: (i["cidrBlock"], i["availabilityZone"]) for name, i in private.items()} == {
        "network-private-us-west-2a": ("10.42.0.0/19", "us-west-2a"),
        "network-private-us-west-2b": ("10.42.32.0/19", "us-west-2b"),
        "network-private-us-west-2c": ("10.42.64.0/19", "us-west-2c"),
    }
    assert sorted(r.name for r in plan.of_type(NAT)) == ["network-nat-us-west-2a", "network-nat-us-west-2b", "network-nat-us-west-2c"]
    for zone in ("us-west-2a", "us-west-2b", "us-west-2c"):
        nat_id = plan.get(NAT, f"network-nat-{zone}")
        route = plan.get(ROUTE, f"network-private-{zone}-egress").inputs
        assert route["natGatewayId"].startswith(f"network-nat-{zone}-"), "each zone egresses through its own NAT"
        assert nat_id.inputs["subnetId"].startswith(f"network-public-{zone}-")


def test_dev_shares_one_nat(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    assert [r.name for r in plan.of_type(NAT)] == ["network-nat-us-east-1a"]
    for zone in ("us-east-1a", "us-east-1b"):
        assert plan.get(ROUTE, f"network-private-{zone}-egress").inputs["natGatewayId"].startswith("network-nat-us-east-1a-")


def test_subnets_never_assign_public_ips_and_carry_discovery_tags(plans: dict[str, Plan]) -> None:
    for subnet in plans["dev"].of_type(SUBNET):
        assert subnet.inputs["mapPublicIpOnLaunch"] is False
        tags = subnet.inputs["tags"]
        if "-private-" in subnet.name:
            assert (tags["kubernetes.io/role/internal-elb"], tags["karpenter.sh/discovery"], tags["kubernetes.io/cluster/gip-dev"]) == (
                "1",
                "gip-dev",
                "shared",
            )
        else:
            assert tags["kubernetes.io/role/elb"] == "1"
            assert "karpenter.sh/discovery" not in tags


def test_default_security_group_denies_everything(plans: dict[str, Plan]) -> None:
    group = plans["dev"].get("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "network-default-sg").inputs
    assert (group["ingress"], group["egress"]) == ([], [])


def test_s3_gateway_endpoint_serves_every_private_route_table(plans: dict[str, Plan]) -> None:
    endpoint = plans["prod"].get("aws:ec2/vpcEndpoint:VpcEndpoint", "network-s3").inputs
    assert (endpoint["serviceName"], endpoint["vpcEndpointType"]) == ("com.amazonaws.us-west-2.s3", "Gateway")
    private_tables = [r for r in plans["prod"].of_type("aws:ec2/routeTable:RouteTable") if "-private-" in r.name]
    assert sorted(rt.rsplit("-", 1)[0] for rt in endpoint["routeTableIds"]) == sorted(t.name for t in private_tables)
    assert sorted(t.name for t in private_tables) == ["network-private-us-west-2a", "network-private-us-west-2b", "network-private-us-west-2c"]


def test_flow_logs_capture_all_traffic_to_an_encrypted_bounded_log_group(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    flow = plan.get("aws:ec2/flowLog:FlowLog", "network-flow-logs").inputs
    log_group = plan.get("aws:cloudwatch/logGroup:LogGroup", "network-flow-logs").inputs
    key = plan.get("aws:kms/key:Key", "network-flow-logs").inputs
    assert (flow["trafficType"], flow["logDestinationType"]) == ("ALL", "cloud-watch-logs")
    assert flow["logDestination"] == "arn:aws:logs:us-west-2:123456789012:log-group:/aws/vpc/gip-prod/flow-logs"
    assert (log_group["retentionInDays"], log_group["name"]) == (365, "/aws/vpc/gip-prod/flow-logs")
    assert log_group["kmsKeyId"].startswith("arn:aws:kms:us-west-2:123456789012:key/")
    assert key["enableKeyRotation"] is True
    logs_statement = json.loads(key["policy"])["Statement"][1]
    assert logs_statement["Principal"] == {"Service": "logs.us-west-2.amazonaws.com"}
    role_trust = json.loads(plan.get("aws:iam/role:Role", "network-flow-logs").inputs["assumeRolePolicy"])
    assert role_trust["Statement"][0]["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}
    policy = json.loads(plan.get("aws:iam/rolePolicy:RolePolicy", "network-flow-logs").inputs["policy"])
    assert policy["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
            "Resource": "arn:aws:logs:us-west-2:123456789012:log-group:/aws/vpc/gip-prod/flow-logs:*",
        }
    ]
