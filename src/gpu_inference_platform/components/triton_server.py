"""TritonServer: Triton on the GPU fleet - an on-demand floor plus an elastic spot Deployment behind one Service.

Every pod copies the content-addressed model build from S3 to a local volume and
verifies it against its manifest before Triton starts (never `s3://` loading), runs
Triton locked down (no model control, strict readiness, exit on error), drains before
it stops (preStop longer than load-balancer deregistration; grace >= preStop + exit
timeout), and carries the model tree hash so "what is running" has an exact answer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.cluster_ref import ClusterRef
from gpu_inference_platform.components.constants import (
    APP_INSTANCE_LABEL,
    APP_NAME_LABEL,
    AWAIT_TIMEOUT_ANNOTATION,
    CAPACITY_TYPE_LABEL,
    DEFAULT_AWS_CLI_IMAGE,
    GPU_RESOURCE,
    GPU_TOLERATION,
    INSTANCE_TYPE_LABEL,
    LLM_KV_CACHE_METRIC,
    LLM_WAITING_METRIC,
    MODEL_TREE_ANNOTATION,
    QUEUE_TIME_METRIC,
    TRITON_GRPC_PORT,
    TRITON_HTTP_PORT,
    TRITON_LIVE_PATH,
    TRITON_METRICS_PORT,
    TRITON_READY_PATH,
)
from gpu_inference_platform.components.iam import service_account_role
from gpu_inference_platform.components.model_manifest import MANIFEST_NAME
from gpu_inference_platform.components.network_policies import NAMESPACE_NAME_LABEL, allow_ingress, deny_all_but_dns_and_https
from gpu_inference_platform.components.pods import (
    RESTRICTED_CONTAINER_CONTEXT,
    RESTRICTED_POD_CONTEXT,
    RESTRICTED_POD_SECURITY,
    STEP_RESOURCES,
    aws_cli_container,
)
from gpu_inference_platform.components.tensorrt_engines import MIN_RELEASE_HTTP_MAX_INPUT_SIZE, MODELS_MOUNT, bounds_http_input, model_config_name
from gpu_inference_platform.components.validation import ConfigIssue, KeyPath, args_key, check_args, leaf

SPOT_NOTICE_S = 120
"""Warning EC2 gives before it reclaims a spot instance: a spot replica's whole drain must fit in it."""
MIN_SHM_MIB_PYTHON_BACKEND = 64
_VERIFIER_DIR = "/verifier"
_MANIFEST_MODULE = Path(__file__).with_name("model_manifest.py")

ModelControlMode = Literal["none", "poll", "explicit"]


class ServingPodSettings(Protocol):
    """The pod settings `serving_pod_issues` checks (`TritonServerArgs` and the stack's serving config both have them)."""

    @property
    def floor_replicas(self) -> int: ...
    @property
    def min_spot_replicas(self) -> int: ...
    @property
    def max_spot_replicas(self) -> int: ...
    @property
    def memory_gib(self) -> int: ...
    @property
    def shm_mib(self) -> int: ...
    @property
    def expected_model_load_s(self) -> int: ...
    @property
    def startup_probe_period_s(self) -> int: ...
    @property
    def startup_probe_failure_threshold(self) -> int: ...
    @property
    def pre_stop_sleep_s(self) -> int: ...
    @property
    def exit_timeout_s(self) -> int: ...
    @property
    def termination_grace_period_s(self) -> int: ...


