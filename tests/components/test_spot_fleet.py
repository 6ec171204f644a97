"""SpotFleet built alone on an existing cluster: exact children, pools from the Args, and checks instead of a KeyError."""

from __future__ import annotations

from collections import Counter

from gpu_inference_platform import GpuPoolArgs, SpotFleet, SpotFleetArgs
from tests.components.alone import ACCOUNT, CLUSTER, build_alone, children, errors

ZONES = ["us-east-1a", "us-east-1b"]
SPOT = GpuPoolArgs("spot", ["g5.xlarge", "g6.xlarge"], ZONES, gpu_limit=4, weight=100, termination_grace_period_s=110)


def test_children_and_pools_of_a_spot_only_fleet() -> None:
    plan = build_alone(lambda: SpotFleet("fleet", SpotFleetArgs(cluster=CLUSTER, account=ACCOUNT, pools=[SPOT], instance_tags={"team": "ml"})))
    events = ("scheduled-change", "spot-interruption", "rebalance", "instance-state-change")
    assert children(plan, "fleet") == Counter(
        [
            ("aws:sqs/queue:Queue", "fleet-interruptions"),
            ("aws:sqs/queuePolicy:QueuePolicy", "fleet-interruptions"),
            *[("aws:cloudwatch/eventRule:EventRule", f"fleet-{e}") for e in events],
            *[("aws:cloudwatch/eventTarget:EventTarget", f"fleet-{e}") for e in events],
            ("aws:iam/role:Role", "fleet-node"),
            ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "fleet-node-AmazonEKSWorkerNodePolicy"),
            ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "fleet-node-AmazonEC2ContainerRegistryReadOnly"),
            ("aws:eks/accessEntry:AccessEntry", "fleet-node"),
            ("aws:iam/role:Role", "fleet-controller"),
            ("aws:iam/rolePolicy:RolePolicy", "fleet-controller"),
            ("kubernetes:helm.sh/v3:Release", "fleet-karpenter"),
            ("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "fleet-gpu"),
            ("kubernetes:karpenter.sh/v1:NodePool", "fleet-spot"),
        ]
    )
    release = plan.get("kubernetes:helm.sh/v3:Release", "fleet-karpenter").inputs
    assert (release["chart"], release["version"]) == ("oci://public.ecr.aws/karpenter/karpenter", "1.11.1")
    assert release["values"]["settings"]["clusterName"] == "unit" and release["values"]["settings"]["clusterEndpoint"] == CLUSTER.endpoint
    assert plan.get("aws:eks/accessEntry:AccessEntry", "fleet-node").inputs["clusterName"] == "unit"
    assert plan.get("kubernetes:karpenter.k8s.aws/v1:EC2NodeClass", "fleet-gpu").inputs["spec"]["tags"] == {"team": "ml"}
    pool = plan.get("kubernetes:karpenter.sh/v1:NodePool", "fleet-spot").inputs["spec"]
    assert (pool["weight"], pool["limits"]) == (100, {"nvidia.com/gpu": "4"})
    (root,) = plan.roots()
    outputs = root.registered_outputs
    assert (outputs["compute_capabilities"], outputs["max_gpus"], outputs["max_gpu_hours_per_month"], outputs["node_pool_names"]) == (
        ["8.6", "8.9"],
        4,
        2920,
        ["fleet-spot"],
    )


def test_an_unknown_instance_type_is_a_named_error_not_a_key_error() -> None:
    assert errors(lambda: GpuPoolArgs("spot", ["g5.xlarge", "g9.mega"], ZONES, gpu_limit=2, weight=100, termination_grace_period_s=110)) == [
        "GpuPoolArgs.instance_types[1] = 'g9.mega': unknown instance type; allowed: g4dn.xlarge, g5.12xlarge, g5.2xlarge, g5.xlarge, g5g.xlarge, g6.xlarge, "
        "g6e.xlarge, p4d.24xlarge, p5.48xlarge"
    ]


def test_pool_rules() -> None:
    assert errors(lambda: GpuPoolArgs("spot", ["g5.xlarge", "g5g.xlarge"], ["us-east-1a"], gpu_limit=0, weight=100, termination_grace_period_s=180)) == [
        "GpuPoolArgs.instance_types = ['g5.xlarge', 'g5g.xlarge']: mixes CPU architectures (arm64, x86_64); one pool must use one architecture",
        "GpuPoolArgs.gpu_limit = 0: must be at least 1",
        "GpuPoolArgs.availability_zones = ['us-east-1a']: a spot pool needs at least 2 zones to survive a zonal capacity shortage",
        "GpuPoolArgs.termination_grace_period_s = 180: spot nodes get a 120 s notice; allowed: 30..120",
    ]
    on_demand = GpuPoolArgs("on-demand", ["g6.xlarge"], ["us-east-1a"], gpu_limit=1, weight=10, termination_grace_period_s=600)
    assert on_demand.compute_capabilities == frozenset({"8.9"}), "on-demand pools may use one zone and a long drain"
    assert errors(lambda: SpotFleetArgs(cluster=CLUSTER, account=ACCOUNT, pools=[SPOT, SPOT], instance_tags={})) == [
        "SpotFleetArgs.pools = ['spot', 'spot']: one pool per capacity type (the NodePool is named after it)"
    ]
