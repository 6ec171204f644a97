"""GpuCluster: a hardened EKS control plane, IRSA, a CPU system node group, core add-ons and the GPU device plugin."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.cluster_ref import ClusterRef
from gpu_inference_platform.components.constants import (
    DEFAULT_DEVICE_PLUGIN_IMAGE,
    DEFAULT_STORAGE_CLASS,
    EBS_CSI_PROVISIONER,
    EBS_CSI_SERVICE_ACCOUNT,
    SYSTEM_NODE_SELECTOR,
)
from gpu_inference_platform.components.device_plugin import nvidia_device_plugin
from gpu_inference_platform.components.iam import AccountContext, encryption_key, service_account_role, service_trust_policy
from gpu_inference_platform.components.instances import CPU_INSTANCE_TYPES, INSTANCE_TYPES
from gpu_inference_platform.components.kubeconfig import eks_kubeconfig
from gpu_inference_platform.components.security_groups import tcp_ingress_from_group
from gpu_inference_platform.components.support_windows import EKS_KUBERNETES
from gpu_inference_platform.components.validation import (
    ConfigIssue,
    KeyPath,
    args_key,
    check_args,
    check_cidr,
    check_ip_family,
    check_scaling_bounds,
    internet_wide,
    leaf,
)

SUPPORTED_KUBERNETES_VERSIONS = tuple(window.version for window in EKS_KUBERNETES)
"""EKS versions this toolkit knows (`support_windows.EKS_KUBERNETES`; the stack config checks their dates against today)."""
CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
IAM_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(?P<account>\d{12}):(?P<resource>(role|user)/[\w+=,.@/-]+)$")
_AMI_TYPES = {"x86_64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}
EBS_CSI_MANAGED_POLICY = "service-role/AmazonEBSCSIDriverPolicy"
"""The AWS-managed policy of the EBS CSI driver (its upstream reference policy, maintained by AWS)."""
_CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
_CLUSTER_VIEW_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
KUBERNETES_API_PORT = 443


def _oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity]) -> str:
    """The cluster's OIDC issuer URL (EKS always creates exactly one)."""
    issuers = [oidc.issuer for identity in identities for oidc in identity.oidcs or [] if oidc.issuer]
    if not issuers:
        raise ValueError("EKS cluster reported no OIDC issuer")
    return issuers[0]


def principal_key(principal_arn: str) -> str:
    """A stable child-name key for an IAM principal: `<account>-<role|user>/<name>`."""
    match = IAM_PRINCIPAL_ARN.match(principal_arn)
    if match is None:
        raise ValueError(f"not an IAM role or user ARN: {principal_arn}")
    return f"{match['account']}-{match['resource']}"


def system_node_issues(key: KeyPath, instance_type: str, min_size: int, desired_size: int, max_size: int) -> Iterator[ConfigIssue]:
    """A known CPU instance type and min <= desired <= max."""
    if instance_type not in INSTANCE_TYPES:
        yield ConfigIssue(key("instance_type"), instance_type, f"unknown instance type; allowed: {', '.join(CPU_INSTANCE_TYPES)}")
    elif INSTANCE_TYPES[instance_type].gpu is not None:
        yield ConfigIssue(key("instance_type"), instance_type, f"system nodes must not use GPU instances; allowed: {', '.join(CPU_INSTANCE_TYPES)}")
    for bound, size in (("min_size", min_size), ("desired_size", desired_size), ("max_size", max_size)):
        if size < 1:
            yield ConfigIssue(key(bound), size, "must be at least 1")
    yield from check_scaling_bounds(key, min_size, desired_size, max_size, ("min_size", "desired_size", "max_size"))


def endpoint_issues(
    key: KeyPath, endpoint_public_access: bool, public_access_cidrs: Sequence[str], admin_principal_arns: Sequence[str]
) -> Iterator[ConfigIssue]:
    """A public endpoint only with explicit, non-open CIDRs; admin principals are IAM role or user ARNs."""
    for i, cidr in enumerate(public_access_cidrs):
        yield from check_cidr(key, f"public_access_cidrs[{i}]", cidr)
    yield from check_ip_family(key, "public_access_cidrs", public_access_cidrs, 4, "EKS public endpoints filter IPv4 sources")
    wide = internet_wide(public_access_cidrs)
    for i, cidr in enumerate(public_access_cidrs):
        if cidr in wide:
            yield ConfigIssue(key(f"public_access_cidrs[{i}]"), cidr, "opens the API server to the internet; list your office/VPN ranges instead")
    if endpoint_public_access and not public_access_cidrs:
        yield ConfigIssue(key("public_access_cidrs"), [], "a public endpoint needs explicit CIDRs (EKS would default to 0.0.0.0/0)")
    yield from principal_issues(key, "admin_principal_arns", admin_principal_arns)


