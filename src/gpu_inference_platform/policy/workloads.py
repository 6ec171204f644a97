"""Pod specs inside Kubernetes workload objects, and what the checks ask about them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from gpu_inference_platform.components.constants import INSTANCE_TYPE_LABEL
from gpu_inference_platform.policy.values import as_list, mapping

POD_TEMPLATE_TYPES = (
    "kubernetes:apps/v1:Deployment",
    "kubernetes:apps/v1:StatefulSet",
    "kubernetes:apps/v1:DaemonSet",
    "kubernetes:apps/v1:ReplicaSet",
    "kubernetes:batch/v1:Job",
)
CRON_JOB = "kubernetes:batch/v1:CronJob"
POD = "kubernetes:core/v1:Pod"
WORKLOAD_TYPES = (*POD_TEMPLATE_TYPES, CRON_JOB, POD)
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
GPU_RESOURCE = "nvidia.com/gpu"
SERVING_BINARY = "tritonserver"
SHELLS = ("sh", "bash")
SHELL_EXEC_SERVING = re.compile(rf"\bexec\s+(\S*/)?{SERVING_BINARY}\b")


def pod_spec(type_token: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of a workload object (empty if there is none)."""
    spec = mapping(props.get("spec"))
    if type_token == POD:
        return spec
    if type_token == CRON_JOB:
        spec = mapping(mapping(spec.get("jobTemplate")).get("spec"))
    return mapping(mapping(spec.get("template")).get("spec"))


def pod_labels(type_token: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The labels its pods get."""
    if type_token == POD:
        return mapping(mapping(props.get("metadata")).get("labels"))
    return mapping(mapping(mapping(mapping(props.get("spec")).get("template")).get("metadata")).get("labels"))


def containers(spec: Mapping[str, Any], *, init: bool = True) -> list[Mapping[str, Any]]:
    """The pod's containers (init containers first unless `init` is false)."""
    found = [*as_list(spec.get("initContainers")), *as_list(spec.get("containers"))] if init else as_list(spec.get("containers"))
    return [c for c in found if isinstance(c, Mapping)]


def is_serving(container: Mapping[str, Any]) -> bool:
    """Whether the container runs Triton Inference Server: as its command, or `exec`ed by a `sh -c` script (an LLM group asks
    the GPU its compute capability first)."""
    command = [str(part) for part in [*as_list(container.get("command")), *as_list(container.get("args"))]]
    if command[:1] and command[0].split("/")[-1] in SHELLS and command[1:2] == ["-c"]:
        return SHELL_EXEC_SERVING.search(command[2] if len(command) > 2 else "") is not None
    return any(part.split("/")[-1] == SERVING_BINARY for part in command[:1]) or (not command and SERVING_BINARY in str(container.get("image", "")))


def serving_containers(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The pod's (non-init) Triton containers."""
    return [c for c in containers(spec, init=False) if is_serving(c)]


def namespace(props: Mapping[str, Any]) -> str | None:
    """The object's namespace (None when it is left to the client's default)."""
    value = mapping(props.get("metadata")).get("namespace")
    return str(value) if value else None


def object_name(props: Mapping[str, Any]) -> str:
    """metadata.name."""
    return str(mapping(props.get("metadata")).get("name", ""))


def flag(container: Mapping[str, Any], name: str) -> str | None:
    """The value of a `--name=value` (or bare `--name`, as "") command-line flag, or None when absent."""
    for part in [str(p) for p in [*as_list(container.get("command")), *as_list(container.get("args"))]]:
        if part == name:
            return ""
        if part.startswith(f"{name}="):
            return part.split("=", 1)[1]
    return None


CAPACITY_TYPE_LABEL = "karpenter.sh/capacity-type"


def capacity_type(spec: Mapping[str, Any]) -> tuple[str, bool]:
    """(capacity type, required) a pod asks for: a nodeSelector pins it, a preferred node affinity only prefers it; ("any", False) otherwise."""
    pinned = mapping(spec.get("nodeSelector")).get(CAPACITY_TYPE_LABEL)
    if pinned:
        return str(pinned), True
    preferred = as_list(mapping(mapping(spec.get("affinity")).get("nodeAffinity")).get("preferredDuringSchedulingIgnoredDuringExecution"))
    for term in map(mapping, preferred):
        for expression in map(mapping, as_list(mapping(term.get("preference")).get("matchExpressions"))):
            if expression.get("key") == CAPACITY_TYPE_LABEL and expression.get("operator") == "In":
                return str(as_list(expression.get("values"))[0]), False
    return "any", False


def required_instance_types(spec: Mapping[str, Any]) -> frozenset[str]:
    """The instance types a pod's required node affinity allows (empty: any)."""
    required = mapping(mapping(mapping(spec.get("affinity")).get("nodeAffinity")).get("requiredDuringSchedulingIgnoredDuringExecution"))
    expressions = [mapping(e) for term in map(mapping, as_list(required.get("nodeSelectorTerms"))) for e in as_list(term.get("matchExpressions"))]
    allowed = [as_list(e.get("values")) for e in expressions if e.get("key") == INSTANCE_TYPE_LABEL and e.get("operator") == "In"]
    return frozenset(str(value) for values in allowed for value in values)
