"""SpotFleet component: Karpenter install, interruption handling, node class, pools and limits."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from gpu_inference_platform.components.spot_fleet import GpuPoolArgs, fleet_compute_capabilities, max_gpu_hours_per_month
from gpu_inference_platform.preview.harness import Plan

FLEET = "gpu-fleet"
NODEPOOL = "kubernetes:karpenter.sh/v1:NodePool"
NODECLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
EVENTS = ("scheduled-change", "spot-interruption", "rebalance", "instance-state-change")


def test_children_are_exact(plans: dict[str, Plan]) -> None:
    children = Counter((r.type, r.name) for r in plans["prod"].children(FLEET))
    expected = Counter(
        [
            ("aws:sqs/queue:Queue", "gpu-fleet-interruptions"),
            ("aws:sqs/queuePolicy:QueuePolicy", "gpu-fleet-interruptions"),
            ("aws:iam/role:Role", "gpu-fleet-node"),
            ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "gpu-fleet-node-AmazonEKSWorkerNodePolicy"),
            ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "gpu-fleet-node-AmazonEC2ContainerRegistryReadOnly"),
            ("aws:eks/accessEntry:AccessEntry", "gpu-fleet-node"),
            ("aws:iam/role:Role", "gpu-fleet-controller"),
            ("aws:iam/rolePolicy:RolePolicy", "gpu-fleet-controller"),
            ("kubernetes:helm.sh/v3:Release", "gpu-fleet-karpenter"),
            (NODECLASS, "gpu-fleet-gpu"),
            (NODEPOOL, "gpu-fleet-spot"),
            (NODEPOOL, "gpu-fleet-on-demand"),
        ]
        + [("aws:cloudwatch/eventRule:EventRule", f"gpu-fleet-{e}") for e in EVENTS]
        + [("aws:cloudwatch/eventTarget:EventTarget", f"gpu-fleet-{e}") for e in EVENTS]
    )
    assert children == expected


def test_every_interruption_event_is_routed_to_the_queue(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    queue = plan.get("aws:sqs/queue:Queue", "gpu-fleet-interruptions")
    assert (queue.inputs["messageRetentionSeconds"], queue.inputs["sqsManagedSseEnabled"]) == (300, True)
    patterns = {}
    for event in EVENTS:
        rule = plan.get("aws:cloudwatch/eventRule:EventRule", f"gpu-fleet-{event}")
        target = plan.get("aws:cloudwatch/eventTarget:EventTarget", f"gpu-fleet-{event}").inputs
        assert (target["rule"], target["arn"]) == (rule.outputs["name"], queue.outputs["arn"])
        patterns[event] = json.loads(rule.inputs["eventPattern"])
    assert patterns == {
        "scheduled-change": {"source": ["aws.health"], "detail-type": ["AWS Health Event"]},
        "spot-interruption": {"source": ["aws.ec2"], "detail-type": ["EC2 Spot Instance Interruption Warning"]},
        "rebalance": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance Rebalance Recommendation"]},
        "instance-state-change": {"source": ["aws.ec2"], "detail-type": ["EC2 Instance State-change Notification"]},
    }
    statements = json.loads(plan.get("aws:sqs/queuePolicy:QueuePolicy", "gpu-fleet-interruptions").inputs["policy"])["Statement"]
    assert statements[0]["Principal"] == {"Service": ["events.amazonaws.com", "sqs.amazonaws.com"]}
    assert (statements[0]["Action"], statements[0]["Resource"]) == ("sqs:SendMessage", queue.outputs["arn"])
    rules = sorted(plan.get("aws:cloudwatch/eventRule:EventRule", f"gpu-fleet-{event}").outputs["arn"] for event in EVENTS)
    assert statements[0]["Condition"] == {"ArnEquals": {"aws:SourceArn": rules}}, "only this fleet's rules may send"
    assert (statements[1]["Effect"], statements[1]["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})


def test_controller_role_is_irsa_scoped_and_least_privilege(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    trust = json.loads(plan.get("aws:iam/role:Role", "gpu-fleet-controller").inputs["assumeRolePolicy"])["Statement"][0]
    issuer = plan.get("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "gpu-oidc").inputs["url"].removeprefix("https://")
    assert trust["Condition"]["StringEquals"] == {f"{issuer}:sub": "system:serviceaccount:kube-system:karpenter", f"{issuer}:aud": "sts.amazonaws.com"}
    policy = json.loads(plan.get("aws:iam/rolePolicy:RolePolicy", "gpu-fleet-controller").inputs["policy"])
    by_sid = {s["Sid"]: s for s in policy["Statement"]}
    for statement in policy["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert all("*" not in action for action in actions), statement["Sid"]
    wildcard_resources = sorted(s["Sid"] for s in policy["Statement"] if s["Resource"] == "*")
    assert wildcard_resources == ["ListInstanceProfiles", "PricingReadOnly", "RegionalReadOnly"], "only non-scopable read and list calls use Resource *"
    assert by_sid["RegionalReadOnly"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-west-2"}}
    assert by_sid["DeleteOnlyOwned"]["Condition"]["StringEquals"] == {"aws:ResourceTag/kubernetes.io/cluster/gip-prod": "owned"}
    node_role = plan.get("aws:iam/role:Role", "gpu-fleet-node").outputs["arn"]
    assert (by_sid["PassNodeRole"]["Resource"], by_sid["PassNodeRole"]["Condition"]) == (
        node_role,
        {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
    )
    queue_arn = plan.get("aws:sqs/queue:Queue", "gpu-fleet-interruptions").outputs["arn"]
    assert by_sid["ConsumeInterruptionQueue"]["Resource"] == queue_arn
    assert by_sid["DescribeCluster"]["Resource"] == plan.get("aws:eks/cluster:Cluster", "gpu-eks").outputs["arn"]


def test_karpenter_release_is_pinned_and_wired(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    release = plan.get("kubernetes:helm.sh/v3:Release", "gpu-fleet-karpenter").inputs
    assert (release["chart"], release["version"], release["namespace"], release["name"]) == (
        "oci://public.ecr.aws/karpenter/karpenter",
        "1.11.1",
        "kube-system",
        "karpenter",
    )
    values = release["values"]
    assert values["settings"] == {
        "clusterName": "gip-prod",
        "clusterEndpoint": plan.get("aws:eks/cluster:Cluster", "gpu-eks").outputs["endpoint"],
        "interruptionQueue": plan.get("aws:sqs/queue:Queue", "gpu-fleet-interruptions").outputs["name"],
    }
    assert values["serviceAccount"]["annotations"] == {"eks.amazonaws.com/role-arn": plan.get("aws:iam/role:Role", "gpu-fleet-controller").outputs["arn"]}
    assert (values["replicas"], values["nodeSelector"]) == (2, {"gpuinfra.io/node-pool": "system"})


def test_node_class_is_locked_down_and_discovers_by_tag(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    spec = plan.get(NODECLASS, "gpu-fleet-gpu").inputs["spec"]
    assert spec["metadataOptions"] == {"httpEndpoint": "enabled", "httpProtocolIPv6": "disabled", "httpPutResponseHopLimit": 1, "httpTokens": "required"}
    assert spec["blockDeviceMappings"] == [
        {"deviceName": "/dev/xvda", "ebs": {"volumeSize": "250Gi", "volumeType": "gp3", "encrypted": True, "deleteOnTermination": True}, "rootVolume": True}
    ]
    assert spec["subnetSelectorTerms"] == spec["securityGroupSelectorTerms"] == [{"tags": {"karpenter.sh/discovery": "gip-prod"}}]
    assert (spec["amiSelectorTerms"], spec["associatePublicIPAddress"]) == ([{"alias": "al2023@v20260714"}], False)
    assert spec["role"] == plan.get("aws:iam/role:Role", "gpu-fleet-node").outputs["name"]
    assert spec["tags"] == {
        "project": "gpu-inference-platform",
        "stack": "prod",
        "environment": "prod",
        "cost-center": "ml-platform-prod",
        "component": "spotfleet",
    }


def test_discovery_tags_match_what_network_and_cluster_set(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    selector = plan.get(NODECLASS, "gpu-fleet-gpu").inputs["spec"]["subnetSelectorTerms"][0]["tags"]
    private = [s for s in plan.of_type("aws:ec2/subnet:Subnet") if "-private-" in s.name]
    assert all(selector.items() <= s.inputs["tags"].items() for s in private)
    tag = plan.get("aws:ec2/tag:Tag", "gpu-karpenter-discovery").inputs
    assert {tag["key"]: tag["value"]} == selector


def _pool(plan: Plan, capacity: str) -> dict:
    return plan.get(NODEPOOL, f"gpu-fleet-{capacity}").inputs["spec"]


def test_prod_pools_spot_first_with_on_demand_fallback(plans: dict[str, Plan]) -> None:
    spot, on_demand = _pool(plans["prod"], "spot"), _pool(plans["prod"], "on-demand")
    assert (spot["weight"], on_demand["weight"]) == (100, 10)
    assert (spot["limits"], on_demand["limits"]) == ({"nvidia.com/gpu": "20"}, {"nvidia.com/gpu": "6"})
    requirements = {r["key"]: r["values"] for r in spot["template"]["spec"]["requirements"]}
    assert requirements == {
        "karpenter.sh/capacity-type": ["spot"],
        "node.kubernetes.io/instance-type": ["g5.xlarge", "g5.2xlarge", "g6.xlarge", "g6e.xlarge"],
        "topology.kubernetes.io/zone": ["us-west-2a", "us-west-2b", "us-west-2c"],
        "kubernetes.io/arch": ["amd64"],
        "kubernetes.io/os": ["linux"],
    }
    assert {r["key"]: r["values"] for r in on_demand["template"]["spec"]["requirements"]}["karpenter.sh/capacity-type"] == ["on-demand"]
    for pool, grace, budget in ((spot, "110s", "20%"), (on_demand, "300s", "1")):
        template = pool["template"]
        assert template["spec"]["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NoSchedule"}]
        assert template["spec"]["nodeClassRef"] == {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "gpu-fleet-gpu"}
        assert (template["spec"]["terminationGracePeriod"], template["spec"]["expireAfter"]) == (grace, "720h")
        assert template["metadata"]["labels"]["nvidia.com/gpu.present"] == "true"
        assert pool["disruption"] == {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "10m", "budgets": [{"nodes": budget}]}


def test_dev_is_all_spot_with_a_small_limit(plans: dict[str, Plan]) -> None:
    pools = plans["dev"].of_type(NODEPOOL)
    assert [p.name for p in pools] == ["gpu-fleet-spot"]
    assert pools[0].inputs["spec"]["limits"] == {"nvidia.com/gpu": "5"}, "peak serving (2 groups x 2) + 1 for engine builds"


@pytest.mark.parametrize(
    ("stack", "capabilities", "max_gpus", "gpu_hours"),
    [("dev", ["7.5", "8.6", "8.9"], 5, 3650), ("staging", ["7.5", "8.6", "8.9"], 8, 5840), ("prod", ["8.6", "8.9"], 26, 18980)],
)
def test_fleet_exposes_capabilities_and_bounds_as_plain_data(
    plans: dict[str, Plan], stack: str, capabilities: list[str], max_gpus: int, gpu_hours: int
) -> None:
    outputs = plans[stack].outputs
    assert (outputs["fleetComputeCapabilities"], outputs["fleetMaxGpus"], outputs["fleetMaxGpuHoursPerMonth"]) == (capabilities, max_gpus, gpu_hours)


def test_capabilities_and_gpu_hours_come_from_the_catalog() -> None:
    pools = [
        GpuPoolArgs("spot", ["g4dn.xlarge", "p5.48xlarge"], ["us-east-1a", "us-east-1b"], gpu_limit=16, weight=100, termination_grace_period_s=110),
        GpuPoolArgs("on-demand", ["p4d.24xlarge"], ["us-east-1a"], gpu_limit=8, weight=10, termination_grace_period_s=300),
    ]
    assert fleet_compute_capabilities(pools) == {"7.5", "9.0", "8.0"}
    assert max_gpu_hours_per_month(pools) == 24 * 730
