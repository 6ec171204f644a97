"""P10-P11: spot capacity that is diversified and handles interruptions."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from gpu_inference_platform.policy.model import Finding, Policy, Resource, Settings, Severity, Stack
from gpu_inference_platform.policy.values import as_list, mapping

NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
AUTOSCALING_GROUP = "aws:autoscaling/group:Group"
QUEUE = "aws:sqs/queue:Queue"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
EVENT_TARGET = "aws:cloudwatch/eventTarget:EventTarget"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
SPOT_ALLOCATION = "price-capacity-optimized"
INTERRUPTION_EVENTS = (
    "EC2 Spot Instance Interruption Warning",
    "EC2 Instance Rebalance Recommendation",
    "EC2 Instance State-change Notification",
    "AWS Health Event",
)


def _requirement(pool: Resource, key: str) -> list[str] | None:
    """Values of a NodePool `In` requirement on `key` (None when the pool does not constrain it)."""
    template_spec = mapping(mapping(mapping(pool.props.get("spec")).get("template")).get("spec"))
    for entry in as_list(template_spec.get("requirements")):
        requirement = mapping(entry)
        if requirement.get("key") == key and requirement.get("operator") == "In":
            return [str(v) for v in as_list(requirement.get("values"))]
    return None


def is_spot_pool(pool: Resource) -> bool:
    """Whether a NodePool may launch spot capacity."""
    capacity = _requirement(pool, "karpenter.sh/capacity-type")
    return capacity is None or "spot" in capacity


def _families(instance_types: list[str]) -> list[str]:
    return sorted({t.split(".")[0] for t in instance_types})


def _diversified_spot(resource: Resource, _: Settings) -> Iterator[str]:
    if resource.type == NODE_POOL:
        if not is_spot_pool(resource):
            return
        families = _requirement(resource, "karpenter.k8s.aws/instance-family")
        types = _requirement(resource, "node.kubernetes.io/instance-type")
        found = sorted(set(families)) if families is not None else (_families(types) if types is not None else None)
        zones = _requirement(resource, "topology.kubernetes.io/zone")
    else:
        policy = mapping(resource.props.get("mixedInstancesPolicy"))
        strategy = mapping(policy.get("instancesDistribution")).get("spotAllocationStrategy")
        if strategy != SPOT_ALLOCATION:
            yield f"spot allocation strategy is {strategy or 'not set'} (required: {SPOT_ALLOCATION})"
        overrides = as_list(mapping(policy.get("launchTemplate")).get("overrides"))
        found = _families([str(mapping(o).get("instanceType", "")) for o in overrides if mapping(o).get("instanceType")])
        zones = None
    if found is not None and len(found) < 2:
        yield f"spot capacity draws on one instance family ({', '.join(found) or 'none'}); use >= 2"
    if zones is not None and len(zones) < 2:
        yield f"spot capacity is pinned to one availability zone ({', '.join(zones) or 'none'}); use >= 2"


def _detail_types(rule: Resource) -> list[str]:
    pattern: Any = rule.props.get("eventPattern")
    if isinstance(pattern, str):
        try:
            pattern = json.loads(pattern)
        except json.JSONDecodeError:
            return []
    return [str(t) for t in as_list(mapping(pattern).get("detail-type"))]


def _routed_to_queue(stack: Stack) -> set[str]:
    """Event detail-types that some rule delivers to an SQS queue."""
    routed: set[str] = set()
    for target in stack.of_type(EVENT_TARGET):
        if stack.referenced(target, "arn", QUEUE):
            for rule in stack.referenced(target, "rule", EVENT_RULE):
                routed.update(_detail_types(rule))
    return routed


def _karpenter_queue(values: Mapping[str, Any]) -> Any:
    return mapping(values.get("settings")).get("interruptionQueue")


def _interruption_handling(stack: Stack, _: Settings) -> Iterator[Finding]:
    spot_pools = [p for p in stack.of_type(NODE_POOL) if is_spot_pool(p)]
    if not spot_pools:
        return
    routed = _routed_to_queue(stack)
    for event in INTERRUPTION_EVENTS:
        if event not in routed:
            yield Finding(spot_pools[0], f"no EventBridge rule delivers {event!r} to an SQS queue")
    karpenter = [r for r in stack.of_type(HELM_RELEASE) if "karpenter" in str(r.props.get("chart", ""))]
    if not karpenter:
        yield Finding(spot_pools[0], "no Karpenter release consumes an interruption queue")
    for release in karpenter:
        if not _karpenter_queue(mapping(release.props.get("values"))):
            yield Finding(release, "Karpenter has no settings.interruptionQueue: spot nodes are not drained before reclaim")


POLICIES = [
    Policy(
        "P10",
        "p10-diversified-spot",
        "Spot capacity spans >= 2 instance families and >= 2 availability zones with price-capacity-optimized allocation.",
        Severity.MEDIUM,
        "List >= 2 GPU families in fleet.spot.instanceTypes and >= 2 zones; Karpenter always allocates spot price-capacity-optimized, "
        "auto-scaling groups must set spotAllocationStrategy: price-capacity-optimized.",
        "EKS Best Practices (AI/ML compute)",
        (NODE_POOL, AUTOSCALING_GROUP),
        check_resource=_diversified_spot,
    ),
    Policy(
        "P11",
        "p11-spot-interruption-handling",
        "Spot capacity has interruption handling: an SQS queue fed by EventBridge rules for spot interruptions, rebalance "
        "recommendations, state changes and health events, consumed by Karpenter.",
        Severity.HIGH,
        "Use SpotFleet (it creates the queue, the four rules and sets Karpenter's settings.interruptionQueue).",
        "aws-node-termination-handler, Karpenter docs",
        check_stack=_interruption_handling,
    ),
]
