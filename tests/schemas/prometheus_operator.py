"""Strict JSON Schemas for the prometheus-operator objects we render (monitoring.coreos.com/v1), fields we set."""

from __future__ import annotations

from tests.schemas.karpenter import _closed

_METADATA = _closed({"name": {"type": "string"}, "namespace": {"type": "string"}}, ["name", "namespace"])

SERVICE_MONITOR = _closed(
    {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": _METADATA,
        "spec": _closed(
            {
                "selector": _closed({"matchLabels": {"type": "object", "additionalProperties": {"type": "string"}}}, ["matchLabels"]),
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": _closed({"port": {"type": "string"}, "interval": {"type": "string", "pattern": r"^[0-9]+[smh]$"}}, ["port"]),
                },
            },
            ["selector", "endpoints"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)

_RULE = _closed(
    {
        "alert": {"type": "string", "pattern": "^[A-Za-z][A-Za-z0-9]*$"},
        "expr": {"type": "string", "minLength": 1},
        "for": {"type": "string", "pattern": r"^[0-9]+[smh]$"},
        "labels": _closed({"severity": {"enum": ["critical", "warning", "info"]}}, ["severity"]),
        "annotations": _closed({"summary": {"type": "string"}, "runbook": {"type": "string"}, "runbook_url": {"type": "string"}}, ["summary", "runbook"]),
    },
    ["alert", "expr", "labels", "annotations"],
)

PROMETHEUS_RULE = _closed(
    {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "PrometheusRule"},
        "metadata": _METADATA,
        "spec": _closed(
            {"groups": {"type": "array", "items": _closed({"name": {"type": "string"}, "rules": {"type": "array", "items": _RULE}}, ["name", "rules"])}},
            ["groups"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)
