"""Network: a VPC with public and private subnets per AZ, NAT, an S3 gateway endpoint and flow logs."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.iam import AccountContext, encryption_key, policy_document, service_trust_policy
from gpu_inference_platform.components.validation import ConfigIssue, KeyPath, args_key, check_args, check_cidr, leaf

MIN_AVAILABILITY_ZONES = 2
CARVABLE_PREFIXES = range(16, 23)
"""VPC sizes (/16 to /22) whose subnets can be carved automatically."""


def carve_subnets(cidr: str, zone_count: int) -> tuple[list[str], list[str]]:
    """Default (private, public) subnets, one of each per zone.

    The VPC is split in eight; private subnets take the first blocks (large, for pod
    IPs), public subnets are /+6 slices of the last block.
    """
    eighths = list(ipaddress.IPv4Network(cidr).subnets(prefixlen_diff=3))
    private = [str(n) for n in eighths[:zone_count]]
    public = [str(n) for n in list(eighths[-1].subnets(prefixlen_diff=3))[:zone_count]]
    return private, public


def network_issues(
    key: KeyPath,
    cidr: str,
    zones: Sequence[str],
    private_subnet_cidrs: Sequence[str] | None,
    public_subnet_cidrs: Sequence[str] | None,
) -> Iterator[ConfigIssue]:
    """The VPC range, its zones and its subnets: IPv4 blocks, distinct zones, one subnet each, inside the VPC, no overlaps."""
    if len(set(zones)) != len(zones):
        yield ConfigIssue(key("availability_zones"), list(zones), "zones must be distinct")
    explicit = {"private_subnet_cidrs": private_subnet_cidrs, "public_subnet_cidrs": public_subnet_cidrs}
    ranges = [("cidr", cidr), *((f"{field}[{i}]", c) for field, cidrs in explicit.items() for i, c in enumerate(cidrs or []))]
    problems = [issue for field, c in ranges for issue in _ipv4_block_issues(key, field, c)]
    yield from problems
    if problems:
        return
    if None in explicit.values() and ipaddress.IPv4Network(cidr).prefixlen not in CARVABLE_PREFIXES:
        yield ConfigIssue(
            key("cidr"),
            cidr,
            f"automatic subnet carving needs a /16 to /22 VPC; give {leaf(key, 'private_subnet_cidrs')} and {leaf(key, 'public_subnet_cidrs')} explicitly",
        )
        return
    for field, cidrs in explicit.items():
        if cidrs is not None and len(cidrs) != len(zones):
            yield ConfigIssue(key(field), list(cidrs), f"needs exactly one subnet per availability zone ({len(zones)})")
    yield from _subnet_layout_issues(key, cidr, len(zones), private_subnet_cidrs, public_subnet_cidrs)


def _ipv4_block_issues(key: KeyPath, field: str, cidr: str) -> Iterator[ConfigIssue]:
    problems = list(check_cidr(key, field, cidr))
    yield from problems
    if not problems and ipaddress.ip_network(cidr).version != 4:
        yield ConfigIssue(key(field), cidr, "VPC and subnet ranges must be IPv4 CIDR blocks")


def _subnet_layout_issues(
    key: KeyPath, cidr: str, zone_count: int, private_subnet_cidrs: Sequence[str] | None, public_subnet_cidrs: Sequence[str] | None
) -> Iterator[ConfigIssue]:
    """Every subnet (given or carved) inside the VPC and overlapping no other."""
    vpc = ipaddress.IPv4Network(cidr)
    carved_private, carved_public = carve_subnets(cidr, zone_count)
    labelled = [(f"private_subnet_cidrs[{i}]", c) for i, c in enumerate(private_subnet_cidrs or carved_private)]
    labelled += [(f"public_subnet_cidrs[{i}]", c) for i, c in enumerate(public_subnet_cidrs or carved_public)]
    for i, (field, subnet_cidr) in enumerate(labelled):
        subnet = ipaddress.IPv4Network(subnet_cidr)
        if not subnet.subnet_of(vpc):
            yield ConfigIssue(key(field), subnet_cidr, f"outside the VPC range {cidr}")
        for other_field, other in labelled[i + 1 :]:
            if subnet.overlaps(ipaddress.IPv4Network(other)):
                yield ConfigIssue(key(field), subnet_cidr, f"overlaps {leaf(key, other_field)} ({other})")


@dataclass(frozen=True)
class NetworkArgs:
    """Settings of the network: one public and one private subnet per availability zone."""

    cidr: str
    """IPv4 range of the VPC, e.g. `10.40.0.0/16`."""
    availability_zones: Sequence[str]
    """Zones to spread subnets over (at least 2, distinct); order fixes the subnet order."""
    cluster_name: str
    """EKS cluster whose load balancers and Karpenter discover these subnets by tag."""
    account: AccountContext
    """Account, partition and region (flow-log key policy, S3 endpoint service name)."""
    private_subnet_cidrs: Sequence[str] | None = None
    """One per zone, inside `cidr`; default: carved by `carve_subnets` (the first eighths of the VPC)."""
    public_subnet_cidrs: Sequence[str] | None = None
    """One per zone, inside `cidr`; default: carved by `carve_subnets` (small slices of the last eighth)."""
    nat_gateway_per_az: bool = True
    """One NAT gateway per zone (zonal fault isolation); False shares one (cheaper, for dev)."""
    flow_log_retention_days: int = 365
    """Days CloudWatch keeps the VPC flow logs (a CloudWatch retention value)."""

    def __post_init__(self) -> None:
        issues = list(network_issues(args_key("NetworkArgs"), self.cidr, self.availability_zones, self.private_subnet_cidrs, self.public_subnet_cidrs))
        if len(set(self.availability_zones)) < MIN_AVAILABILITY_ZONES:
            issues.append(ConfigIssue("NetworkArgs.availability_zones", list(self.availability_zones), f"needs at least {MIN_AVAILABILITY_ZONES} zones"))
        check_args(self, issues)

    def subnet_plan(self) -> tuple[list[str], list[str]]:
        """(private, public) subnet CIDRs, one of each per zone: as given, else carved."""
        carved_private, carved_public = carve_subnets(self.cidr, len(self.availability_zones))
        return list(self.private_subnet_cidrs or carved_private), list(self.public_subnet_cidrs or carved_public)


class Network(PlatformComponent):
    """VPC for a GPU cluster: nodes live only in private subnets; public subnets hold NAT and load balancers."""

    vpc_id: pulumi.Output[str]
    """The VPC id."""
    private_subnet_ids: pulumi.Output[list[str]]
    """Private subnet ids, in availability-zone order."""
    public_subnet_ids: pulumi.Output[list[str]]
    """Public subnet ids, in availability-zone order."""
    vpc: aws.ec2.Vpc
    """The VPC resource (for options such as `depends_on`)."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("network", "Network", name, opts)
        zones = list(args.availability_zones)
        private_cidrs, public_cidrs = args.subnet_plan()

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{args.cluster_name}-vpc"},
            opts=self.child(),
        )
        aws.ec2.DefaultSecurityGroup(f"{name}-default-sg", vpc_id=vpc.id, ingress=[], egress=[], opts=self.child())
        igw = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=self.child())

        public_table = aws.ec2.RouteTable(f"{name}-public", vpc_id=vpc.id, opts=self.child())
        aws.ec2.Route(f"{name}-public-internet", route_table_id=public_table.id, destination_cidr_block="0.0.0.0/0", gateway_id=igw.id, opts=self.child())

        public_subnets: dict[str, aws.ec2.Subnet] = {}
        private_subnets: dict[str, aws.ec2.Subnet] = {}
        for zone, public_cidr, private_cidr in zip(zones, public_cidrs, private_cidrs, strict=True):
            public_subnets[zone] = aws.ec2.Subnet(
                f"{name}-public-{zone}",
                vpc_id=vpc.id,
                cidr_block=public_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={"Name": f"{args.cluster_name}-public-{zone}", "kubernetes.io/role/elb": "1"},
                opts=self.child(),
            )
            aws.ec2.RouteTableAssociation(f"{name}-public-{zone}", subnet_id=public_subnets[zone].id, route_table_id=public_table.id, opts=self.child())
            private_subnets[zone] = aws.ec2.Subnet(
                f"{name}-private-{zone}",
                vpc_id=vpc.id,
                cidr_block=private_cidr,
                availability_zone=zone,
                map_public_ip_on_launch=False,
                tags={
                    "Name": f"{args.cluster_name}-private-{zone}",
                    "kubernetes.io/role/internal-elb": "1",
                    f"kubernetes.io/cluster/{args.cluster_name}": "shared",
                    "karpenter.sh/discovery": args.cluster_name,
                },
                opts=self.child(),
            )

        nat_zones = zones if args.nat_gateway_per_az else zones[:1]
        nat_gateways = {
            zone: aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                allocation_id=aws.ec2.Eip(f"{name}-nat-{zone}", domain="vpc", opts=self.child()).id,
                subnet_id=public_subnets[zone].id,
                opts=self.child(depends_on=[igw]),
            )
            for zone in nat_zones
        }

        private_tables = []
        for zone in zones:
            table = aws.ec2.RouteTable(f"{name}-private-{zone}", vpc_id=vpc.id, opts=self.child())
            nat = nat_gateways.get(zone, nat_gateways[nat_zones[0]])
            aws.ec2.Route(
                f"{name}-private-{zone}-egress", route_table_id=table.id, destination_cidr_block="0.0.0.0/0", nat_gateway_id=nat.id, opts=self.child()
            )
            aws.ec2.RouteTableAssociation(f"{name}-private-{zone}", subnet_id=private_subnets[zone].id, route_table_id=table.id, opts=self.child())
            private_tables.append(table)

        aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc.id,
            service_name=pulumi.Output.concat("com.amazonaws.", args.account.region, ".s3"),
            vpc_endpoint_type="Gateway",
            route_table_ids=[t.id for t in private_tables],
            opts=self.child(),
        )
        self._flow_logs(name, args, vpc)

        self.vpc = vpc
        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[private_subnets[z].id for z in zones])
        self.public_subnet_ids = pulumi.Output.all(*[public_subnets[z].id for z in zones])
        self.register_outputs(self.public_outputs())

    def _flow_logs(self, name: str, args: NetworkArgs, vpc: aws.ec2.Vpc) -> None:
        """All VPC traffic to a KMS-encrypted CloudWatch log group with bounded retention."""
        key = encryption_key(
            f"{name}-flow-logs", description=f"{args.cluster_name} VPC flow logs", account=args.account, for_cloudwatch_logs=True, opts=self.child()
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/aws/vpc/{args.cluster_name}/flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=key.arn,
            opts=self.child(),
        )
        role = aws.iam.Role(
            f"{name}-flow-logs",
            assume_role_policy=pulumi.Output.from_input(args.account.account_id).apply(
                lambda account_id: service_trust_policy("vpc-flow-logs.amazonaws.com", source_account=account_id)
            ),
            opts=self.child(),
        )
        aws.iam.RolePolicy(
            f"{name}-flow-logs",
            role=role.id,
            policy=log_group.arn.apply(
                lambda arn: policy_document(
                    [{"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"], "Resource": f"{arn}:*"}]
                )
            ),
            opts=self.child(),
        )
        aws.ec2.FlowLog(
            f"{name}-flow-logs",
            vpc_id=vpc.id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=log_group.arn,
            iam_role_arn=role.arn,
            max_aggregation_interval=60,
            opts=self.child(),
        )
