"""Offline preview: run the real program under Pulumi's mock runtime and record the plan.

Used by `scripts.preview` (the credential-free pull-request check), by the examples'
previews and by the tests, so all of them look at exactly what `pulumi up` would register.

It relies on the SDK's public mock runtime (`set_mocks`, `MockMonitor`, `run_pulumi_func`)
and on two facts of Pulumi's wire protocol, stated here rather than read from SDK privates.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.stack import run_pulumi_func

from gpu_inference_platform.preview.mocks import PlatformMocks
from gpu_inference_platform.program.config import PROJECT, REGION_KEY
from gpu_inference_platform.program.stack_files import SECRET_PLACEHOLDER, read_stack_file, stack_file

SECRET_SIGNATURE = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
"""Pulumi wire protocol: a secret travels as `{<signature key>: <secret signature>, "value": ...}` (every SDK, every version)."""
CONFIG_ENV = "PULUMI_CONFIG"
"""Pulumi CLI -> program: the stack's whole config as JSON in this environment variable."""
COMPONENT_PREFIX = "gpuinfra:"
_NOT_KUBERNETES_OBJECTS = ("pulumi:providers:", "kubernetes:helm.sh/")


@dataclass(frozen=True)
class PlannedResource:
    """One resource the program registers: type token, logical name, parent name, inputs and (mock) outputs."""

    type: str
    name: str
    parent: str | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    parent_type: str | None = None
    """Type of the parent (logical names are only unique per type)."""
    urn: str = ""
    dependencies: dict[str, list[str]] = field(default_factory=dict)
    """Per input property, the URNs of the resources it depends on (as the engine records them)."""
    aliases: list[str] = field(default_factory=list)
    """URNs this resource was known by before (`aliases` option), as the engine resolves them."""
    registered_outputs: dict[str, Any] = field(default_factory=dict)
    """What a component passed to `register_outputs` (empty for custom resources)."""


@dataclass
class Plan:
    """Every resource of one stack, in registration order."""

    stack: str
    region: str
    resources: list[PlannedResource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)
    """Stack exports (secrets redacted)."""
    warnings: list[str] = field(default_factory=list)
    """Warnings the program logged (e.g. config warnings)."""

    def of_type(self, type_token: str) -> list[PlannedResource]:
        """Resources with exactly this type token."""
        return [r for r in self.resources if r.type == type_token]

    def get(self, type_token: str, name: str) -> PlannedResource:
        """The one resource with this type and logical name (KeyError if absent)."""
        for resource in self.resources:
            if resource.type == type_token and resource.name == name:
                return resource
        raise KeyError(f"{type_token} {name!r} is not in the plan")

    def children(self, parent: str, parent_type: str | None = None) -> list[PlannedResource]:
        """Direct children of the component named `parent` (or of the resource of `parent_type` with that name)."""
        return [
            r
            for r in self.resources
            if r.parent == parent and (r.parent_type == parent_type if parent_type else (r.parent_type or "").startswith(COMPONENT_PREFIX))
        ]

    def descendants(self, root: PlannedResource) -> Iterator[PlannedResource]:
        """All resources below `root`, depth first."""
        for child in self.children(root.name, root.type):
            yield child
            yield from self.descendants(child)

    def roots(self) -> list[PlannedResource]:
        """Top-level resources (the stack's components)."""
        return [r for r in self.resources if r.parent is None]

    def kubernetes_objects(self) -> list[PlannedResource]:
        """Kubernetes API objects (not providers, not Helm releases)."""
        return [r for r in self.resources if r.type.startswith("kubernetes:") and not r.type.startswith(_NOT_KUBERNETES_OBJECTS)]

    def to_json(self) -> dict[str, Any]:
        """The `--json` document."""
        return {"stack": self.stack, "resources": [{"type": r.type, "name": r.name, "parent": r.parent, "inputs": r.inputs} for r in self.resources]}


