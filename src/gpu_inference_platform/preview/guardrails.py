"""The policy pack on an offline plan: the same checks `pulumi preview --policy-pack policy` runs."""

from __future__ import annotations

from pathlib import Path

from gpu_inference_platform.policy.config import PolicyConfigError, load_pack_config
from gpu_inference_platform.policy.engine import Report, evaluate
from gpu_inference_platform.policy.model import Resource, Stack
from gpu_inference_platform.preview.harness import COMPONENT_PREFIX, Plan

POLICY_CONFIG_DIR = Path("policy/config")
"""Per-stack policy configs, relative to the project root (the working directory of every command)."""


def policy_config_path(stack: str) -> Path:
    """The committed policy config of a stack (`policy/config/<stack>.json`)."""
    return POLICY_CONFIG_DIR / f"{stack}.json"


def plan_resources(plan: Plan) -> Stack:
    """The plan as the policy engine sees a stack: custom resources with their inputs and property dependencies."""
    return Stack(Resource(r.type, r.name, r.urn, r.inputs, r.dependencies) for r in plan.resources if not r.type.startswith(COMPONENT_PREFIX))


def check_plan(plan: Plan, config_path: Path | None = None) -> Report:
    """Run every policy on the plan with the stack's policy config; a waiver for a resource the plan lacks is a config error."""
    path = config_path or policy_config_path(plan.stack)
    config = load_pack_config(path)
    planned = {r.name for r in plan.resources}
    stale = [
        f"{policy}.waivers: {resource!r} is not a resource of this plan (a waiver must name a planned resource's logical name)"
        for policy, settings in config.items()
        for resource in settings.waivers
        if resource not in planned
    ]
    if stale:
        raise PolicyConfigError(str(path), stale)
    return evaluate(plan_resources(plan), config)
