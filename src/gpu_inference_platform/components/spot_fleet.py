"""SpotFleet: elastic GPU capacity with Karpenter - spot first, on-demand fallback, hard GPU limits.

Karpenter runs on the system nodes with an IRSA role scoped to this cluster, drains
nodes on spot interruption warnings, rebalance recommendations, state changes and
scheduled health events (SQS queue fed by EventBridge), and launches GPU nodes from
one EC2NodeClass into two NodePools.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.cluster_ref import ClusterRef
from gpu_inference_platform.components.constants import (
    CAPACITY_TYPE_LABEL,
    GPU_PRESENT_LABEL,
    GPU_RESOURCE,
    GPU_TAINT_KEY,
    HOURS_PER_MONTH,
    INSTANCE_TYPE_LABEL,
    KARPENTER_CHART,
    KARPENTER_NAMESPACE,
    KARPENTER_RELEASE,
    SYSTEM_NODE_LABEL,
    SYSTEM_NODE_SELECTOR,
)
from gpu_inference_platform.components.iam import AccountContext, deny_insecure_transport, policy_document, service_account_role, service_trust_policy
from gpu_inference_platform.components.instances import GPU_INSTANCE_TYPES, INSTANCE_TYPES
from gpu_inference_platform.components.karpenter_policy import KarpenterScope, karpenter_controller_policy
from gpu_inference_platform.components.validation import ConfigIssue, KeyPath, args_key, check_args

NODEPOOL_API = "karpenter.sh/v1"
NODECLASS_API = "karpenter.k8s.aws/v1"
SPOT_NOTICE_S = 120
"""Warning EC2 gives before it reclaims a spot instance."""
MIN_SPOT_ZONES = 2
_KUBERNETES_ARCH = {"x86_64": "amd64", "arm64": "arm64"}

CapacityType = Literal["spot", "on-demand"]

INTERRUPTION_EVENTS: dict[str, dict[str, list[str]]] = {
    "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
    "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
    "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
    "instance-state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
}
"""EventBridge patterns Karpenter consumes from its interruption queue."""


def pool_issues(
    key: KeyPath, capacity_type: CapacityType, *, instance_types: Sequence[str], zones: Sequence[str], gpu_limit: int, termination_grace_period_s: int
) -> Iterator[ConfigIssue]:
    """A GPU pool: known GPU types of one CPU architecture, a positive GPU limit; spot pools also span zones and families and drain within the notice."""
    if not instance_types:
        yield ConfigIssue(key("instance_types"), [], f"list at least one; allowed: {', '.join(GPU_INSTANCE_TYPES)}")
    for i, name in enumerate(instance_types):
        instance = INSTANCE_TYPES.get(name)
        if instance is None or instance.gpu is None:
            reason = "unknown instance type" if instance is None else "has no GPU"
            yield ConfigIssue(key(f"instance_types[{i}]"), name, f"{reason}; allowed: {', '.join(GPU_INSTANCE_TYPES)}")
    known = [INSTANCE_TYPES[t] for t in instance_types if t in INSTANCE_TYPES]
    architectures = sorted({t.cpu_architecture for t in known})
    if len(architectures) > 1:
        yield ConfigIssue(
            key("instance_types"), list(instance_types), f"mixes CPU architectures ({', '.join(architectures)}); one pool must use one architecture"
        )
    if gpu_limit < 1:
        yield ConfigIssue(key("gpu_limit"), gpu_limit, "must be at least 1")
    if capacity_type != "spot":
        return
    if len(set(zones)) < MIN_SPOT_ZONES:
        yield ConfigIssue(key("availability_zones"), list(zones), f"a spot pool needs at least {MIN_SPOT_ZONES} zones to survive a zonal capacity shortage")
    if len({t.family for t in known}) < 2:
        one_family = "a spot pool with one instance family is interrupted all at once; list at least two"
        yield ConfigIssue(key("instance_types"), list(instance_types), one_family, "warning")
    if termination_grace_period_s > SPOT_NOTICE_S:
        yield ConfigIssue(
            key("termination_grace_period_s"), termination_grace_period_s, f"spot nodes get a {SPOT_NOTICE_S} s notice; allowed: 30..{SPOT_NOTICE_S}"
        )


@dataclass(frozen=True)
class GpuPoolArgs:
    """One Karpenter NodePool of GPU instances."""

    capacity_type: CapacityType
    """`spot` or `on-demand`; names the NodePool (`<fleet>-<capacity_type>`), so one pool per capacity type."""
    instance_types: Sequence[str]
    """GPU instance types of the catalog, one CPU architecture (spot: ideally two or more families)."""
    availability_zones: Sequence[str]
    """Zones the pool launches into (spot: at least two)."""
    gpu_limit: int
    """Hard cap on `nvidia.com/gpu` across the pool's nodes (bounds the bill)."""
    weight: int
    """Higher weight is tried first; the on-demand fallback gets the lower weight."""
    termination_grace_period_s: int
    """Longest a node may drain before it is terminated (spot: within the 2-minute notice)."""
    max_disrupted_nodes: str = "1"
    """Voluntary disruption budget (consolidation, drift): nodes at once, count or percentage."""

    def __post_init__(self) -> None:
        check_args(
            self,
            pool_issues(
                args_key("GpuPoolArgs"),
                self.capacity_type,
                instance_types=self.instance_types,
                zones=self.availability_zones,
                gpu_limit=self.gpu_limit,
                termination_grace_period_s=self.termination_grace_period_s,
            ),
        )

    @property
    def kubernetes_architectures(self) -> list[str]:
        """`kubernetes.io/arch` values of the pool's instance types."""
        return sorted({_KUBERNETES_ARCH[INSTANCE_TYPES[t].cpu_architecture] for t in self.instance_types})

    @property
    def compute_capabilities(self) -> frozenset[str]:
        """GPU compute capabilities this pool can launch."""
        return frozenset(gpu.compute_capability for t in self.instance_types if (gpu := INSTANCE_TYPES[t].gpu) is not None)


