"""NVIDIA device plugin DaemonSet: advertises `nvidia.com/gpu` on GPU nodes, tolerating their taint."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from gpu_inference_platform.components.constants import GPU_PRESENT_LABEL, GPU_TOLERATION

_DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"


def nvidia_device_plugin(name: str, *, image: str, opts: pulumi.ResourceOptions) -> k8s.apps.v1.DaemonSet:
    """The device plugin in kube-system, scheduled only on NVIDIA GPU nodes (Karpenter or GFD labelled)."""
    labels = {"app.kubernetes.io/name": "nvidia-device-plugin", "app.kubernetes.io/instance": name}
    gpu_node_terms = [
        {"matchExpressions": [{"key": "karpenter.k8s.aws/instance-gpu-manufacturer", "operator": "In", "values": ["nvidia"]}]},
        {"matchExpressions": [{"key": GPU_PRESENT_LABEL, "operator": "In", "values": ["true"]}]},
    ]
    manifest: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "kube-system", "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "10%"}},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "priorityClassName": "system-node-critical",
                    "automountServiceAccountToken": False,
                    "tolerations": [GPU_TOLERATION],
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": gpu_node_terms}}},
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [
                        {
                            "name": "nvidia-device-plugin",
                            "image": image,
                            "env": [{"name": "FAIL_ON_INIT_ERROR", "value": "false"}],
                            "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}},
                            "volumeMounts": [{"name": "device-plugins", "mountPath": _DEVICE_PLUGIN_DIR}],
                        }
                    ],
                    "volumes": [{"name": "device-plugins", "hostPath": {"path": _DEVICE_PLUGIN_DIR, "type": "Directory"}}],
                },
            },
        },
    }
    return k8s.apps.v1.DaemonSet(name, opts=opts, **manifest)
