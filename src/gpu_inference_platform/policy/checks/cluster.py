"""P01-P09: the EKS control plane, its nodes and how they boot."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from gpu_inference_platform.policy.model import Finding, Policy, Resource, Settings, Severity, Stack
from gpu_inference_platform.policy.values import AWS_ACCESS_KEY_ID, as_list, internet_wide, is_true, mapping, shown

EKS_CLUSTER = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
SUBNET = "aws:ec2/subnet:Subnet"
ROUTE = "aws:ec2/route:Route"
ROUTE_TABLE = "aws:ec2/routeTable:RouteTable"
ROUTE_TABLE_ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
INTERNET_GATEWAY = "aws:ec2/internetGateway:InternetGateway"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
_CREDENTIAL_PATTERNS = (
    (AWS_ACCESS_KEY_ID, "an AWS access key id"),
    (re.compile(r"aws_secret_access_key", re.IGNORECASE), "aws_secret_access_key"),
    (re.compile(r"aws_session_token", re.IGNORECASE), "aws_session_token"),
)


def _control_plane_logs(cluster: Resource, _: Settings) -> Iterator[str]:
    enabled = set(as_list(cluster.props.get("enabledClusterLogTypes")))
    missing = [t for t in CONTROL_PLANE_LOG_TYPES if t not in enabled]
    if missing:
        yield f"control-plane log types not enabled: {', '.join(missing)}"


def _secrets_encryption(cluster: Resource, _: Settings) -> Iterator[str]:
    config = mapping(cluster.props.get("encryptionConfig"))
    if "secrets" not in as_list(config.get("resources")):
        yield 'secrets are not envelope-encrypted (encryptionConfig.resources lacks "secrets")'
    elif not mapping(config.get("provider")).get("keyArn"):
        yield "encryptionConfig.provider.keyArn is not set (a customer KMS key is required)"


def _public_endpoint(cluster: Resource) -> bool:
    """EKS turns the public endpoint on unless it is explicitly off."""
    return mapping(cluster.props.get("vpcConfig")).get("endpointPublicAccess") is not False


def _production_endpoint(cluster: Resource, settings: Settings) -> Iterator[str]:
    if not settings["production"]:
        return
    if _public_endpoint(cluster):
        yield "production cluster has a public API endpoint (vpcConfig.endpointPublicAccess is not false)"
    if mapping(cluster.props.get("vpcConfig")).get("endpointPrivateAccess") is not True:
        yield "production cluster has no private API endpoint (vpcConfig.endpointPrivateAccess is not true)"


def _public_endpoint_cidrs(cluster: Resource, _: Settings) -> Iterator[str]:
    if not _public_endpoint(cluster):
        return
    cidrs = as_list(mapping(cluster.props.get("vpcConfig")).get("publicAccessCidrs"))
    if not cidrs:
        yield "public endpoint open to the internet: vpcConfig.publicAccessCidrs is not set (EKS defaults to 0.0.0.0/0)"
    for cidr in internet_wide([str(c) for c in cidrs]):
        yield f"public endpoint open to the internet: vpcConfig.publicAccessCidrs contains {cidr}"


def _public_subnets(stack: Stack) -> list[Resource]:
    """Subnets whose route table sends traffic to an internet gateway."""
    public_tables = {
        table.urn
        for route in stack.of_type(ROUTE)
        if stack.referenced(route, "gatewayId", INTERNET_GATEWAY)
        for table in stack.referenced(route, "routeTableId", ROUTE_TABLE)
    }
    public_tables |= {t.urn for t in stack.of_type(ROUTE_TABLE) if stack.referenced(t, "routes", INTERNET_GATEWAY)}
    return [
        subnet
        for association in stack.of_type(ROUTE_TABLE_ASSOCIATION)
        if any(t.urn in public_tables for t in stack.referenced(association, "routeTableId"))
        for subnet in stack.referenced(association, "subnetId", SUBNET)
    ]


def _private_nodes(stack: Stack, _: Settings) -> Iterator[Finding]:
    public = {s.urn for s in _public_subnets(stack)}
    for group in stack.of_type(NODE_GROUP):
        if group.props.get("remoteAccess"):
            yield Finding(group, "node group allows SSH (remoteAccess is set)")
        for subnet in stack.referenced(group, "subnetIds", SUBNET):
            if subnet.urn in public:
                yield Finding(group, f"node group launches into public subnet {subnet.name}")
    for subnet in stack.of_type(SUBNET):
        if is_true(subnet.props.get("mapPublicIpOnLaunch")):
            yield Finding(subnet, "subnet assigns public IPs on launch (mapPublicIpOnLaunch is true)")


def _metadata_options(resource: Resource) -> tuple[dict[str, object], bool]:
    """The instance metadata options and whether the resource is a Karpenter node class (whose defaults are safe)."""
    if resource.type == NODE_CLASS:
        return dict(mapping(mapping(resource.props.get("spec")).get("metadataOptions"))), True
    return dict(mapping(resource.props.get("metadataOptions"))), False


def _imds_v2(resource: Resource, _: Settings) -> Iterator[str]:
    options, karpenter = _metadata_options(resource)
    tokens = options.get("httpTokens", "required" if karpenter else None)
    if tokens != "required":
        yield f"IMDSv1 allowed: metadataOptions.httpTokens is {tokens or 'not set'} (required: required)"


def _imds_hop_limit(resource: Resource, _: Settings) -> Iterator[str]:
    options, karpenter = _metadata_options(resource)
    hops = options.get("httpPutResponseHopLimit", 1 if karpenter else None)
    if hops is None:
        yield "metadataOptions.httpPutResponseHopLimit is not set (the EKS AMI default is 2; required: 1)"
    elif hops != 1:
        yield f"pods can reach the node's credentials: metadataOptions.httpPutResponseHopLimit is {shown(hops)} (required: 1)"


def _volumes_and_addresses(resource: Resource, _: Settings) -> Iterator[str]:
    if resource.type == NODE_CLASS:
        spec = mapping(resource.props.get("spec"))
        mappings, public_ip = as_list(spec.get("blockDeviceMappings")), spec.get("associatePublicIPAddress")
    else:
        mappings = as_list(resource.props.get("blockDeviceMappings"))
        public_ip = any(is_true(mapping(n).get("associatePublicIpAddress")) for n in as_list(resource.props.get("networkInterfaces")))
        if not mappings:
            yield "no block device mapping: the root volume's encryption is left to the AMI"
    for device in mappings:
        ebs = mapping(mapping(device).get("ebs"))
        if ebs and not is_true(ebs.get("encrypted")):
            yield f"EBS volume {mapping(device).get('deviceName', '?')} is not encrypted"
    if is_true(public_ip):
        yield "instances get a public IP address"


def _user_data_text(resource: Resource) -> str:
    if resource.type == NODE_CLASS:
        return str(mapping(resource.props.get("spec")).get("userData") or "")
    encoded = str(resource.props.get("userData") or "")
    try:
        return base64.b64decode(encoded, validate=True).decode(errors="replace")
    except (binascii.Error, ValueError):
        return encoded


def _user_data_credentials(resource: Resource, _: Settings) -> Iterator[str]:
    text = _user_data_text(resource)
    for pattern, label in _CREDENTIAL_PATTERNS:
        if pattern.search(text):
            yield f"user data contains credentials: {label}"


NODE_BOOT_TYPES = (LAUNCH_TEMPLATE, NODE_CLASS)

POLICIES = [
    Policy(
        "P01",
        "p01-eks-control-plane-logs",
        "EKS clusters send all five control-plane log types (api, audit, authenticator, controllerManager, scheduler) to CloudWatch.",
        Severity.HIGH,
        "Set enabledClusterLogTypes to all five types (GpuCluster does).",
        "CKV_AWS_37, AVD-AWS-0038, CIS 2.1.1",
        (EKS_CLUSTER,),
        check_resource=_control_plane_logs,
    ),
    Policy(
        "P02",
        "p02-eks-secrets-encryption",
        "EKS envelope-encrypts Kubernetes secrets with a customer-managed KMS key.",
        Severity.HIGH,
        'Set encryptionConfig {resources: ["secrets"], provider.keyArn: <customer KMS key>}.',
        "CKV_AWS_58, AVD-AWS-0039, CIS 5.3.1",
        (EKS_CLUSTER,),
        check_resource=_secrets_encryption,
    ),
    Policy(
        "P03",
        "p03-eks-private-endpoint-in-production",
        "Production clusters have the private API endpoint on and the public endpoint off.",
        Severity.CRITICAL,
        "Set cluster.endpointPublicAccess: false in the production stack (reach the API over VPN, a bastion or SSM).",
        "CKV_AWS_39, AVD-AWS-0040, CIS 5.4.2",
        (EKS_CLUSTER,),
        check_resource=_production_endpoint,
        settings={"production": False},
    ),
    Policy(
        "P04",
        "p04-eks-public-endpoint-cidrs",
        "A public API endpoint is open only to explicit CIDRs, never 0.0.0.0/0 or ::/0.",
        Severity.CRITICAL,
        "Set cluster.publicAccessCidrs to your office/VPN ranges, or turn the public endpoint off.",
        "CKV_AWS_38, AVD-AWS-0041, CIS 5.4.1",
        (EKS_CLUSTER,),
        check_resource=_public_endpoint_cidrs,
    ),
    Policy(
        "P05",
        "p05-private-nodes-no-ssh",
        "Nodes have no SSH access and run in private subnets; no subnet auto-assigns public IPs.",
        Severity.HIGH,
        "Drop remoteAccess (use SSM), place node groups in private subnets, set mapPublicIpOnLaunch: false.",
        "CKV_AWS_100, CKV_AWS_130, CIS 5.4.3",
        check_stack=_private_nodes,
    ),
    Policy(
        "P06",
        "p06-imdsv2-required",
        "Launch templates and Karpenter node classes require IMDSv2 (httpTokens: required).",
        Severity.HIGH,
        "Set metadataOptions.httpTokens: required.",
        "CKV_AWS_79, AVD-AWS-0130",
        NODE_BOOT_TYPES,
        check_resource=_imds_v2,
    ),
    Policy(
        "P07",
        "p07-imds-hop-limit",
        "The instance metadata hop limit is 1, so pods cannot use the node role's credentials.",
        Severity.HIGH,
        "Set metadataOptions.httpPutResponseHopLimit: 1; give pods IAM through IRSA.",
        "CKV_AWS_341, EKS Best Practices (IAM)",
        NODE_BOOT_TYPES,
        check_resource=_imds_hop_limit,
    ),
    Policy(
        "P08",
        "p08-encrypted-volumes-no-public-ip",
        "Node volumes are EBS-encrypted and nodes get no public IP address.",
        Severity.HIGH,
        "Declare the root volume with ebs.encrypted: true; set associatePublicIpAddress/associatePublicIPAddress: false.",
        "Pulumi compliance-policies (launch template), AVD-AWS-0131",
        NODE_BOOT_TYPES,
        check_resource=_volumes_and_addresses,
    ),
    Policy(
        "P09",
        "p09-no-credentials-in-user-data",
        "User data carries no AWS credentials.",
        Severity.CRITICAL,
        "Remove keys from user data; nodes get credentials from their instance role.",
        "CKV_AWS_46, AVD-AWS-0029",
        NODE_BOOT_TYPES,
        check_resource=_user_data_credentials,
    ),
]