@dataclass(frozen=True)
class SpotFleetArgs:
    """Settings and wiring of the GPU fleet."""

    cluster: ClusterRef
    """The cluster Karpenter manages nodes for."""
    account: AccountContext
    """Account, partition and region (scopes the controller's IAM)."""
    pools: Sequence[GpuPoolArgs]
    """The NodePools, at most one per capacity type (typically spot first, on-demand fallback)."""
    instance_tags: Mapping[str, str]
    """Tags Karpenter puts on the instances, volumes and launch templates it creates (cost allocation)."""
    root_volume_gib: int = 200
    """Room for Triton images (14-18 GB compressed) and model caches."""
    ami_alias: str = "al2023@latest"
    """EKS-optimised AL2023; Karpenter picks the NVIDIA variant for GPU types. Pin `al2023@vYYYYMMDD` to freeze AMIs."""
    karpenter_version: str = KARPENTER_CHART.version
    """Karpenter chart and controller version (the IAM policy follows its upstream reference)."""
    consolidate_after: str = "10m"
    """How long a node must be empty or underused before Karpenter consolidates it."""
    node_expiry: str = "720h"
    """Nodes are replaced after this age (fresh AMIs and patches)."""

    def __post_init__(self) -> None:
        kinds = [pool.capacity_type for pool in self.pools]
        issues = []
        if not kinds:
            issues.append(ConfigIssue("SpotFleetArgs.pools", [], "list at least one pool"))
        if len(set(kinds)) != len(kinds):
            issues.append(ConfigIssue("SpotFleetArgs.pools", kinds, "one pool per capacity type (the NodePool is named after it)"))
        check_args(self, issues)


def fleet_compute_capabilities(pools: Sequence[GpuPoolArgs]) -> frozenset[str]:
    """Every GPU compute capability the fleet can launch: each needs a TensorRT engine."""
    return frozenset().union(*(pool.compute_capabilities for pool in pools))


def max_gpu_hours_per_month(pools: Sequence[GpuPoolArgs]) -> int:
    """GPU-hours a month if every pool sits at its hard limit all month."""
    return sum(pool.gpu_limit for pool in pools) * HOURS_PER_MONTH