def serving_pod_issues(key: KeyPath, pods: ServingPodSettings) -> Iterator[ConfigIssue]:
    """Replica bounds, drain timing (grace >= preStop + exit, within the spot notice), startup budget and /dev/shm sizing."""
    if pods.floor_replicas < 0:
        yield ConfigIssue(key("floor_replicas"), pods.floor_replicas, "must be 0 or more")
    if pods.min_spot_replicas < 1:
        yield ConfigIssue(key("min_spot_replicas"), pods.min_spot_replicas, "the spot Deployment is HPA-managed and an HPA keeps at least 1 replica")
    elif pods.min_spot_replicas > pods.max_spot_replicas:
        yield ConfigIssue(key("min_spot_replicas"), pods.min_spot_replicas, f"greater than {leaf(key, 'max_spot_replicas')} ({pods.max_spot_replicas})")
    drain = pods.pre_stop_sleep_s + pods.exit_timeout_s
    if pods.termination_grace_period_s < drain:
        yield ConfigIssue(
            key("termination_grace_period_s"),
            pods.termination_grace_period_s,
            f"shorter than {leaf(key, 'pre_stop_sleep_s')} + {leaf(key, 'exit_timeout_s')} ({drain}); in-flight requests would be killed",
        )
    if pods.termination_grace_period_s > SPOT_NOTICE_S:
        yield ConfigIssue(
            key("termination_grace_period_s"), pods.termination_grace_period_s, f"spot replicas get a {SPOT_NOTICE_S} s notice; allowed: <= {SPOT_NOTICE_S}"
        )
    budget = pods.startup_probe_period_s * pods.startup_probe_failure_threshold
    if budget < pods.expected_model_load_s:
        yield ConfigIssue(
            key("startup_probe_failure_threshold"),
            pods.startup_probe_failure_threshold,
            f"startup budget {budget} s (period x threshold) is below {leaf(key, 'expected_model_load_s')} ({pods.expected_model_load_s})",
        )
    if pods.shm_mib >= pods.memory_gib * 1024:
        yield ConfigIssue(key("shm_mib"), pods.shm_mib, f"/dev/shm counts against the memory limit ({pods.memory_gib} GiB); keep it well below")
    elif pods.shm_mib < MIN_SHM_MIB_PYTHON_BACKEND:
        yield ConfigIssue(key("shm_mib"), pods.shm_mib, f"the Python backend needs at least {MIN_SHM_MIB_PYTHON_BACKEND} MiB of /dev/shm")


@dataclass(frozen=True)
class LlmScaling:
    """The spot HPA signal of a group serving TensorRT-LLM models: queue time barely moves for decoupled models."""

    waiting_requests: float = 4
    """Average generation requests waiting per replica, in the front model's queue and TensorRT-LLM's."""
    kv_cache_used_ratio: float = 0.85
    """Average share of KV-cache blocks in use per replica (`nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="fraction"}`)."""


def _milli(value: float) -> str:
    """A Kubernetes quantity for a metric target (milli-units keep fractions exact)."""
    return f"{round(value * 1000)}m"


