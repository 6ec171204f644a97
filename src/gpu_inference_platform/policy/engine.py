"""Run the pack over a stack: violations by severity and enforcement, with waived findings kept apart."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from gpu_inference_platform.policy.config import PolicySettings
from gpu_inference_platform.policy.model import Enforcement, Policy, Severity, Stack
from gpu_inference_platform.policy.registry import POLICIES

SEVERITY_ORDER = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW)


@dataclass(frozen=True)
class Violation:
    """One finding of one policy, with how it is enforced for this stack."""

    code: str
    policy: str
    severity: str
    enforcement: str
    resource_type: str | None
    resource: str | None
    message: str
    waiver: str | None = None
    """The waiver's reason, for findings a stack waived."""

    def line(self) -> str:
        """`[P21 mandatory] aws:s3/bucket:Bucket alb-access-logs: message`."""
        where = f"{self.resource_type} {self.resource}" if self.resource else "stack"
        return f"[{self.code} {self.enforcement}] {where}: {self.message}"


@dataclass
class Report:
    """Violations (and waived findings) of a whole pack on one stack."""

    violations: list[Violation] = field(default_factory=list)
    waived: list[Violation] = field(default_factory=list)

    @property
    def mandatory(self) -> list[Violation]:
        """Violations that block the deployment."""
        return [v for v in self.violations if v.enforcement == Enforcement.MANDATORY.value]

    def lines(self) -> list[str]:
        """Human-readable report, grouped by severity."""
        counts = f"{len(self.violations)} violations ({len(self.mandatory)} mandatory), {len(self.waived)} waived"
        lines = [f"policies: {len(POLICIES)} checked, {counts}"]
        for severity in SEVERITY_ORDER:
            group = [v for v in self.violations if v.severity == severity.value]
            if group:
                lines.append(f"  {severity.value} ({len(group)}):")
                lines.extend(f"    {v.line()}" for v in group)
        lines.extend(f"  waived: {v.line()} (reason: {v.waiver})" for v in self.waived)
        return lines

    def to_json(self) -> dict[str, Any]:
        """The `violations` document of the preview JSON."""
        return {"violations": [asdict(v) for v in self.violations], "waived": [asdict(v) for v in self.waived]}


def evaluate(stack: Stack, config: Mapping[str, PolicySettings], policies: tuple[Policy, ...] = POLICIES) -> Report:
    """Run every enabled policy on the stack."""
    report = Report()
    for policy in policies:
        settings = config[policy.name]
        if settings.enforcement is Enforcement.DISABLED:
            continue
        for finding in policy.check(stack, settings.settings):
            resource = finding.resource
            waiver = settings.waivers.get(resource.name) if resource else None
            violation = Violation(
                policy.code,
                policy.name,
                policy.severity.value,
                settings.enforcement.value,
                resource.type if resource else None,
                resource.name if resource else None,
                finding.message,
                waiver,
            )
            (report.waived if waiver else report.violations).append(violation)
    return report
