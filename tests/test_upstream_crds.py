"""Custom resources validate against the upstream CRDs of the pinned versions, strictly (unknown fields rejected).

Vendored in tests/data/crds, each named by chart and version:
- karpenter-1.11.1-*: aws/karpenter-provider-aws tag v1.11.1, charts/karpenter-crd/templates (Helm annotation lines removed);
- kube-prometheus-stack-65.1.1-*: prometheus-community/helm-charts tag kube-prometheus-stack-65.1.1, charts/crds/crds;
- aws-load-balancer-controller-1.13.0-*: aws/eks-charts commit 1c41b77 (chart 1.13.0, app v2.13.0), crds/crds.yaml.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gpu_inference_platform.preview.harness import Plan, render_kubernetes
from tests.conftest import ROOT, STACKS

CRDS = ROOT / "tests" / "data" / "crds"
GO_INLINE_FLAGS = re.compile(r"^\^\(\?(\w+)\)")


def _strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The CRD's structural schema as JSON Schema, closed wherever Kubernetes would reject unknown fields (`--validate=strict`)."""
    schema = {k: v for k, v in schema.items() if not k.startswith("x-kubernetes-")}
    preserve = schema.pop("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in schema:
        schema["properties"] = {k: _strict(v) for k, v in schema["properties"].items()}
        if "additionalProperties" not in schema and not preserve:
            schema["additionalProperties"] = False
    if isinstance(schema.get("items"), dict):
        schema["items"] = _strict(schema["items"])
    if isinstance(schema.get("additionalProperties"), dict):
        schema["additionalProperties"] = _strict(schema["additionalProperties"])
    for key in ("anyOf", "allOf", "oneOf"):
        if key in schema:
            schema[key] = [_strict(s) for s in schema[key]]
    if "pattern" in schema:
        schema["pattern"] = GO_INLINE_FLAGS.sub(r"(?\1)^", schema["pattern"])  # Go allows ^(?i)..., Python wants the flags first
    if schema.pop("nullable", False) and "type" in schema:
        schema["type"] = [schema["type"], "null"]
    return schema


def _schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict schema of every served version of every vendored CRD."""
    found = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for crd in yaml.safe_load_all(path.read_text()):
            if not crd:
                continue
            spec = crd["spec"]
            for version in spec["versions"]:
                if version.get("served"):
                    schema = _strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
                    schema["properties"]["metadata"] = {"type": "object"}
                    found[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = schema
    return found


SCHEMAS = _schemas()


def test_the_vendored_crds_cover_every_custom_kind_we_render() -> None:
    assert sorted(SCHEMAS) == [
        ("elbv2.k8s.aws/v1alpha1", "TargetGroupBinding"),
        ("elbv2.k8s.aws/v1beta1", "TargetGroupBinding"),
        ("karpenter.k8s.aws/v1", "EC2NodeClass"),
        ("karpenter.sh/v1", "NodePool"),
        ("monitoring.coreos.com/v1", "PrometheusRule"),
        ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ]


def _custom_objects(plan: Plan, directory: Path) -> list[dict[str, Any]]:
    """Rendered objects of custom API groups (dotted groups outside *.k8s.io)."""
    documents = [yaml.safe_load(p.read_text()) for p in render_kubernetes(plan, directory)]
    groups = [(d, d["apiVersion"].rsplit("/", 1)[0]) for d in documents]
    return [d for d, group in groups if "." in group and not group.endswith(".k8s.io")]


@pytest.mark.parametrize("stack", STACKS)
def test_custom_resources_match_the_upstream_crds(plans: dict[str, Plan], stack: str, tmp_path: Path) -> None:
    custom = _custom_objects(plans[stack], tmp_path)
    assert all((d["apiVersion"], d["kind"]) in SCHEMAS for d in custom), "every custom kind has its upstream CRD vendored"
    assert sorted({d["kind"] for d in custom}) == ["EC2NodeClass", "NodePool", "PrometheusRule", "ServiceMonitor", "TargetGroupBinding"]
    for document in custom:
        jsonschema.validate(document, SCHEMAS[(document["apiVersion"], document["kind"])])


def test_a_misspelled_field_is_rejected(plans: dict[str, Plan], tmp_path: Path) -> None:
    pool = next(d for d in _custom_objects(plans["prod"], tmp_path) if d["kind"] == "NodePool")
    pool["spec"]["disruption"]["consolidateAfterr"] = "5m"
    with pytest.raises(jsonschema.ValidationError, match="consolidateAfterr"):
        jsonschema.validate(pool, SCHEMAS[("karpenter.sh/v1", "NodePool")])