@dataclass(frozen=True)
class TritonServerArgs:
    """Settings and wiring of the Triton deployment."""

    image: str
    """Pinned `nvcr.io/nvidia/tritonserver:YY.MM-py3` (engines are built with the same YY.MM)."""
    model_bucket: pulumi.Input[str]
    """Bucket holding the model build (`ModelRepository.bucket_name`)."""
    model_prefix: str
    """Content-addressed prefix of the build, `models/<tree-hash>/` (`ModelRepository.prefix`)."""
    model_tree_hash: str
    """Tree hash of the build; Deployments carry it as an annotation (`ModelRepository.tree_hash`)."""
    model_read_policy_arn: pulumi.Input[str]
    """Policy attached to the pods' IRSA role: read-only on that prefix (`ModelRepository.read_policy_arn`)."""
    cluster: ClusterRef
    """The cluster the pods run in (IRSA trust)."""
    floor_capacity_type: Literal["on-demand", "spot"]
    """Where the always-on floor runs: on-demand when the fleet has an on-demand pool."""
    floor_replicas: int
    """Always-on replicas (0 or more)."""
    min_spot_replicas: int
    """Fewest elastic replicas (the HPA's minimum, at least 1)."""
    max_spot_replicas: int
    """Most elastic replicas (the HPA's maximum)."""
    gpus_per_replica: int = 1
    """`nvidia.com/gpu` per pod; every instance type of its pool must have at least this many."""
    cpu_millicores: int = 3000
    """CPU request and limit per pod."""
    memory_gib: int = 12
    """Memory request and limit per pod (includes /dev/shm)."""
    shm_mib: int = 1024
    """Size of the memory-backed /dev/shm (Python backend, at least 64 MiB)."""
    model_control_mode: ModelControlMode = "none"
    """Triton's `--model-control-mode`; `none` serves the fixed repository (required in production)."""
    expected_model_load_s: int = 120
    """How long loading the models may take; the startup probe budget must cover it."""
    startup_probe_period_s: int = 10
    """Startup probe period; with the threshold, the time a pod gets to become ready."""
    startup_probe_failure_threshold: int = 30
    """Startup probe failures before the pod is restarted."""
    pre_stop_sleep_s: int = 20
    """Sleep before Triton is signalled: longer than the load balancer's deregistration delay."""
    exit_timeout_s: int = 30
    """Triton's `--exit-timeout-secs`: how long in-flight requests may finish after the signal."""
    termination_grace_period_s: int = 60
    """Pod grace period: at least preStop + exit timeout, at most the 120 s spot notice."""
    queue_time_target_us: int | None = 50_000
    """Average queue time per request the spot HPA holds (batch models); None leaves it out of the HPA."""
    llm_scaling: LlmScaling | None = None
    """Waiting-request and KV-cache targets of the spot HPA (TensorRT-LLM models). The HPA scales on the larger proposal."""
    model_folders: Sequence[str] = ()
    """Model folders of the build this server fetches, verifies and serves (a serving group's models). Default: the whole build."""
    engine_config_per_gpu: bool = False
    """Start Triton with `--model-config-name=cc<the GPU's compute capability>-tp<gpus_per_replica>`, so a TensorRT-LLM model
    loads `configs/<that>.pbtxt`, which points at the engine built for this GPU family (models without one use config.pbtxt)."""
    instance_types: Sequence[str] = ()
    """Instance types the pods must run on (a serving group's GPU pool). Default: any GPU node of the fleet."""
    rollout_timeout_s: int = 1800
    """How long `pulumi up` awaits a Deployment's rollout (the `pulumi.com/timeoutSeconds` annotation): a new GPU node (~90 s),
    an ~18 GB image pull (4-6 minutes) and the model load must fit, where the provider's default 10 minutes does not."""
    models_volume_gib: int = 8
    """Local volume the model build is copied to and verified on."""
    aws_cli_image: str = DEFAULT_AWS_CLI_IMAGE
    """Image of the model fetch step."""
    client_cidrs: Sequence[str] = ()
    """Ranges allowed to reach HTTP (8000) through the NetworkPolicy: the load balancer's subnets, so every client passes its WAF.
    gRPC (8001) is never admitted: the load balancer does not route it (use `kubectl port-forward` for load tests). Default: none."""
    metrics_namespace: str | None = None
    """Namespace whose pods may scrape the metrics port (8002), e.g. Monitoring's. Default: none."""
    max_input_bytes: int | None = None
    """Triton's `--http-max-input-size`: the largest HTTP request it reads (the models' `max_request_bytes`); needs 25.06+. Default: Triton's 64 MiB."""

    def __post_init__(self) -> None:
        key = args_key("TritonServerArgs")
        issues = list(serving_pod_issues(key, self))
        if self.queue_time_target_us is None and self.llm_scaling is None:
            issues.append(ConfigIssue(key("queue_time_target_us"), None, "the spot HPA needs a signal: set it, llm_scaling, or both"))
        if self.llm_scaling is not None and not (self.llm_scaling.waiting_requests > 0 and 0 < self.llm_scaling.kv_cache_used_ratio <= 1):
            issues.append(ConfigIssue(key("llm_scaling"), self.llm_scaling, "waiting_requests must be above 0 and kv_cache_used_ratio in (0, 1]"))
        if self.rollout_timeout_s < 600:
            issues.append(ConfigIssue(key("rollout_timeout_s"), self.rollout_timeout_s, "a GPU node, its image pull and the model load need at least 600"))
        if self.gpus_per_replica < 1:
            issues.append(ConfigIssue(key("gpus_per_replica"), self.gpus_per_replica, "must be at least 1"))
        if self.max_input_bytes is not None:
            if self.max_input_bytes < 1:
                issues.append(ConfigIssue(key("max_input_bytes"), self.max_input_bytes, "must be at least 1"))
            if not bounds_http_input(self.image):
                needs = f"--http-max-input-size needs Triton {MIN_RELEASE_HTTP_MAX_INPUT_SIZE} or later (or leave max_input_bytes unset)"
                issues.append(ConfigIssue(key("image"), self.image, needs))
        check_args(self, issues)


