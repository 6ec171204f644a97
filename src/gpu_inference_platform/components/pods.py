"""Pod building blocks shared by components: the restricted security posture and the aws-cli step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

RESTRICTED_POD_SECURITY = {f"pod-security.kubernetes.io/{mode}": "restricted" for mode in ("audit", "enforce", "warn")}
"""Namespace labels that enforce (and audit and warn on) the `restricted` Pod Security Standard."""
RESTRICTED_POD_CONTEXT = {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}}
"""Pod security context: non-root, default seccomp."""
RESTRICTED_CONTAINER_CONTEXT = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}
"""Container security context: no escalation, no capabilities, read-only root filesystem."""
STEP_RESOURCES = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}
"""Resources of a short helper step (copy, verify, upload)."""


def aws_cli_container(name: str, image: str, arguments: Sequence[str], volume_mounts: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """An `aws ...` step, restricted, with a writable HOME on /tmp (mount a `tmp` volume there)."""
    return {
        "name": name,
        "image": image,
        "command": ["aws", *arguments],
        "env": [{"name": "HOME", "value": "/tmp"}],
        "securityContext": RESTRICTED_CONTAINER_CONTEXT,
        "resources": STEP_RESOURCES,
        "volumeMounts": list(volume_mounts),
    }
