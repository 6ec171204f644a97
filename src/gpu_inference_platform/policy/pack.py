"""The CrossGuard adapter: each `policy.model.Policy` as a pulumi_policy policy.

Nothing here runs at import; `serve()` (called by `policy/__main__.py` when the Pulumi CLI
starts the pack) builds the PolicyPack, which blocks serving the analyzer over gRPC.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    PolicyPack,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy import Policy as CrossGuardPolicy

from gpu_inference_platform.policy.config import PolicySettings, settings_for
from gpu_inference_platform.policy.model import Finding, Policy, Resource, Stack
from gpu_inference_platform.policy.registry import POLICIES

PACK_NAME = "gpu-inference-guardrails"
_JSON_TYPES = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
_WAIVERS_SCHEMA = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"resource": {"type": "string"}, "reason": {"type": "string", "minLength": 1}},
        "required": ["resource", "reason"],
    },
}


def config_schema(policy: Policy) -> PolicyConfigSchema:
    """The JSON schema of a policy's config: reason, waivers and its own tunables."""
    properties: dict[str, dict[str, Any]] = {"reason": {"type": "string"}, "waivers": _WAIVERS_SCHEMA}
    for key, default in policy.settings.items():
        properties[key] = {"type": _JSON_TYPES[type(default)], "default": default}
    return PolicyConfigSchema(properties=properties)


def _settings(policy: Policy, config: Mapping[str, Any]) -> tuple[PolicySettings, list[str]]:
    problems: list[str] = []
    return settings_for(policy, dict(config), problems), problems


def _report(findings: list[Finding], settings: PolicySettings, report_violation: ReportViolation) -> None:
    for finding in findings:
        if finding.resource is None:
            report_violation(finding.message, None)
        elif finding.resource.name not in settings.waivers:
            report_violation(finding.message, finding.resource.urn)


def _resource_policy(policy: Policy, common: Mapping[str, Any]) -> ResourceValidationPolicy:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        settings, problems = _settings(policy, args.get_config())
        for problem in problems:
            report_violation(f"policy config: {problem}", args.urn)
        resource = Resource(args.resource_type, args.name, args.urn, args.props)
        _report(policy.check_one(resource, settings.settings), settings, report_violation)

    return ResourceValidationPolicy(validate=validate, **common)


def _stack_policy(policy: Policy, common: Mapping[str, Any]) -> StackValidationPolicy:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        settings, problems = _settings(policy, args.get_config())
        for problem in problems:
            report_violation(f"policy config: {problem}", None)
        stack = Stack(
            Resource(r.resource_type, r.name, r.urn, r.props, {k: [d.urn for d in v] for k, v in r.property_dependencies.items()}) for r in args.resources
        )
        _report(policy.check(stack, settings.settings), settings, report_violation)

    return StackValidationPolicy(validate=validate, **common)


def crossguard_policy(policy: Policy) -> CrossGuardPolicy:
    """One policy as CrossGuard runs it: resource policies before each resource is created, stack policies on the whole stack."""
    common = {
        "name": policy.name,
        "description": policy.description,
        "enforcement_level": EnforcementLevel(policy.default_enforcement.value),
        "config_schema": config_schema(policy),
        "display_name": f"{policy.code}: {policy.description}",
        "severity": Severity(policy.severity.value),
        "remediation_steps": policy.remediation,
        "tags": [policy.code, *(s.strip() for s in policy.sources.split(","))],
    }
    return _resource_policy(policy, common) if policy.check_resource else _stack_policy(policy, common)


def serve() -> None:
    """Start the pack (the Pulumi CLI runs this through `policy/__main__.py`)."""
    PolicyPack(name=PACK_NAME, policies=[crossguard_policy(p) for p in POLICIES], enforcement_level=EnforcementLevel.ADVISORY)
