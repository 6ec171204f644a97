"""Strict JSON Schema for the AWS Load Balancer Controller's TargetGroupBinding (elbv2.k8s.aws/v1beta1), fields we set."""

from __future__ import annotations

from tests.schemas.karpenter import _closed

TARGET_GROUP_BINDING = _closed(
    {
        "apiVersion": {"const": "elbv2.k8s.aws/v1beta1"},
        "kind": {"const": "TargetGroupBinding"},
        "metadata": _closed({"name": {"type": "string"}, "namespace": {"type": "string"}}, ["name", "namespace"]),
        "spec": _closed(
            {
                "serviceRef": _closed({"name": {"type": "string"}, "port": {"type": ["integer", "string"]}}, ["name", "port"]),
                "targetGroupARN": {"type": "string", "pattern": r"^arn:aws[a-z-]*:elasticloadbalancing:"},
                "targetType": {"enum": ["instance", "ip"]},
            },
            ["serviceRef", "targetGroupARN"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)
