"""Strict JSON Schemas for the Karpenter v1 objects this project renders.

Written from the karpenter.sh/v1 and karpenter.k8s.aws/v1 CRDs of the pinned chart,
covering the fields we set; every object is closed, so a misspelled field fails.
"""

from __future__ import annotations

from typing import Any

API_VERSIONS = {"NodePool": "karpenter.sh/v1", "EC2NodeClass": "karpenter.k8s.aws/v1"}


def _closed(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or [], "additionalProperties": False}


_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_QUANTITY_GI = {"type": "string", "pattern": r"^[1-9][0-9]{0,4}Gi$"}
_DURATION = {"type": "string", "pattern": r"^(([0-9]+(s|m|h))+|Never)$"}
_SELECTOR_TERMS = {"type": "array", "minItems": 1, "items": _closed({"tags": _STRING_MAP, "id": {"type": "string"}})}
_METADATA = _closed({"name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}}, ["name"])

EC2_NODE_CLASS = _closed(
    {
        "apiVersion": {"const": API_VERSIONS["EC2NodeClass"]},
        "kind": {"const": "EC2NodeClass"},
        "metadata": _METADATA,
        "spec": _closed(
            {
                "role": {"type": "string", "minLength": 1},
                "amiSelectorTerms": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": 1,
                    "items": _closed({"alias": {"type": "string", "pattern": r"^al2023@(latest|v\d{8})$"}}, ["alias"]),
                },
                "subnetSelectorTerms": _SELECTOR_TERMS,
                "securityGroupSelectorTerms": _SELECTOR_TERMS,
                "associatePublicIPAddress": {"type": "boolean"},
                "metadataOptions": _closed(
                    {
                        "httpEndpoint": {"enum": ["enabled", "disabled"]},
                        "httpProtocolIPv6": {"enum": ["enabled", "disabled"]},
                        "httpPutResponseHopLimit": {"type": "integer", "minimum": 1, "maximum": 64},
                        "httpTokens": {"enum": ["required", "optional"]},
                    }
                ),
                "blockDeviceMappings": {
                    "type": "array",
                    "items": _closed(
                        {
                            "deviceName": {"type": "string"},
                            "rootVolume": {"type": "boolean"},
                            "ebs": _closed(
                                {
                                    "volumeSize": _QUANTITY_GI,
                                    "volumeType": {"enum": ["standard", "io1", "io2", "gp2", "sc1", "st1", "gp3"]},
                                    "encrypted": {"type": "boolean"},
                                    "deleteOnTermination": {"type": "boolean"},
                                }
                            ),
                        },
                        ["deviceName", "ebs"],
                    ),
                },
                "tags": _STRING_MAP,
            },
            ["role", "amiSelectorTerms", "subnetSelectorTerms", "securityGroupSelectorTerms"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)

_REQUIREMENT = _closed(
    {
        "key": {"type": "string"},
        "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]},
        "values": {"type": "array", "items": {"type": "string"}},
    },
    ["key", "operator"],
)

NODE_POOL = _closed(
    {
        "apiVersion": {"const": API_VERSIONS["NodePool"]},
        "kind": {"const": "NodePool"},
        "metadata": _METADATA,
        "spec": _closed(
            {
                "weight": {"type": "integer", "minimum": 1, "maximum": 100},
                "limits": {"type": "object", "additionalProperties": {"type": "string", "pattern": r"^[0-9]+$"}},
                "template": _closed(
                    {
                        "metadata": _closed({"labels": _STRING_MAP}),
                        "spec": _closed(
                            {
                                "nodeClassRef": _closed(
                                    {"group": {"const": "karpenter.k8s.aws"}, "kind": {"const": "EC2NodeClass"}, "name": {"type": "string"}},
                                    ["group", "kind", "name"],
                                ),
                                "requirements": {"type": "array", "items": _REQUIREMENT},
                                "taints": {
                                    "type": "array",
                                    "items": _closed(
                                        {
                                            "key": {"type": "string"},
                                            "value": {"type": "string"},
                                            "effect": {"enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"]},
                                        },
                                        ["key", "effect"],
                                    ),
                                },
                                "expireAfter": _DURATION,
                                "terminationGracePeriod": _DURATION,
                            },
                            ["nodeClassRef", "requirements"],
                        ),
                    },
                    ["spec"],
                ),
                "disruption": _closed(
                    {
                        "consolidationPolicy": {"enum": ["WhenEmpty", "WhenEmptyOrUnderutilized"]},
                        "consolidateAfter": _DURATION,
                        "budgets": {"type": "array", "items": _closed({"nodes": {"type": "string", "pattern": r"^((100|[0-9]{1,2})%|[0-9]+)$"}}, ["nodes"])},
                    }
                ),
            },
            ["template"],
        ),
    },
    ["apiVersion", "kind", "metadata", "spec"],
)

SCHEMAS = {"EC2NodeClass": EC2_NODE_CLASS, "NodePool": NODE_POOL}