class SpotFleet(PlatformComponent):
    """Karpenter-managed GPU capacity for one cluster."""

    compute_capabilities: list[str]
    """GPU compute capabilities the fleet can launch, sorted (plain data, known at preview)."""
    max_gpus: int
    """Sum of the pools' hard GPU limits."""
    max_gpu_hours_per_month: int
    """GPU-hours a month with every pool at its limit (bounds the GPU bill)."""
    interruption_queue_url: pulumi.Output[str]
    """SQS queue Karpenter reads interruption events from."""
    controller_role_arn: pulumi.Output[str]
    """IRSA role of the Karpenter controller."""
    controller_role_name: pulumi.Output[str]
    """Its name (the budget action attaches its deny-GPU-launch policy here)."""
    node_role_name: pulumi.Output[str]
    """IAM role of the GPU nodes."""
    node_class_name: str
    """The EC2NodeClass every pool launches from."""
    node_pool_names: list[str]
    """NodePool names, in `pools` order."""
    interruption_queue: aws.sqs.Queue
    """The interruption queue resource."""
    karpenter: k8s.helm.v3.Release
    """The Karpenter Helm release (depend on it before creating NodePools of your own)."""

    def __init__(self, name: str, args: SpotFleetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spotfleet", "SpotFleet", name, opts)
        self.compute_capabilities = sorted(fleet_compute_capabilities(args.pools))
        self.max_gpus = sum(pool.gpu_limit for pool in args.pools)
        self.max_gpu_hours_per_month = max_gpu_hours_per_month(args.pools)

        queue = self._interruption_queue(name)
        node_role = self._node_role(name, args)
        controller_role = service_account_role(
            f"{name}-controller",
            oidc_provider_arn=args.cluster.oidc_provider_arn,
            oidc_issuer_url=args.cluster.oidc_issuer_url,
            namespace=KARPENTER_NAMESPACE,
            service_account=KARPENTER_RELEASE,
            opts=self.child(),
            force_detach_policies=True,  # BudgetAlarms' budget action attaches its deny policy outside Pulumi
        )
        scope = pulumi.Output.all(
            args.account.partition, args.account.region, args.account.account_id, args.cluster.name, args.cluster.arn, queue.arn, node_role.arn
        )
        controller_policy = aws.iam.RolePolicy(
            f"{name}-controller",
            role=controller_role.id,
            policy=scope.apply(lambda s: karpenter_controller_policy(KarpenterScope(*s))),
            opts=self.child(),
        )
        release = k8s.helm.v3.Release(
            f"{name}-karpenter",
            name=KARPENTER_RELEASE,
            chart=KARPENTER_CHART.chart,
            version=args.karpenter_version,
            namespace=KARPENTER_NAMESPACE,
            atomic=True,
            values=self._karpenter_values(args, queue, controller_role),
            opts=self.child(depends_on=[controller_policy]),
        )
        self.node_class_name = self._node_class(name, args, node_role, release)
        self.node_pool_names = [self._node_pool(name, args, pool, self.node_class_name, release) for pool in args.pools]

        self.interruption_queue = queue
        self.karpenter = release
        self.interruption_queue_url = queue.url
        self.controller_role_arn = controller_role.arn
        self.controller_role_name = controller_role.name
        self.node_role_name = node_role.name
        self.register_outputs(self.public_outputs())

    def _interruption_queue(self, name: str) -> aws.sqs.Queue:
        """SQS queue fed by EventBridge with every event that means "this node is going away" (and only by these rules)."""
        queue = aws.sqs.Queue(f"{name}-interruptions", message_retention_seconds=300, sqs_managed_sse_enabled=True, opts=self.child())
        rules = {
            event: aws.cloudwatch.EventRule(
                f"{name}-{event}", description=f"Karpenter interruption handling: {event}", event_pattern=json.dumps(pattern), opts=self.child()
            )
            for event, pattern in INTERRUPTION_EVENTS.items()
        }
        aws.sqs.QueuePolicy(
            f"{name}-interruptions",
            queue_url=queue.url,
            policy=pulumi.Output.all(queue.arn, *(rule.arn for rule in rules.values())).apply(
                lambda arns: policy_document(
                    [
                        {
                            "Sid": "EventBridgeDelivers",
                            "Effect": "Allow",
                            "Principal": {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]},
                            "Action": "sqs:SendMessage",
                            "Resource": arns[0],
                            "Condition": {"ArnEquals": {"aws:SourceArn": sorted(arns[1:])}},
                        },
                        deny_insecure_transport("sqs", arns[0]),
                    ]
                )
            ),
            opts=self.child(),
        )
        for event, rule in rules.items():
            aws.cloudwatch.EventTarget(f"{name}-{event}", rule=rule.name, arn=queue.arn, opts=self.child())
        return queue

    def _node_role(self, name: str, args: SpotFleetArgs) -> aws.iam.Role:
        """Role of the GPU nodes, registered with the cluster through an EC2_LINUX access entry."""
        role = aws.iam.Role(f"{name}-node", assume_role_policy=service_trust_policy("ec2.amazonaws.com"), opts=self.child())
        for policy in ("AmazonEKSWorkerNodePolicy", "AmazonEC2ContainerRegistryReadOnly"):
            aws.iam.RolePolicyAttachment(f"{name}-node-{policy}", role=role.name, policy_arn=args.account.managed_policy_arn(policy), opts=self.child())
        aws.eks.AccessEntry(f"{name}-node", cluster_name=args.cluster.name, principal_arn=role.arn, type="EC2_LINUX", opts=self.child())
        return role

    def _karpenter_values(self, args: SpotFleetArgs, queue: aws.sqs.Queue, role: aws.iam.Role) -> dict[str, Any]:
        """Helm values: two replicas on the system nodes, IRSA, interruption queue."""
        return {
            "replicas": 2,
            "settings": {"clusterName": args.cluster.name, "clusterEndpoint": args.cluster.endpoint, "interruptionQueue": queue.name},
            "serviceAccount": {"name": KARPENTER_RELEASE, "annotations": {"eks.amazonaws.com/role-arn": role.arn}},
            "nodeSelector": SYSTEM_NODE_SELECTOR,
            "controller": {"resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"memory": "1Gi"}}},
            "podDisruptionBudget": {"name": "karpenter", "maxUnavailable": 1},
        }

    def _node_class(self, name: str, args: SpotFleetArgs, node_role: aws.iam.Role, release: k8s.helm.v3.Release) -> str:
        """GPU node template (returns its name): NVIDIA AL2023 AMI, IMDSv2 only with hop limit 1, encrypted gp3 root, discovery by tag."""
        discovery = [{"tags": {"karpenter.sh/discovery": args.cluster.name}}]
        class_name = f"{name}-gpu"
        k8s.apiextensions.CustomResource(
            class_name,
            api_version=NODECLASS_API,
            kind="EC2NodeClass",
            metadata={"name": class_name},
            spec={
                "role": node_role.name,
                "amiSelectorTerms": [{"alias": args.ami_alias}],
                "subnetSelectorTerms": discovery,
                "securityGroupSelectorTerms": discovery,
                "associatePublicIPAddress": False,
                "metadataOptions": {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"},
                "blockDeviceMappings": [
                    {
                        "deviceName": "/dev/xvda",
                        "ebs": {"volumeSize": f"{args.root_volume_gib}Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True},
                        "rootVolume": True,
                    }
                ],
                "tags": dict(args.instance_tags),
            },
            opts=self.child(depends_on=[release]),
        )
        return class_name

    def _node_pool(self, name: str, args: SpotFleetArgs, pool: GpuPoolArgs, node_class: str, release: k8s.helm.v3.Release) -> str:
        """A NodePool of one capacity type over the pool's instance types and zones, tainted for GPU pods only (returns its name)."""
        pool_name = f"{name}-{pool.capacity_type}"
        k8s.apiextensions.CustomResource(
            pool_name,
            api_version=NODEPOOL_API,
            kind="NodePool",
            metadata={"name": pool_name},
            spec={
                "weight": pool.weight,
                "limits": {GPU_RESOURCE: str(pool.gpu_limit)},
                "template": {
                    "metadata": {"labels": {SYSTEM_NODE_LABEL: pool_name, GPU_PRESENT_LABEL: "true"}},
                    "spec": {
                        "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": node_class},
                        "requirements": [
                            {"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": [pool.capacity_type]},
                            {"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": list(pool.instance_types)},
                            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(pool.availability_zones)},
                            {"key": "kubernetes.io/arch", "operator": "In", "values": pool.kubernetes_architectures},
                            {"key": "kubernetes.io/os", "operator": "In", "values": ["linux"]},
                        ],
                        "taints": [{"key": GPU_TAINT_KEY, "value": "true", "effect": "NoSchedule"}],
                        "expireAfter": args.node_expiry,
                        "terminationGracePeriod": f"{pool.termination_grace_period_s}s",
                    },
                },
                "disruption": {
                    "consolidationPolicy": "WhenEmptyOrUnderutilized",
                    "consolidateAfter": args.consolidate_after,
                    "budgets": [{"nodes": pool.max_disrupted_nodes}],
                },
            },
            opts=self.child(depends_on=[release]),
        )
        return pool_name