def _redacted(value: Any) -> Any:
    """A secret's shape with every value hidden (manifests stay structurally valid)."""
    if isinstance(value, Mapping):
        return {str(k): _redacted(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_redacted(v) for v in value]
    return SECRET_PLACEHOLDER


def _plain(value: Any) -> Any:
    """Engine wire values as a reader expects them: secrets redacted, integral numbers as ints, assets by path."""
    if isinstance(value, pulumi.FileAsset):
        return {"fileAsset": value.path}
    if isinstance(value, Mapping):
        signature_key, secret = SECRET_SIGNATURE
        if value.get(signature_key) == secret:
            return _redacted(value.get("value"))
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class _RecordingMonitor(MockMonitor):
    """The mock monitor, also recording each registration with its parent, aliases and registered outputs."""

    def __init__(self, mocks: pulumi.runtime.Mocks) -> None:
        super().__init__(mocks)
        self.plan: list[PlannedResource] = []
        self._thread_loops: list[asyncio.AbstractEventLoop] = []

    def _own_thread_loop(self) -> None:
        """Give a worker thread an event loop this monitor closes (the SDK's mock monitor would leave one open per thread,
        which then fails noisily when garbage-collected at exit)."""
        try:
            asyncio.get_event_loop()
        except RuntimeError:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._thread_loops.append(loop)

    def close_thread_loops(self) -> None:
        """Close the event loops of worker threads (after the program has finished)."""
        for loop in self._thread_loops:
            if not loop.is_running():
                loop.close()

    def Invoke(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        self._own_thread_loop()
        return super().Invoke(request)  # type: ignore[no-untyped-call]

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        self._own_thread_loop()
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            parent_type = request.parent.split("::")[2].split("$")[-1] if request.parent else None
            parent = None if parent_type in (None, "pulumi:pulumi:Stack") else request.parent.split("::")[-1]
            inputs = _plain(rpc.deserialize_properties(request.object, keep_unknowns=True))
            urn = self.make_urn(request.parent, request.type, request.name)
            outputs = _plain(self.resources[urn].state)
            dependencies = {key: list(deps.urns) for key, deps in request.propertyDependencies.items() if deps.urns}
            resource = PlannedResource(request.type, request.name, parent, inputs, outputs, parent_type if parent else None, urn, dependencies)
            resource.aliases.extend(self._alias_urns(request))
            self.plan.append(resource)
        return response

    def _alias_urns(self, request: Any) -> list[str]:
        """Alias specs as the engine resolves them: unset parts default to the resource's own name, type and parent."""
        urns = []
        for alias in request.aliases:
            if alias.urn:
                urns.append(alias.urn)
                continue
            spec = alias.spec
            parent = "" if spec.noParent else (spec.parentUrn or request.parent)
            urns.append(self.make_urn(parent, spec.type or request.type, spec.name or request.name))
        return urns

    def RegisterResourceOutputs(self, request: Any) -> Any:  # noqa: N802 (gRPC method name)
        registered = _plain(rpc.deserialize_properties(request.outputs, keep_unknowns=True))
        for resource in self.plan:
            if resource.urn == request.urn:
                resource.registered_outputs.update(registered)
        return super().RegisterResourceOutputs(request)  # type: ignore[no-untyped-call]


async def _stack_exports() -> dict[str, Any]:
    """The values passed to `pulumi.export`, secrets redacted."""
    root = pulumi.runtime.get_root_resource()
    exports: dict[str, Any] = {}
    for key, value in getattr(root, "outputs", {}).items():
        output = pulumi.Output.from_input(value)
        exports[key] = SECRET_PLACEHOLDER if await output.is_secret() else _plain(await output.future())
    return exports


class _WarningCollector(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def run_program(program: Callable[[], None], *, stack: str, pulumi_config: Mapping[str, str], project: str = PROJECT) -> Plan:
    """Run `program` as stack `stack` of `project` under mocks, with the flat Pulumi config the CLI would hand it; return its plan."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # before set_mocks, which binds the runtime to the current loop
    region = pulumi_config.get(REGION_KEY, "us-east-1")
    mocks = PlatformMocks(region=region)
    monitor = _RecordingMonitor(mocks)
    collector = _WarningCollector()
    logger = logging.getLogger(f"gpuinfra.preview.{stack}")
    logger.propagate = False
    logger.handlers = [collector]
    pulumi.runtime.set_mocks(mocks, project=project, stack=stack, preview=False, monitor=monitor, logger=logger)
    handed_over = os.environ.get(CONFIG_ENV)
    os.environ[CONFIG_ENV] = json.dumps(dict(pulumi_config))
    try:
        loop.run_until_complete(run_pulumi_func(program))
        exports = loop.run_until_complete(_stack_exports())
    finally:
        monitor.close_thread_loops()
        loop.close()
        asyncio.set_event_loop(None)
        if handed_over is None:
            del os.environ[CONFIG_ENV]
        else:
            os.environ[CONFIG_ENV] = handed_over
    return Plan(stack=stack, region=region, resources=monitor.plan, outputs=exports, warnings=collector.messages)


def plan_stack(stack: str, config_path: Path | None = None) -> Plan:
    """Plan the real program for `stack` from its committed (or another) stack file."""
    from gpu_inference_platform.program.platform import main

    return run_program(main, stack=stack, pulumi_config=read_stack_file(config_path or stack_file(stack)))


def summary(plan: Plan) -> str:
    """A tree of resources grouped by component, with counts by type."""
    lines = [f"stack {plan.stack}: {len(plan.resources)} resources"]
    for root in plan.roots():
        below = list(plan.descendants(root))
        lines.append(f"  {root.type} {root.name} ({len(below)} resources)")
        for type_token, count in sorted(Counter(r.type for r in below).items()):
            lines.append(f"      {count:>3} x {type_token}")
    lines.append("  by type:")
    for type_token, count in sorted(Counter(r.type for r in plan.resources).items()):
        lines.append(f"      {count:>3} x {type_token}")
    lines.append("  outputs:")
    lines.extend(f"      {key}: {json.dumps(value)}" for key, value in sorted(plan.outputs.items()))
    lines.extend(f"warning: {message}" for message in plan.warnings)
    return "\n".join(lines)


def render_kubernetes(plan: Plan, directory: Path) -> list[Path]:
    """Write every Kubernetes object as YAML, one file per object; return the paths."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for index, obj in enumerate(plan.kubernetes_objects()):
        kind = str(obj.inputs.get("kind", obj.type.rsplit(":", 1)[-1])).lower()
        path = directory / f"{index:03d}-{kind}-{obj.name}.yaml"
        path.write_text(yaml.safe_dump(obj.inputs, sort_keys=False))
        written.append(path)
    return written