def principal_issues(key: KeyPath, field_name: str, principal_arns: Sequence[str]) -> Iterator[ConfigIssue]:
    """IAM role or user ARNs, each once (each is one access entry)."""
    for i, arn in enumerate(principal_arns):
        if not IAM_PRINCIPAL_ARN.match(arn):
            yield ConfigIssue(key(f"{field_name}[{i}]"), arn, "not an IAM role or user ARN (arn:aws:iam::<12-digit account>:role/<name>)")
    if len(set(principal_arns)) != len(principal_arns):
        yield ConfigIssue(key(field_name), list(principal_arns), f"{leaf(key, field_name)} must be distinct")


@dataclass(frozen=True)
class SystemNodeGroupArgs:
    """The always-on CPU node group that runs cluster controllers (Karpenter, LB controller, monitoring)."""

    instance_type: str
    """A CPU instance type of the catalog (`instances.CPU_INSTANCE_TYPES`)."""
    min_size: int
    """Fewest nodes (at least 1; 2 for controller high availability)."""
    desired_size: int
    """Nodes at creation; later changes to it are ignored (the cluster autoscales it)."""
    max_size: int
    """Most nodes."""
    root_volume_gib: int = 50
    """Encrypted gp3 root volume per node."""

    def __post_init__(self) -> None:
        check_args(self, system_node_issues(args_key("SystemNodeGroupArgs"), self.instance_type, self.min_size, self.desired_size, self.max_size))


