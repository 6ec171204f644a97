"""The policy model shared by the CrossGuard pack, the offline preview and the tests.

A policy is data (id, severity, remediation) plus a pure check over resources as the
engine sees them: a type token, a logical name and camelCase properties. Resource
checks look at one resource (CrossGuard runs them before the resource is created);
stack checks see every resource and follow property dependencies between them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad a violation is; critical and high are mandatory by default."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Enforcement(StrEnum):
    """What a violation does: block the deployment, warn, or nothing."""

    MANDATORY = "mandatory"
    ADVISORY = "advisory"
    DISABLED = "disabled"


ENFORCEMENT_RANK = {Enforcement.DISABLED: 0, Enforcement.ADVISORY: 1, Enforcement.MANDATORY: 2}


@dataclass(frozen=True)
class Resource:
    """One resource: type token, logical name, URN, properties and, per property, the URNs it depends on."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)


class Stack:
    """Every resource of a stack, with lookups along property dependencies.

    Resources are ordered by type and name: the engine registers independent resources in
    no fixed order, and reports must not change from one run to the next.
    """

    def __init__(self, resources: Iterable[Resource]) -> None:
        self.resources = sorted(resources, key=lambda r: (r.type, r.name))
        self._by_urn = {r.urn: r for r in self.resources}

    def of_type(self, *type_tokens: str) -> list[Resource]:
        """Resources whose type is one of `type_tokens`, in registration order."""
        return [r for r in self.resources if r.type in type_tokens]

    def referenced(self, resource: Resource, prop: str, *type_tokens: str) -> list[Resource]:
        """Resources (of `type_tokens`) that `resource`'s property `prop` depends on."""
        found = [self._by_urn[urn] for urn in resource.dependencies.get(prop, ()) if urn in self._by_urn]
        return [r for r in found if not type_tokens or r.type in type_tokens]

    def referencing(self, target: Resource, type_token: str, prop: str) -> list[Resource]:
        """Resources of `type_token` whose property `prop` depends on `target`."""
        return [r for r in self.of_type(type_token) if target.urn in r.dependencies.get(prop, ())]


@dataclass(frozen=True)
class Finding:
    """A violation found by a check: the offending resource (None for the stack) and the message."""

    resource: Resource | None
    message: str


Settings = Mapping[str, Any]
ResourceCheck = Callable[[Resource, Settings], Iterable[str]]
StackCheck = Callable[[Stack, Settings], Iterable[Finding]]


@dataclass(frozen=True)
class Policy:
    """One guardrail: its id, what it requires, why, how to fix it, and its check.

    Exactly one of `check_resource` (with `resource_types`) or `check_stack` is set.
    `settings` are the tunables and their defaults; stacks override them in their
    policy config file.
    """

    code: str
    name: str
    description: str
    severity: Severity
    remediation: str
    sources: str
    resource_types: tuple[str, ...] = ()
    check_resource: ResourceCheck | None = None
    check_stack: StackCheck | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def default_enforcement(self) -> Enforcement:
        """Mandatory for critical and high severity, advisory otherwise."""
        return Enforcement.MANDATORY if self.severity in (Severity.CRITICAL, Severity.HIGH) else Enforcement.ADVISORY

    def check_one(self, resource: Resource, settings: Settings) -> list[Finding]:
        """Findings of a resource policy on one resource (empty for other types)."""
        if self.check_resource is None or resource.type not in self.resource_types:
            return []
        return [Finding(resource, message) for message in self.check_resource(resource, settings)]

    def check(self, stack: Stack, settings: Settings) -> list[Finding]:
        """Every finding of this policy on the stack."""
        if self.check_stack is not None:
            return list(self.check_stack(stack, settings))
        return [finding for resource in stack.of_type(*self.resource_types) for finding in self.check_one(resource, settings)]
