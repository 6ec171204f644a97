"""Network built alone: carved subnets, one NAT in dev mode, and Args that refuse a bad layout."""

from __future__ import annotations

from collections import Counter

from gpu_inference_platform import Network, NetworkArgs
from tests.components.alone import ACCOUNT, build_alone, children, errors

ZONES = ["us-east-1a", "us-east-1b"]


def _args(**changes: object) -> NetworkArgs:
    settings: dict[str, object] = {"cidr": "10.8.0.0/16", "availability_zones": ZONES, "cluster_name": "unit", "account": ACCOUNT, "nat_gateway_per_az": False}
    return NetworkArgs(**{**settings, **changes})  # type: ignore[arg-type]


def test_children_of_a_two_zone_network_with_one_nat() -> None:
    plan = build_alone(lambda: Network("net", _args()))
    per_zone = [
        (kind, f"net-{side}-{zone}")
        for zone in ZONES
        for side in ("public", "private")
        for kind in ("aws:ec2/subnet:Subnet", "aws:ec2/routeTableAssociation:RouteTableAssociation")
    ]
    assert children(plan, "net") == Counter(
        [
            ("aws:ec2/vpc:Vpc", "net-vpc"),
            ("aws:ec2/defaultSecurityGroup:DefaultSecurityGroup", "net-default-sg"),
            ("aws:ec2/internetGateway:InternetGateway", "net-igw"),
            ("aws:ec2/routeTable:RouteTable", "net-public"),
            ("aws:ec2/route:Route", "net-public-internet"),
            *per_zone,
            ("aws:ec2/eip:Eip", "net-nat-us-east-1a"),
            ("aws:ec2/natGateway:NatGateway", "net-nat-us-east-1a"),
            *[("aws:ec2/routeTable:RouteTable", f"net-private-{z}") for z in ZONES],
            *[("aws:ec2/route:Route", f"net-private-{z}-egress") for z in ZONES],
            ("aws:ec2/vpcEndpoint:VpcEndpoint", "net-s3"),
            ("aws:kms/key:Key", "net-flow-logs"),
            ("aws:cloudwatch/logGroup:LogGroup", "net-flow-logs"),
            ("aws:iam/role:Role", "net-flow-logs"),
            ("aws:iam/rolePolicy:RolePolicy", "net-flow-logs"),
            ("aws:ec2/flowLog:FlowLog", "net-flow-logs"),
        ]
    )
    subnets = {r.name: r.inputs["cidrBlock"] for r in plan.of_type("aws:ec2/subnet:Subnet")}
    assert subnets == {
        "net-private-us-east-1a": "10.8.0.0/19",
        "net-private-us-east-1b": "10.8.32.0/19",
        "net-public-us-east-1a": "10.8.224.0/22",
        "net-public-us-east-1b": "10.8.228.0/22",
    }
    egress = {r.name: r.inputs["natGatewayId"] for r in plan.of_type("aws:ec2/route:Route") if "egress" in r.name}
    assert len(set(egress.values())) == 1, "one shared NAT gateway"
    (root,) = plan.roots()
    assert sorted(root.registered_outputs) == ["private_subnet_ids", "public_subnet_ids", "vpc_id"]


def test_args_name_every_layout_problem() -> None:
    assert errors(lambda: _args(cidr="10.8.0.1/16", availability_zones=["us-east-1a", "us-east-1a"])) == [
        "NetworkArgs.availability_zones = ['us-east-1a', 'us-east-1a']: zones must be distinct",
        "NetworkArgs.cidr = '10.8.0.1/16': host bits are set; did you mean 10.8.0.0/16?",
        "NetworkArgs.availability_zones = ['us-east-1a', 'us-east-1a']: needs at least 2 zones",
    ]
    assert errors(
        lambda: _args(cidr="10.8.0.0/24", private_subnet_cidrs=["10.8.0.0/25", "10.9.0.0/25"], public_subnet_cidrs=["10.8.0.64/26", "fd00::/64"])
    ) == ["NetworkArgs.public_subnet_cidrs[1] = 'fd00::/64': VPC and subnet ranges must be IPv4 CIDR blocks"]
    assert errors(
        lambda: _args(cidr="10.8.0.0/24", private_subnet_cidrs=["10.8.0.0/25", "10.9.0.0/25"], public_subnet_cidrs=["10.8.0.64/26", "10.8.0.128/26"])
    ) == [
        "NetworkArgs.private_subnet_cidrs[0] = '10.8.0.0/25': overlaps public_subnet_cidrs[0] (10.8.0.64/26)",
        "NetworkArgs.private_subnet_cidrs[1] = '10.9.0.0/25': outside the VPC range 10.8.0.0/24",
    ]
    assert errors(lambda: _args(cidr="10.8.0.0/24")) == [
        "NetworkArgs.cidr = '10.8.0.0/24': automatic subnet carving needs a /16 to /22 VPC; give private_subnet_cidrs and public_subnet_cidrs explicitly"
    ]