@dataclass(frozen=True)
class GpuClusterArgs:
    """Settings of the cluster. Defaults are the production posture: private endpoint only."""

    cluster_name: str
    """Physical EKS cluster name (unique per account and region)."""
    kubernetes_version: str
    """One of `SUPPORTED_KUBERNETES_VERSIONS`, in EKS standard support (`support_windows.kubernetes_version_issues`)."""
    private_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Subnets of the control plane ENIs and system nodes (private, at least two zones)."""
    system_nodes: SystemNodeGroupArgs
    """The CPU node group for controllers."""
    account: AccountContext
    """Account, partition and region (key policy, managed policy ARNs, kubeconfig)."""
    log_retention_days: int = 365
    """Days CloudWatch keeps the control-plane logs."""
    endpoint_public_access: bool = False
    """Expose the API server publicly (only with `public_access_cidrs`); the private endpoint is always on."""
    public_access_cidrs: Sequence[str] = ()
    """Ranges allowed to reach a public endpoint; never 0.0.0.0/0 or ::/0."""
    admin_principal_arns: Sequence[str] = ()
    """IAM roles or users granted cluster admin through access entries (the deployer always is)."""
    viewer_principal_arns: Sequence[str] = ()
    """IAM roles or users granted read-only access (`AmazonEKSViewPolicy`), e.g. the role of pull-request previews."""
    api_client_security_group_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """Security groups allowed into the cluster security group on 443, by a stable key (e.g. the in-VPC CI runner's).
    EKS's cluster security group accepts only itself, so a client inside the VPC needs one of these to reach the private API."""
    device_plugin_image: str = DEFAULT_DEVICE_PLUGIN_IMAGE
    """NVIDIA device plugin image (pinned)."""

    def __post_init__(self) -> None:
        key = args_key("GpuClusterArgs")
        issues = [
            *endpoint_issues(key, self.endpoint_public_access, self.public_access_cidrs, self.admin_principal_arns),
            *principal_issues(key, "viewer_principal_arns", self.viewer_principal_arns),
        ]
        if self.kubernetes_version not in SUPPORTED_KUBERNETES_VERSIONS:
            issues.append(ConfigIssue(key("kubernetes_version"), self.kubernetes_version, f"allowed: {', '.join(SUPPORTED_KUBERNETES_VERSIONS)}"))
        check_args(self, issues)


class GpuCluster(PlatformComponent):
    """EKS cluster ready for GPU workloads; exposes the Kubernetes provider for later components."""

    cluster_name: pulumi.Output[str]
    """Name of the EKS cluster."""
    cluster_arn: pulumi.Output[str]
    """ARN of the EKS cluster."""
    endpoint: pulumi.Output[str]
    """API server endpoint."""
    oidc_provider_arn: pulumi.Output[str]
    """ARN of the IAM OIDC provider (for IRSA trust policies)."""
    oidc_issuer_url: pulumi.Output[str]
    """The cluster's OIDC issuer URL."""
    cluster_security_group_id: pulumi.Output[str]
    """Security group EKS attaches to the control plane and managed nodes."""
    kubeconfig: pulumi.Output[str]
    """Kubeconfig (secret) that authenticates through `aws eks get-token`."""
    kubernetes_version: pulumi.Output[str]
    """Kubernetes version of the control plane."""
    storage_class_name: str
    """The default StorageClass (encrypted gp3 from the EBS CSI driver) for volumes such as Prometheus's."""
    provider: k8s.Provider
    """Kubernetes provider for components that deploy into this cluster."""
    cluster: aws.eks.Cluster
    """The EKS cluster resource."""
    system_node_group: aws.eks.NodeGroup
    """The CPU system node group."""

    def __init__(self, name: str, args: GpuClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("gpucluster", "GpuCluster", name, opts)
        account = args.account

        key = encryption_key(
            f"{name}-secrets",
            description=f"{args.cluster_name} EKS secrets and control-plane logs",
            account=account,
            for_cloudwatch_logs=True,
            opts=self.child(),
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-control-plane",
            name=f"/aws/eks/{args.cluster_name}/cluster",
            retention_in_days=args.log_retention_days,
            kms_key_id=key.arn,
            opts=self.child(),
        )
        cluster_role = aws.iam.Role(
            f"{name}-cluster", assume_role_policy=service_trust_policy("eks.amazonaws.com", actions=("sts:AssumeRole", "sts:TagSession")), opts=self.child()
        )
        cluster_policy = aws.iam.RolePolicyAttachment(
            f"{name}-cluster", role=cluster_role.name, policy_arn=account.managed_policy_arn("AmazonEKSClusterPolicy"), opts=self.child()
        )

        cluster = aws.eks.Cluster(
            f"{name}-eks",
            name=args.cluster_name,
            version=args.kubernetes_version,
            role_arn=cluster_role.arn,
            vpc_config=aws.eks.ClusterVpcConfigArgs(
                subnet_ids=args.private_subnet_ids,
                endpoint_private_access=True,
                endpoint_public_access=args.endpoint_public_access,
                public_access_cidrs=list(args.public_access_cidrs) if args.endpoint_public_access else None,
            ),
            encryption_config=aws.eks.ClusterEncryptionConfigArgs(provider=aws.eks.ClusterEncryptionConfigProviderArgs(key_arn=key.arn), resources=["secrets"]),
            enabled_cluster_log_types=list(CONTROL_PLANE_LOG_TYPES),
            access_config=aws.eks.ClusterAccessConfigArgs(authentication_mode="API", bootstrap_cluster_creator_admin_permissions=True),
            bootstrap_self_managed_addons=False,
            upgrade_policy=aws.eks.ClusterUpgradePolicyArgs(support_type="STANDARD"),
            opts=self.child(depends_on=[log_group, cluster_policy]),
        )
        issuer = cluster.identities.apply(_oidc_issuer)
        oidc = aws.iam.OpenIdConnectProvider(f"{name}-oidc", url=issuer, client_id_lists=["sts.amazonaws.com"], opts=self.child())

        for index, principal in enumerate(args.admin_principal_arns):
            # Keyed by principal; the alias is the name these had when they were keyed by list position (MIGRATIONS.md, 0.2.0).
            self._access_entry(
                cluster, f"{name}-admin-{principal_key(principal)}", principal, _CLUSTER_ADMIN_POLICY, [pulumi.Alias(name=f"{name}-admin-{index}")]
            )
        for principal in args.viewer_principal_arns:
            self._access_entry(cluster, f"{name}-viewer-{principal_key(principal)}", principal, _CLUSTER_VIEW_POLICY, [])

        cni_role = service_account_role(
            f"{name}-vpc-cni", oidc_provider_arn=oidc.arn, oidc_issuer_url=issuer, namespace="kube-system", service_account="aws-node", opts=self.child()
        )
        cni_policy = aws.iam.RolePolicyAttachment(
            f"{name}-vpc-cni", role=cni_role.name, policy_arn=account.managed_policy_arn("AmazonEKS_CNI_Policy"), opts=self.child()
        )
        vpc_cni = self._addon(
            name, cluster, "vpc-cni", service_account_role_arn=cni_role.arn, depends_on=[cni_policy], configuration={"enableNetworkPolicy": "true"}
        )
        kube_proxy = self._addon(name, cluster, "kube-proxy")

        system_nodes = self._system_node_group(name, args, cluster, depends_on=[vpc_cni, kube_proxy])
        self.cluster = cluster
        self.system_node_group = system_nodes
        self._addon(name, cluster, "coredns", depends_on=[system_nodes])
        ebs_csi = self._ebs_csi_driver(name, args, cluster, oidc=oidc, issuer=issuer, depends_on=[system_nodes])

        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.kubernetes_version = cluster.version
        self.endpoint = cluster.endpoint
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer_url = issuer
        self.cluster_security_group_id = cluster.vpc_config.apply(lambda c: c.cluster_security_group_id or "")
        for client, group_id in sorted(args.api_client_security_group_ids.items()):
            tcp_ingress_from_group(
                f"{name}-api-from-{client}",
                into=self.cluster_security_group_id,
                source=group_id,
                port=KUBERNETES_API_PORT,
                description=f"Kubernetes API from {client}",
                opts=self.child(),
            )
        aws.ec2.Tag(
            f"{name}-karpenter-discovery", resource_id=self.cluster_security_group_id, key="karpenter.sh/discovery", value=args.cluster_name, opts=self.child()
        )
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(cluster.name, cluster.endpoint, cluster.certificate_authority.apply(lambda ca: ca.data or ""), account.region).apply(
                lambda a: eks_kubeconfig(a[0], a[1], a[2], a[3])
            )
        )
        self.provider = k8s.Provider(f"{name}-k8s", kubeconfig=self.kubeconfig, delete_unreachable=False, opts=self.child(depends_on=[system_nodes]))
        nvidia_device_plugin(f"{name}-nvidia-device-plugin", image=args.device_plugin_image, opts=self.child(provider=self.provider))
        self.storage_class_name = DEFAULT_STORAGE_CLASS
        k8s.storage.v1.StorageClass(
            f"{name}-{DEFAULT_STORAGE_CLASS}",
            metadata={"name": DEFAULT_STORAGE_CLASS, "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
            provisioner=EBS_CSI_PROVISIONER,
            parameters={"type": "gp3", "encrypted": "true", "fsType": "ext4"},
            reclaim_policy="Delete",
            volume_binding_mode="WaitForFirstConsumer",
            allow_volume_expansion=True,
            opts=self.child(provider=self.provider, depends_on=[ebs_csi]),
        )

        self.register_outputs(self.public_outputs())

    @property
    def ref(self) -> ClusterRef:
        """The handle other components take as `cluster=`."""
        return ClusterRef(
            name=self.cluster_name,
            arn=self.cluster_arn,
            endpoint=self.endpoint,
            oidc_provider_arn=self.oidc_provider_arn,
            oidc_issuer_url=self.oidc_issuer_url,
            security_group_id=self.cluster_security_group_id,
        )

    def _access_entry(self, cluster: aws.eks.Cluster, name: str, principal: str, policy_arn: str, aliases: list[pulumi.Alias]) -> None:
        """An access entry for an IAM principal with one cluster-wide access policy."""
        entry = aws.eks.AccessEntry(name, cluster_name=cluster.name, principal_arn=principal, type="STANDARD", opts=self.child(aliases=aliases))
        aws.eks.AccessPolicyAssociation(
            name,
            cluster_name=cluster.name,
            principal_arn=entry.principal_arn,
            policy_arn=policy_arn,
            access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
            opts=self.child(aliases=aliases),
        )

    def _addon(
        self,
        name: str,
        cluster: aws.eks.Cluster,
        addon: str,
        *,
        service_account_role_arn: pulumi.Input[str] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
        configuration: dict[str, str] | None = None,
    ) -> aws.eks.Addon:
        """An EKS-managed add-on at the default version for the cluster's Kubernetes version."""
        return aws.eks.Addon(
            f"{name}-{addon}",
            cluster_name=cluster.name,
            addon_name=addon,
            service_account_role_arn=service_account_role_arn,
            configuration_values=json.dumps(configuration, sort_keys=True) if configuration else None,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=self.child(depends_on=list(depends_on)),
        )

    def _ebs_csi_driver(
        self,
        name: str,
        args: GpuClusterArgs,
        cluster: aws.eks.Cluster,
        *,
        oidc: aws.iam.OpenIdConnectProvider,
        issuer: pulumi.Output[str],
        depends_on: Sequence[pulumi.Resource],
    ) -> aws.eks.Addon:
        """The EBS CSI driver add-on on its own IRSA role with the AWS-managed driver policy (volumes for Prometheus and friends)."""
        role = service_account_role(
            f"{name}-ebs-csi",
            oidc_provider_arn=oidc.arn,
            oidc_issuer_url=issuer,
            namespace="kube-system",
            service_account=EBS_CSI_SERVICE_ACCOUNT,
            opts=self.child(),
        )
        policy = aws.iam.RolePolicyAttachment(
            f"{name}-ebs-csi", role=role.name, policy_arn=args.account.managed_policy_arn(EBS_CSI_MANAGED_POLICY), opts=self.child()
        )
        return self._addon(name, cluster, "aws-ebs-csi-driver", service_account_role_arn=role.arn, depends_on=[policy, *depends_on])

    def _system_node_group(self, name: str, args: GpuClusterArgs, cluster: aws.eks.Cluster, depends_on: Sequence[pulumi.Resource]) -> aws.eks.NodeGroup:
        """On-demand CPU nodes from a launch template: IMDSv2 only, hop limit 1, encrypted gp3 root, no SSH."""
        nodes = args.system_nodes
        node_role = aws.iam.Role(f"{name}-system-nodes", assume_role_policy=service_trust_policy("ec2.amazonaws.com"), opts=self.child())
        attachments = [
            aws.iam.RolePolicyAttachment(
                f"{name}-system-nodes-{policy}", role=node_role.name, policy_arn=args.account.managed_policy_arn(policy), opts=self.child()
            )
            for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly")
        ]
        template = aws.ec2.LaunchTemplate(
            f"{name}-system-nodes",
            description=f"{args.cluster_name} system nodes",
            update_default_version=True,
            metadata_options=aws.ec2.LaunchTemplateMetadataOptionsArgs(http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1),
            block_device_mappings=[
                aws.ec2.LaunchTemplateBlockDeviceMappingArgs(
                    device_name="/dev/xvda",
                    ebs=aws.ec2.LaunchTemplateBlockDeviceMappingEbsArgs(
                        volume_type="gp3", volume_size=nodes.root_volume_gib, encrypted="true", delete_on_termination="true"
                    ),
                )
            ],
            opts=self.child(),
        )
        return aws.eks.NodeGroup(
            f"{name}-system",
            cluster_name=cluster.name,
            version=cluster.version,
            node_role_arn=node_role.arn,
            subnet_ids=args.private_subnet_ids,
            instance_types=[nodes.instance_type],
            ami_type=_AMI_TYPES[INSTANCE_TYPES[nodes.instance_type].cpu_architecture],
            capacity_type="ON_DEMAND",
            scaling_config=aws.eks.NodeGroupScalingConfigArgs(min_size=nodes.min_size, desired_size=nodes.desired_size, max_size=nodes.max_size),
            update_config=aws.eks.NodeGroupUpdateConfigArgs(max_unavailable=1),
            launch_template=aws.eks.NodeGroupLaunchTemplateArgs(id=template.id, version=template.latest_version.apply(str)),
            labels=SYSTEM_NODE_SELECTOR,
            opts=self.child(depends_on=[*attachments, *depends_on], ignore_changes=["scalingConfig.desiredSize"]),
        )