class TritonServer(PlatformComponent):
    """Namespace, IRSA service account, floor and spot Deployments, Service, PDB and queue-time HPA."""

    namespace: str
    """Kubernetes namespace of the deployment."""
    service_name: str
    """Service the load balancer binds to (port 8000)."""
    role_arn: pulumi.Output[str]
    """IRSA role of the pods (read-only on the model prefix)."""
    deployment_names: list[str]
    """The floor and spot Deployments (`<name>-floor`, `<name>-spot`)."""
    service: k8s.core.v1.Service
    """The Service (ports http 8000, grpc 8001, metrics 8002)."""

    def __init__(self, name: str, args: TritonServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("tritonserver", "TritonServer", name, opts)
        self.namespace = self.service_name = name
        labels = {APP_NAME_LABEL: "triton", APP_INSTANCE_LABEL: name}

        namespace = k8s.core.v1.Namespace(name, metadata={"name": name, "labels": RESTRICTED_POD_SECURITY}, opts=self.child())
        role = service_account_role(
            name,
            oidc_provider_arn=args.cluster.oidc_provider_arn,
            oidc_issuer_url=args.cluster.oidc_issuer_url,
            namespace=name,
            service_account=name,
            opts=self.child(),
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

        self._deployment(name, "floor", args, labels, replicas=args.floor_replicas, capacity_type=args.floor_capacity_type, opts=in_namespace)
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
                    {"name": "http", "port": TRITON_HTTP_PORT, "targetPort": "http"},
                    {"name": "grpc", "port": TRITON_GRPC_PORT, "targetPort": "grpc"},
                    {"name": "metrics", "port": TRITON_METRICS_PORT, "targetPort": "metrics"},
                ],
            },
        }
        self.service = k8s.core.v1.Service(name, opts=in_namespace, **service)
        budget: dict[str, Any] = {"metadata": {"name": name, "namespace": name}, "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels}}}
        k8s.policy.v1.PodDisruptionBudget(name, opts=in_namespace, **budget)
        self._network_policies(name, args, labels, in_namespace)
        autoscaler: dict[str, Any] = {
            "metadata": {"name": f"{name}-spot", "namespace": name},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": f"{name}-spot"},
                "minReplicas": args.min_spot_replicas,
                "maxReplicas": args.max_spot_replicas,
                "metrics": self._scaling_metrics(args),
                "behavior": {
                    "scaleUp": {"stabilizationWindowSeconds": 0, "policies": [{"type": "Pods", "value": 2, "periodSeconds": 60}]},
                    "scaleDown": {"stabilizationWindowSeconds": 300, "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}]},
                },
            },
        }
        k8s.autoscaling.v2.HorizontalPodAutoscaler(f"{name}-spot", opts=self.child(depends_on=[spot]), **autoscaler)
        self.role_arn = role.arn
        self.deployment_names = [f"{name}-floor", f"{name}-spot"]
        self.register_outputs(self.public_outputs())

    @staticmethod
    def _scaling_metrics(args: TritonServerArgs) -> list[dict[str, Any]]:
        """Per-pod averages from prometheus-adapter: queue time (batch models), waiting requests and KV-cache use (LLMs)."""
        targets: list[tuple[str, str]] = []
        if args.queue_time_target_us is not None:
            targets.append((QUEUE_TIME_METRIC, str(args.queue_time_target_us)))
        if args.llm_scaling is not None:
            targets += [(LLM_WAITING_METRIC, _milli(args.llm_scaling.waiting_requests)), (LLM_KV_CACHE_METRIC, _milli(args.llm_scaling.kv_cache_used_ratio))]
        return [{"type": "Pods", "pods": {"metric": {"name": name}, "target": {"type": "AverageValue", "averageValue": value}}} for name, value in targets]

    def _network_policies(self, name: str, args: TritonServerArgs, labels: dict[str, str], opts: pulumi.ResourceOptions) -> None:
        """Deny by default; clients reach 8000 from `client_cidrs`, the metrics namespace scrapes 8002."""
        deny_all_but_dns_and_https(name, name, opts)
        rules: list[dict[str, Any]] = []
        if args.client_cidrs:
            rules.append(
                {
                    "from": [{"ipBlock": {"cidr": cidr}} for cidr in args.client_cidrs],
                    "ports": [{"protocol": "TCP", "port": TRITON_HTTP_PORT}],
                }
            )
        if args.metrics_namespace:
            rules.append(
                {
                    "from": [{"namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: args.metrics_namespace}}}],
                    "ports": [{"protocol": "TCP", "port": TRITON_METRICS_PORT}],
                }
            )
        if rules:
            allow_ingress(f"{name}-clients", name, labels, rules, opts)

    def _deployment(
        self, name: str, tier: str, args: TritonServerArgs, labels: dict[str, str], *, replicas: int, capacity_type: str, opts: pulumi.ResourceOptions
    ) -> k8s.apps.v1.Deployment:
        """A Deployment of identical Triton pods pinned to one capacity type; rolls with zero unavailable."""
        pod_labels = {**labels, "gpuinfra.io/tier": tier}
        annotations = {MODEL_TREE_ANNOTATION: args.model_tree_hash}
        awaited = {**annotations, AWAIT_TIMEOUT_ANNOTATION: str(args.rollout_timeout_s)}
        manifest: dict[str, Any] = {
            "metadata": {"name": f"{name}-{tier}", "namespace": name, "labels": pod_labels, "annotations": awaited},
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

    @staticmethod
    def _placement(capacity_type: str, instance_types: Sequence[str]) -> dict[str, Any]:
        """Only the group's instance types (when given); the floor is pinned to its capacity type, the spot tier prefers spot
        but falls back to on-demand when spot is short."""
        placement: dict[str, Any] = {}
        affinity: dict[str, Any] = {}
        if instance_types:
            only = {"matchExpressions": [{"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": sorted(instance_types)}]}
            affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {"nodeSelectorTerms": [only]}
        if capacity_type != "spot":
            placement["nodeSelector"] = {CAPACITY_TYPE_LABEL: capacity_type}
        else:
            preference = {"matchExpressions": [{"key": CAPACITY_TYPE_LABEL, "operator": "In", "values": ["spot"]}]}
            affinity["preferredDuringSchedulingIgnoredDuringExecution"] = [{"weight": 100, "preference": preference}]
        if affinity:
            placement["affinity"] = {"nodeAffinity": affinity}
        return placement

    @staticmethod
    def _triton_command(args: TritonServerArgs) -> list[str]:
        """`tritonserver`, or a shell that first asks the GPU its compute capability and names the engine config after it."""
        if not args.engine_config_per_gpu:
            return ["tritonserver"]
        config_name = model_config_name("$cc", args.gpus_per_replica)
        script = (
            'cc="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1)"; '
            '[ -n "$cc" ] || { echo "nvidia-smi reported no compute capability" >&2; exit 1; }; '
            f'exec tritonserver "$@" --model-config-name="{config_name}"'
        )
        return ["sh", "-c", script, "tritonserver"]

    @staticmethod
    def _fetch_args(args: TritonServerArgs, bucket: str) -> list[str]:
        """`aws s3 sync` of the build, or of only the manifest and the server's model folders."""
        only = ["--exclude", "*", "--include", MANIFEST_NAME, *(arg for folder in args.model_folders for arg in ("--include", f"{folder}/*"))]
        return ["s3", "sync", f"s3://{bucket}/{args.model_prefix}", MODELS_MOUNT, *(only if args.model_folders else []), "--only-show-errors"]

    def _pod_spec(self, name: str, args: TritonServerArgs, labels: dict[str, str], bucket: str, capacity_type: str) -> dict[str, Any]:
        models = {"name": "models", "mountPath": MODELS_MOUNT}
        tmp = {"name": "tmp", "mountPath": "/tmp"}
        ready = {"httpGet": {"path": TRITON_READY_PATH, "port": "http"}}
        return {
            "serviceAccountName": name,
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": args.termination_grace_period_s,
            "securityContext": RESTRICTED_POD_CONTEXT,
            **self._placement(capacity_type, args.instance_types),
            "tolerations": [GPU_TOLERATION],
            "topologySpreadConstraints": [
                {"maxSkew": 1, "topologyKey": key, "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": labels}}
                for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
            ],
            "initContainers": [
                aws_cli_container("fetch-models", args.aws_cli_image, self._fetch_args(args, bucket), [models, tmp]),
                {
                    "name": "verify-models",
                    "image": args.image,
                    "command": ["python3", f"{_VERIFIER_DIR}/model_manifest.py", MODELS_MOUNT, *args.model_folders],
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
                    "command": self._triton_command(args),
                    "args": [
                        f"--model-repository={MODELS_MOUNT}",
                        f"--model-control-mode={args.model_control_mode}",
                        "--strict-readiness=true",
                        "--exit-on-error=true",
                        "--disable-auto-complete-config",
                        f"--exit-timeout-secs={args.exit_timeout_s}",
                        f"--http-port={TRITON_HTTP_PORT}",
                        f"--grpc-port={TRITON_GRPC_PORT}",
                        f"--metrics-port={TRITON_METRICS_PORT}",
                        "--allow-metrics=true",
                        "--allow-gpu-metrics=true",
                        "--metrics-config=summary_latencies=true",
                        *([f"--http-max-input-size={args.max_input_bytes}"] if args.max_input_bytes is not None else []),
                    ],
                    "ports": [
                        {"name": "http", "containerPort": TRITON_HTTP_PORT},
                        {"name": "grpc", "containerPort": TRITON_GRPC_PORT},
                        {"name": "metrics", "containerPort": TRITON_METRICS_PORT},
                    ],
                    "resources": {
                        "requests": {"cpu": f"{args.cpu_millicores}m", "memory": f"{args.memory_gib}Gi", GPU_RESOURCE: args.gpus_per_replica},
                        "limits": {"cpu": f"{args.cpu_millicores}m", "memory": f"{args.memory_gib}Gi", GPU_RESOURCE: args.gpus_per_replica},
                    },
                    "startupProbe": {**ready, "periodSeconds": args.startup_probe_period_s, "failureThreshold": args.startup_probe_failure_threshold},
                    "readinessProbe": {**ready, "periodSeconds": 5, "failureThreshold": 2, "timeoutSeconds": 2},
                    "livenessProbe": {"httpGet": {"path": TRITON_LIVE_PATH, "port": "http"}, "periodSeconds": 10, "failureThreshold": 3, "timeoutSeconds": 2},
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
