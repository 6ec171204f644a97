"""TritonServer: Triton on the GPU fleet - an on-demand floor plus an elastic spot Deployment behind one Service.

Every pod copies the content-addressed model build from S3 to a local volume and
verifies it against its manifest before Triton starts (never `s3://` loading), runs
Triton locked down (no model control, strict readiness, exit on error), drains before
it stops (preStop longer than load-balancer deregistration; grace >= preStop + exit
timeout), and carries the model tree hash so "what is running" has an exact answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.device_plugin import GPU_TAINT_KEY
from gpu_inference_platform.components.iam import service_account_role
from gpu_inference_platform.components.model_repository import DEFAULT_AWS_CLI_IMAGE
from gpu_inference_platform.components.pods import (
    RESTRICTED_CONTAINER_CONTEXT,
    RESTRICTED_POD_CONTEXT,
    RESTRICTED_POD_SECURITY,
    STEP_RESOURCES,
    aws_cli_container,
)
from gpu_inference_platform.components.spot_fleet import CAPACITY_TYPE_LABEL

HTTP_PORT, GRPC_PORT, METRICS_PORT = 8000, 8001, 8002
QUEUE_TIME_METRIC = "triton_queue_time_per_request_us"
"""Average queue time per request, served to the HPA by prometheus-adapter (Monitoring)."""
MODEL_TREE_ANNOTATION = "gpuinfra.io/model-tree-hash"
_MODELS_DIR = "/models"
_VERIFIER_DIR = "/verifier"
_MANIFEST_MODULE = Path(__file__).with_name("model_manifest.py")

ModelControlMode = Literal["none", "poll", "explicit"]


@dataclass(frozen=True)
class TritonServerArgs:
    """Settings and wiring of the Triton deployment."""

    image: str
    model_bucket: pulumi.Input[str]
    model_prefix: str
    model_tree_hash: str
    model_read_policy_arn: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer_url: pulumi.Input[str]
    floor_capacity_type: Literal["on-demand", "spot"]
    """Where the always-on floor runs: on-demand when the fleet has an on-demand pool."""
    floor_replicas: int
    min_spot_replicas: int
    max_spot_replicas: int
    gpus_per_replica: int
    cpu_millicores: int
    memory_gib: int
    shm_mib: int
    model_control_mode: ModelControlMode = "none"
    startup_probe_period_s: int = 10
    startup_probe_failure_threshold: int = 30
    pre_stop_sleep_s: int = 20
    exit_timeout_s: int = 30
    termination_grace_period_s: int = 60
    queue_time_target_us: int = 50_000
    models_volume_gib: int = 8
    aws_cli_image: str = DEFAULT_AWS_CLI_IMAGE


class TritonServer(PlatformComponent):
    """Namespace, IRSA service account, floor and spot Deployments, Service, PDB and queue-time HPA."""

    namespace: str
    """Kubernetes namespace of the deployment."""
    service_name: str
    """Service the load balancer binds to (port 8000)."""
    role_arn: pulumi.Output[str]
    """IRSA role of the pods (read-only on the model prefix)."""

    def __init__(self, name: str, args: TritonServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tritonserver", "TritonServer", name, opts)
        self.namespace = self.service_name = name
        labels = {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": name}

        namespace = k8s.core.v1.Namespace(name, metadata={"name": name, "labels": RESTRICTED_POD_SECURITY}, opts=self.child())
        role = service_account_role(
            name, oidc_provider_arn=args.oidc_provider_arn, oidc_issuer_url=args.oidc_issuer_url, namespace=name, service_account=name, opts=self.child()
        )
        aws.iam.RolePolicyAttachment(f"{name}-models-read", role=role.name, policy_arn=args.model_read_policy_arn, opts=self.child())
        in_namespace = self.child(depends_on=[namespace])
        k8s.core.v1.ServiceAccount(name, metadata={"name": name, "namespace": name, "annotations": {"eks.amazonaws.com/role-arn": role.arn}}, opts=in_namespace)
        k8s.core.v1.ConfigMap(
            f"{name}-verifier",
            metadata={"name": f"{name}-verifier", "namespace": name},
            data={"model_manifest.py": _MANIFEST_MODULE.read_text()},
            opts=in_namespace,
        )

        floor = self._deployment(name, "floor", args, labels, replicas=args.floor_replicas, capacity_type=args.floor_capacity_type, opts=in_namespace)
        spot = self._deployment(
            name,
            "spot",
            args,
            labels,
            replicas=args.min_spot_replicas,
            capacity_type="spot",
            opts=self.child(depends_on=[namespace], ignore_changes=["spec.replicas"]),
        )
        service: dict[str, Any] = {
            "metadata": {"name": name, "namespace": name, "labels": labels},
            "spec": {
                "selector": labels,
                "ports": [
                    {"name": "http", "port": HTTP_PORT, "targetPort": "http"},
                    {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc"},
                    {"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics"},
                ],
            },
        }
        k8s.core.v1.Service(name, opts=in_namespace, **service)
        budget: dict[str, Any] = {"metadata": {"name": name, "namespace": name}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}}}
        k8s.policy.v1.PodDisruptionBudget(name, opts=in_namespace, **budget)
        queue_time = {"type": "AverageValue", "averageValue": str(args.queue_time_target_us)}
        autoscaler: dict[str, Any] = {
            "metadata": {"name": f"{name}-spot", "namespace": name},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{name}-spot"},
                "minReplicas": args.min_spot_replicas,
                "maxReplicas": args.max_spot_replicas,
                "metrics": [{"type": "Pods", "pods": {"metric": {"name": QUEUE_TIME_METRIC}, "target": queue_time}}],
                "behavior": {
                    "scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]},
                    "scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]},
                },
            },
        }
        k8s.autoscaling.v2.HorizontalPodAutoscaler(f"{name}-spot", opts=self.child(depends_on=[spot]), **autoscaler)
        self.role_arn = role.arn
        self.register_outputs({"namespace": self.namespace, "service_name": self.service_name, "role_arn": self.role_arn, "floor": floor.metadata["name"]})

    def _deployment(
        self, name: str, tier: str, args: TritonServerArgs, labels: dict[str, str], *, replicas: int, capacity_type: str, opts: pulumi.ResourceOptions
    ) -> k8s.apps.v1.Deployment:
        """A Deployment of identical Triton pods pinned to one capacity type; rolls with zero unavailable."""
        pod_labels = {**labels, "gpuinfra.io/tier": tier}
        annotations = {MODEL_TREE_ANNOTATION: args.model_tree_hash}
        manifest: dict[str, Any] = {
            "metadata": {"name": f"{name}-{tier}", "namespace": name, "labels": pod_labels, "annotations": annotations},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": pod_labels},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                "template": {
                    "metadata": {"labels": pod_labels, "annotations": annotations},
                    "spec": pulumi.Output.from_input(args.model_bucket).apply(lambda bucket: self._pod_spec(name, args, labels, bucket, capacity_type)),
                },
            },
        }
        return k8s.apps.v1.Deployment(f"{name}-{tier}", opts=opts, **manifest)

    def _pod_spec(self, name: str, args: TritonServerArgs, labels: dict[str, str], bucket: str, capacity_type: str) -> dict[str, Any]:
        models = {"name": "models", "mountPath": _MODELS_DIR}
        tmp = {"name": "tmp", "mountPath": "/tmp"}
        ready = {"httpGet": {"path": "/v2/health/ready", "port": "http"}}
        return {
            "serviceAccountName": name,
            "terminationGracePeriodSeconds": args.termination_grace_period_s,
            "securityContext": RESTRICTED_POD_CONTEXT,
            "nodeSelector": {CAPACITY_TYPE_LABEL: capacity_type},
            "tolerations": [{"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}],
            "topologySpreadConstraints": [
                {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": labels}}
                for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
            ],
            "initContainers": [
                aws_cli_container(
                    "fetch-models", args.aws_cli_image, ["s3", "sync", f"s3://{bucket}/{args.model_prefix}", _MODELS_DIR, "--only-show-errors"], [models, tmp]
                ),
                {
                    "name": "verify-models",
                    "image": args.image,
                    "command": ["python3", f"{_VERIFIER_DIR}/model_manifest.py", _MODELS_DIR],
                    "env": [{"name": "PYTHONDONTWRITEBYTECODE", "value": "1"}],
                    "securityContext": RESTRICTED_CONTAINER_CONTEXT,
                    "resources": STEP_RESOURCES,
                    "volumeMounts": [models, {"name": "verifier", "mountPath": _VERIFIER_DIR, "readOnly": True}],
                },
            ],
            "containers": [
                {
                    "name": "triton",
                    "image": args.image,
                    "command": ["tritonserver"],
                    "args": [
                        f"--model-repository={_MODELS_DIR}",
                        f"--model-control-mode={args.model_control_mode}",
                        "--strict-readiness=true",
                        "--exit-on-error=true",
                        "--disable-auto-complete-config",
                        f"--exit-timeout-secs={args.exit_timeout_s}",
                        f"--http-port={HTTP_PORT}",
                        f"--grpc-port={GRPC_PORT}",
                        f"--metrics-port={METRICS_PORT}",
                        "--allow-metrics=true",
                        "--allow-gpu-metrics=true",
                        "--metrics-config=summary_latencies=true",
                    ],
                    "ports": [
                        {"name": "http", "containerPort": HTTP_PORT},
                        {"name": "grpc", "containerPort": GRPC_PORT},
                        {"name": "metrics", "containerPort": METRICS_PORT},
                    ],
                    "resources": {
                        "requests": {"cpu": f"{args.cpu_millicores}m", "memory": f"{args.memory_gib}Gi", "nvidia.com/gpu": args.gpus_per_replica},
                        "limits": {"cpu": f"{args.cpu_millicores}m", "memory": f"{args.memory_gib}Gi", "nvidia.com/gpu": args.gpus_per_replica},
                    },
                    "startupProbe": {**ready, "periodSeconds": args.startup_probe_period_s, "failureThreshold": args.startup_probe_failure_threshold},
                    "readinessProbe": {**ready, "periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 2},
                    "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": "http"}, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 2},
                    "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(args.pre_stop_sleep_s)]}}},
                    "securityContext": RESTRICTED_CONTAINER_CONTEXT,
                    "volumeMounts": [models, tmp, {"name": "dshm", "mountPath": "/dev/shm"}],
                }
            ],
            "volumes": [
                {"name": "models", "emptyDir": {"sizeLimit": f"{args.models_volume_gib}Gi"}},
                {"name": "tmp", "emptyDir": {"sizeLimit": "1Gi"}},
                {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{args.shm_mib}Mi"}},
                {"name": "verifier", "configMap": {"name": f"{name}-verifier"}},
            ],
        }
