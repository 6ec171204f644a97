"""GpuCluster: a hardened EKS control plane, IRSA, a CPU system node group, core add-ons and the GPU device plugin."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.device_plugin import DEFAULT_DEVICE_PLUGIN_IMAGE, nvidia_device_plugin
from gpu_inference_platform.components.iam import AccountContext, encryption_key, service_account_role, service_trust_policy
from gpu_inference_platform.components.instances import INSTANCE_TYPES
from gpu_inference_platform.components.kubeconfig import eks_kubeconfig

CONTROL_PLANE_LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
_AMI_TYPES = {"x86_64": "AL2023_x86_64_STANDARD", "arm64": "AL2023_ARM_64_STANDARD"}
_CLUSTER_ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
SYSTEM_NODE_LABEL = "gpuinfra.io/node-pool"


def _oidc_issuer(identities: Sequence[aws.eks.outputs.ClusterIdentity]) -> str:
    """The cluster's OIDC issuer URL (EKS always creates exactly one)."""
    issuers = [oidc.issuer for identity in identities for oidc in identity.oidcs or [] if oidc.issuer]
    if not issuers:
        raise ValueError("EKS cluster reported no OIDC issuer")
    return issuers[0]


@dataclass(frozen=True)
class SystemNodeGroupArgs:
    """The always-on CPU node group that runs cluster controllers (Karpenter, LB controller, monitoring)."""

    instance_type: str
    min_size: int
    desired_size: int
    max_size: int
    root_volume_gib: int = 50


@dataclass(frozen=True)
class GpuClusterArgs:
    """Settings of the cluster. Defaults are the production posture: private endpoint only."""

    cluster_name: str
    kubernetes_version: str
    private_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    system_nodes: SystemNodeGroupArgs
    account: AccountContext
    log_retention_days: int
    endpoint_public_access: bool = False
    public_access_cidrs: Sequence[str] = ()
    admin_principal_arns: Sequence[str] = ()
    device_plugin_image: str = DEFAULT_DEVICE_PLUGIN_IMAGE


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
    provider: k8s.Provider
    """Kubernetes provider for components that deploy into this cluster."""

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
            entry = aws.eks.AccessEntry(f"{name}-admin-{index}", cluster_name=cluster.name, principal_arn=principal, type="STANDARD", opts=self.child())
            aws.eks.AccessPolicyAssociation(
                f"{name}-admin-{index}",
                cluster_name=cluster.name,
                principal_arn=entry.principal_arn,
                policy_arn=_CLUSTER_ADMIN_POLICY,
                access_scope=aws.eks.AccessPolicyAssociationAccessScopeArgs(type="cluster"),
                opts=self.child(),
            )

        cni_role = service_account_role(
            f"{name}-vpc-cni", oidc_provider_arn=oidc.arn, oidc_issuer_url=issuer, namespace="kube-system", service_account="aws-node", opts=self.child()
        )
        cni_policy = aws.iam.RolePolicyAttachment(
            f"{name}-vpc-cni", role=cni_role.name, policy_arn=account.managed_policy_arn("AmazonEKS_CNI_Policy"), opts=self.child()
        )
        vpc_cni = self._addon(name, cluster, "vpc-cni", service_account_role_arn=cni_role.arn, depends_on=[cni_policy])
        kube_proxy = self._addon(name, cluster, "kube-proxy")

        system_nodes = self._system_node_group(name, args, cluster, depends_on=[vpc_cni, kube_proxy])
        self._addon(name, cluster, "coredns", depends_on=[system_nodes])

        self.cluster_name = cluster.name
        self.cluster_arn = cluster.arn
        self.endpoint = cluster.endpoint
        self.oidc_provider_arn = oidc.arn
        self.oidc_issuer_url = issuer
        self.cluster_security_group_id = cluster.vpc_config.apply(lambda c: c.cluster_security_group_id or "")
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

        self.register_outputs(
            {
                "cluster_name": self.cluster_name,
                "endpoint": self.endpoint,
                "oidc_provider_arn": self.oidc_provider_arn,
                "kubeconfig": self.kubeconfig,
            }
        )

    def _addon(
        self,
        name: str,
        cluster: aws.eks.Cluster,
        addon: str,
        *,
        service_account_role_arn: pulumi.Input[str] | None = None,
        depends_on: Sequence[pulumi.Resource] = (),
    ) -> aws.eks.Addon:
        """An EKS-managed add-on at the default version for the cluster's Kubernetes version."""
        return aws.eks.Addon(
            f"{name}-{addon}",
            cluster_name=cluster.name,
            addon_name=addon,
            service_account_role_arn=service_account_role_arn,
            resolve_conflicts_on_create="OVERWRITE",
            resolve_conflicts_on_update="OVERWRITE",
            opts=self.child(depends_on=list(depends_on)),
        )

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
            labels={SYSTEM_NODE_LABEL: "system"},
            opts=self.child(depends_on=[*attachments, *depends_on], ignore_changes=["scalingConfig.desiredSize"]),
        )
