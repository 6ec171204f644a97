"""NVIDIA device plugin DaemonSet: advertises `nvidia.com/gpu` on GPU nodes, tolerating their taint."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from gpu_inference_platform.components.constants import GPU_PRESENT_LABEL, GPU_TOLERATION

CHECKOV_EXCEPTIONS = {
    "checkov.io/skip1": "CKV_K8S_8=the device plugin serves gRPC on a kubelet socket, no HTTP health endpoint; the kubelet restarts it",
    "checkov.io/skip2": "CKV_K8S_9=same: it registers with the kubelet over its socket, there is nothing to probe",
    "checkov.io/skip3": "CKV_K8S_22=it writes its socket under the root-owned /var/lib/kubelet/device-plugins (K02 waiver)",
    "checkov.io/skip4": "CKV_K8S_23=same: root is needed for that host path; capabilities dropped, no escalation, RuntimeDefault seccomp",
}
"""Checks of checkov the device plugin cannot pass, each with its reason (the same as the K02 waiver in policy/config)."""
_DEVICE_PLUGIN_DIR = "/var/lib/kubelet/device-plugins"


def nvidia_device_plugin(name: str, *, image: str, opts: pulumi.ResourceOptions) -> k8s.apps.v1.DaemonSet:
    """The device plugin in kube-system, scheduled only on NVIDIA GPU nodes (Karpenter or GFD labelled)."""
    labels = {"app.kubernetes.io/name": "nvidia-device-plugin", "app.kubernetes.io/instance": name}
    gpu_node_terms = [
        {"matchExpressions": [{"key": "karpenter.k8s.aws/instance-gpu-manufacturer", "operator": "In", "values": ["nvidia"]}]},
        {"matchExpressions": [{"key": GPU_PRESENT_LABEL, "operator": "In", "values": ["true"]}]},
    ]
    manifest: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "kube-system", "labels": labels, "annotations": CHECKOV_EXCEPTIONS},
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
