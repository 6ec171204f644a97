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

# ---------------------------------------------------------------- controllers

KARPENTER_NAMESPACE: Final = "kube-system"
KARPENTER_RELEASE: Final = "karpenter"
"""Helm release (and so Service, service account and `app.kubernetes.io/instance`) name of Karpenter."""
KARPENTER_METRICS_PORT_NAME: Final = "http-metrics"
"""Port name of the Karpenter Service (chart template `service.yaml`)."""
EBS_CSI_PROVISIONER: Final = "ebs.csi.aws.com"
"""Provisioner of the EBS CSI driver (the `aws-ebs-csi-driver` EKS add-on)."""
EBS_CSI_SERVICE_ACCOUNT: Final = "ebs-csi-controller-sa"
"""Service account of the add-on's controller in kube-system (IRSA binds to it)."""
DEFAULT_STORAGE_CLASS: Final = "gp3"
"""The cluster's default StorageClass: encrypted gp3 volumes from the EBS CSI driver."""

# ---------------------------------------------------------------- Triton

TRITON_HTTP_PORT: Final = 8000
TRITON_GRPC_PORT: Final = 8001
TRITON_METRICS_PORT: Final = 8002
TRITON_READY_PATH: Final = "/v2/health/ready"
TRITON_LIVE_PATH: Final = "/v2/health/live"
APP_NAME_LABEL: Final = "app.kubernetes.io/name"
"""Well-known label: the application (`triton` on Triton pods, `karpenter` on Karpenter's); ServiceMonitors select on it."""
APP_INSTANCE_LABEL: Final = "app.kubernetes.io/instance"
"""Well-known label: the instance (the TritonServer component's name, Karpenter's release name)."""
QUEUE_TIME_METRIC: Final = "triton_queue_time_per_request_us"
"""Average queue time per request, served to the spot HPA by prometheus-adapter (Monitoring)."""
LLM_WAITING_METRIC: Final = "llm_requests_waiting"
"""Generation requests waiting in any queue of the pod (the front model's and TensorRT-LLM's), per pod, served to an LLM group's
HPA by prometheus-adapter (Monitoring)."""
LLM_KV_CACHE_METRIC: Final = "trtllm_kv_cache_used_ratio"
"""Share of TensorRT-LLM's KV-cache blocks in use, per pod, served to an LLM group's HPA by prometheus-adapter (Monitoring)."""
AWAIT_TIMEOUT_ANNOTATION: Final = "pulumi.com/timeoutSeconds"
"""How long Pulumi's Kubernetes provider awaits an object before it fails the update (default 10 minutes)."""
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

ACTIVATED_BY_PAYER_TAG: Final = ("gpuinfra:cost-allocation-tag", "activated-by-payer")
"""Tag of a budget whose cost-allocation tag the organization's payer account activates (not this stack)."""

HOURS_PER_MONTH: Final = 730
"""Hours in an average month (AWS pricing convention)."""
