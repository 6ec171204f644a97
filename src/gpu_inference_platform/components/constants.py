"""Shared facts of the platform: labels, taints, ports, metric names, default images and chart pins.

A leaf module (it imports nothing of the package), so a component reads its neighbours'
contracts here instead of importing them: one hop from any component file to every
name it relies on. Changing a pin here changes every component and stack that uses it.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

# ---------------------------------------------------------------- node scheduling

SYSTEM_NODE_LABEL: Final = "gpuinfra.io/node-pool"
"""Node label naming the pool a node belongs to; the CPU system node group carries `system`."""
SYSTEM_NODE_POOL: Final = "system"
"""Value of `SYSTEM_NODE_LABEL` on the system nodes (controllers run there)."""
SYSTEM_NODE_SELECTOR: Final[dict[str, str]] = {SYSTEM_NODE_LABEL: SYSTEM_NODE_POOL}
"""nodeSelector that places a controller on the system nodes."""
GPU_RESOURCE: Final = "nvidia.com/gpu"
"""Extended resource the NVIDIA device plugin advertises."""
GPU_TAINT_KEY: Final = "nvidia.com/gpu"
"""Taint on every GPU node, so only pods that ask for GPUs land there."""
GPU_TOLERATION: Final[dict[str, Any]] = {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}
"""Toleration of the GPU taint."""
GPU_PRESENT_LABEL: Final = "nvidia.com/gpu.present"
"""Label the GPU NodePools put on their nodes (and GPU feature discovery sets)."""
CAPACITY_TYPE_LABEL: Final = "karpenter.sh/capacity-type"
"""Karpenter's node label: `spot` or `on-demand`."""
INSTANCE_TYPE_LABEL: Final = "node.kubernetes.io/instance-type"
"""Well-known node label with the EC2 instance type."""

# ---------------------------------------------------------------- Triton

TRITON_HTTP_PORT: Final = 8000
TRITON_GRPC_PORT: Final = 8001
TRITON_METRICS_PORT: Final = 8002
TRITON_READY_PATH: Final = "/v2/health/ready"
TRITON_LIVE_PATH: Final = "/v2/health/live"
TRITON_APP_LABEL: Final = "app.kubernetes.io/name"
"""Pod label with value `triton` on every Triton pod (the ServiceMonitor selects on it)."""
TRITON_INSTANCE_LABEL: Final = "app.kubernetes.io/instance"
"""Pod label naming the TritonServer component that owns the pod."""
QUEUE_TIME_METRIC: Final = "triton_queue_time_per_request_us"
"""Average queue time per request, served to the spot HPA by prometheus-adapter (Monitoring)."""
MODEL_TREE_ANNOTATION: Final = "gpuinfra.io/model-tree-hash"
"""Annotation carrying the tree hash of the model build a Deployment serves."""

# ---------------------------------------------------------------- images and charts

DEFAULT_DEVICE_PLUGIN_IMAGE: Final = "nvcr.io/nvidia/k8s-device-plugin:v0.17.1"
DEFAULT_AWS_CLI_IMAGE: Final = "public.ecr.aws/aws-cli/aws-cli:2.15.0"


class HelmChart(NamedTuple):
    """A pinned Helm chart: its name (or OCI reference), repository (None for OCI) and version."""

    chart: str
    repository: str | None
    version: str


KARPENTER_CHART: Final = HelmChart("oci://public.ecr.aws/karpenter/karpenter", None, "1.11.1")
LOAD_BALANCER_CONTROLLER_CHART: Final = HelmChart("aws-load-balancer-controller", "https://aws.github.io/eks-charts", "1.13.0")
KUBE_PROMETHEUS_STACK_CHART: Final = HelmChart("kube-prometheus-stack", "https://prometheus-community.github.io/helm-charts", "65.1.1")
PROMETHEUS_ADAPTER_CHART: Final = HelmChart("prometheus-adapter", "https://prometheus-community.github.io/helm-charts", "4.11.0")
DCGM_EXPORTER_CHART: Final = HelmChart("dcgm-exporter", "https://nvidia.github.io/dcgm-exporter/helm-charts", "3.5.0")

HOURS_PER_MONTH: Final = 730
"""Hours in an average month (AWS pricing convention)."""
