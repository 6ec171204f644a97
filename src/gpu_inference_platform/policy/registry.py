"""Every policy of the pack, in checklist order (P01-P29, K01-K09)."""

from __future__ import annotations

from gpu_inference_platform.policy.checks import (
    capacity,
    cluster,
    identity,
    kubernetes,
    load_balancer,
    network,
    observability,
    reachability,
    runtime_writes,
    serving,
    storage,
    wiring,
)
from gpu_inference_platform.policy.model import Policy

POLICIES: tuple[Policy, ...] = tuple(
    sorted(
        [
            *cluster.POLICIES,
            *capacity.POLICIES,
            *network.POLICIES,
            *load_balancer.POLICIES,
            *storage.POLICIES,
            *identity.POLICIES,
            *observability.POLICIES,
            *kubernetes.POLICIES,
            *serving.POLICIES,
            *wiring.POLICIES,
            *runtime_writes.POLICIES,
            *reachability.POLICIES,
        ],
        key=lambda p: ("PKW".index(p.code[0]), p.code),
    )
)
"""The pack's policies: P (AWS), then K (Kubernetes), then W (wiring), each by number."""

POLICIES_BY_NAME = {p.name: p for p in POLICIES}
