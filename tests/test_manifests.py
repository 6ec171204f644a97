"""Rendered Kubernetes objects validate: built-in kinds against the cluster version's schema,
Karpenter objects against the pinned chart's v1 API (tests/schemas/karpenter.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from gpu_inference_platform.components.tensorrt_engines import TENSORRT_LLM_COMPUTE_CAPABILITIES
from gpu_inference_platform.preview.harness import Plan, render_kubernetes
from tests.conftest import STACKS, valid_config
from tests.schemas.karpenter import SCHEMAS as KARPENTER_SCHEMAS
from tests.schemas.load_balancer_controller import TARGET_GROUP_BINDING
from tests.schemas.prometheus_operator import PROMETHEUS_RULE, SERVICE_MONITOR

SCHEMAS = {**KARPENTER_SCHEMAS, "TargetGroupBinding": TARGET_GROUP_BINDING, "ServiceMonitor": SERVICE_MONITOR, "PrometheusRule": PROMETHEUS_RULE}
MONITORING_KINDS = ["Namespace", "Namespace", "Secret", "ServiceMonitor", "ServiceMonitor", "PrometheusRule", "ConfigMap"]
SERVING_KINDS = [
    "ConfigMap",
    "Deployment",
    "Deployment",
    "HorizontalPodAutoscaler",
    "Namespace",
    "PodDisruptionBudget",
    "Service",
    "ServiceAccount",
    "TargetGroupBinding",
    "NetworkPolicy",
    "NetworkPolicy",
    "NetworkPolicy",
]


def validate(document: dict[str, Any], kubernetes_version: str) -> None:
    """Raise if `document` is not a valid object for its kind."""
    schema = SCHEMAS.get(document["kind"])
    if schema is not None:
        jsonschema.validate(document, schema)
    else:
        kubernetes_validate.validate(document, kubernetes_version, strict=True)


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_objects_are_valid(plans: dict[str, Plan], stack: str, tmp_path: Path) -> None:
    version = valid_config(stack).cluster.kubernetes_version + ".0"
    written = render_kubernetes(plans[stack], tmp_path)
    documents = [yaml.safe_load(path.read_text()) for path in written]
    config = valid_config(stack)
    pools = 1 if config.fleet.on_demand is None else 2
    groups = len(config.serving)
    llm_engines = len([cc for cc in config.model_repository.engine_targets if cc in TENSORRT_LLM_COMPUTE_CAPABILITIES])
    jobs = len(config.model_repository.engine_targets) + llm_engines
    assert sorted(d["kind"] for d in documents) == sorted(
        ["DaemonSet", "StorageClass", "EC2NodeClass", "Namespace", "NetworkPolicy", "NetworkPolicy", "ServiceAccount", *MONITORING_KINDS]
        + SERVING_KINDS * groups
        + ["ServiceMonitor"] * (groups - 1)
        + ["NodePool"] * pools
        + ["Job"] * jobs
    )
    for document in documents:
        validate(document, version)


def _rendered(plans: dict[str, Plan], kind: str, tmp_path: Path) -> dict[str, Any]:
    documents = [yaml.safe_load(p.read_text()) for p in render_kubernetes(plans["staging"], tmp_path)]
    return next(d for d in documents if d["kind"] == kind)


def test_validation_rejects_a_broken_builtin_object(plans: dict[str, Plan], tmp_path: Path) -> None:
    broken = _rendered(plans, "DaemonSet", tmp_path)
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 7
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(broken, "1.34.0")


@pytest.mark.parametrize(
    ("kind", "path", "value"),
    [
        ("NodePool", ("spec", "template", "spec", "taints", 0, "effect"), "NoEvict"),
        ("NodePool", ("spec", "disruption", "consolidationPolicy"), "WhenUnderutilized"),
        ("EC2NodeClass", ("spec", "metadataOptions", "httpToken"), "required"),
        ("EC2NodeClass", ("apiVersion",), "karpenter.k8s.aws/v1beta1"),
    ],
)
def test_validation_rejects_broken_karpenter_objects(plans: dict[str, Plan], tmp_path: Path, kind: str, path: tuple[Any, ...], value: str) -> None:
    broken = _rendered(plans, kind, tmp_path)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(jsonschema.ValidationError):
        validate(broken, "1.34.0")
