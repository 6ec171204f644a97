"""Network: a VPC with public and private subnets per AZ, NAT, an S3 gateway endpoint and flow logs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.iam import AccountContext, encryption_key, policy_document, service_trust_policy


@dataclass(frozen=True)
class NetworkArgs:
    """Settings of the network. One public and one private subnet per availability zone."""

    cidr_block: str
    availability_zones: Sequence[str]
    private_subnet_cidrs: Sequence[str]
    public_subnet_cidrs: Sequence[str]
    nat_gateway_per_az: bool
    """One NAT gateway per AZ (zonal fault isolation) instead of a single shared one (cheaper)."""
    flow_log_retention_days: int
    cluster_name: str
    """EKS cluster whose load balancers and Karpenter discover these subnets by tag."""
    account: AccountContext


class Network(PlatformComponent):
    """VPC for a GPU cluster: nodes live only in private subnets; public subnets hold NAT and load balancers."""

    vpc_id: pulumi.Output[str]
    """The VPC id."""
    private_subnet_ids: pulumi.Output[list[str]]
    """Private subnet ids, in availability-zone order."""
    public_subnet_ids: pulumi.Output[list[str]]
    """Public subnet ids, in availability-zone order."""

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("network", "Network", name, opts)
        zones = list(args.availability_zones)

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr_block,
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
        for zone, public_cidr, private_cidr in zip(zones, args.public_subnet_cidrs, args.private_subnet_cidrs, strict=True):
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

        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[private_subnets[z].id for z in zones])
        self.public_subnet_ids = pulumi.Output.all(*[public_subnets[z].id for z in zones])
        self.register_outputs({"vpc_id": self.vpc_id, "private_subnet_ids": self.private_subnet_ids, "public_subnet_ids": self.public_subnet_ids})

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
