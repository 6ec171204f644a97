"""The stack configuration: the ONLY place that reads Pulumi config.

`load_stack_config()` reads every key of the project namespace plus `aws:region`,
validates the whole tree once and returns a frozen `StackConfig`. Every problem,
whether a wrong type, an unknown key or a broken cross-field rule, becomes one line
naming the key path, the bad value and what is allowed; all lines are raised together
as a `ConfigError`, which Pulumi prints without a traceback.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

import pulumi
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from gpu_inference_platform.components.budget_alarms import BudgetAlarmsArgs, budget_issues
from gpu_inference_platform.components.ci_runner import CiRunnerArgs, runner_issues
from gpu_inference_platform.components.gpu_cluster import (
    GpuClusterArgs,
    SystemNodeGroupArgs,
    endpoint_issues,
    principal_issues,
    system_node_issues,
)
from gpu_inference_platform.components.instances import INSTANCE_TYPES, instance_types_by_compute_capability
from gpu_inference_platform.components.load_balancer import LoadBalancerArgs, load_balancer_issues
from gpu_inference_platform.components.model_repository import ModelRepositoryArgs
from gpu_inference_platform.components.monitoring import AlertThresholds, MonitoringArgs, monitoring_issues
from gpu_inference_platform.components.network import MIN_AVAILABILITY_ZONES, NetworkArgs, carve_subnets, network_issues
from gpu_inference_platform.components.spot_fleet import CapacityType, SpotFleetArgs, pool_issues
from gpu_inference_platform.components.support_windows import kubernetes_version_issues
from gpu_inference_platform.components.tensorrt_engines import (
    MIN_RELEASE_HTTP_MAX_INPUT_SIZE,
    TENSORRT_IMAGE_REPOSITORY,
    TENSORRT_LLM_COMPUTE_CAPABILITIES,
    TRITON_IMAGE_REPOSITORY,
    TRTLLM_FLAVOUR,
    bounds_http_input,
    ngc_release,
    serves_tensorrt_llm,
)
from gpu_inference_platform.components.triton_server import SPOT_NOTICE_S, LlmScaling, TritonServerArgs, serving_pod_issues
from gpu_inference_platform.components.validation import ConfigError, ConfigIssue, config_key, default_of, parse_cidr
from gpu_inference_platform.ops.modelbuild.catalog import PublicModel, public_models
from gpu_inference_platform.program.regions import REGION_AVAILABILITY_ZONES

__all__ = ["ConfigError", "ConfigIssue", "StackConfig", "load_stack_config", "parse_stack_config", "raw_config"]

PROJECT = "gpu-inference-platform"
REGION_KEY = "aws:region"
CLOUDWATCH_RETENTION_DAYS = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731,
    1096, 1827, 2192, 2557, 2922, 3288, 3653,
)  # fmt: skip
PRODUCTION_MIN_RETENTION_DAYS = 365
PRODUCTION_MIN_AVAILABILITY_ZONES = 3
PRODUCTION_MIN_SERVING_REPLICAS = 3
PRODUCTION_MIN_ACCESS_LOG_DAYS = 90
DEFAULT_MAX_GENERATION_S = 45


def _check_retention(days: int) -> int:
    if days not in CLOUDWATCH_RETENTION_DAYS:
        raise ValueError(f"not a CloudWatch retention period; allowed: {', '.join(map(str, CLOUDWATCH_RETENTION_DAYS))}")
    return days


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


Cidr = Annotated[str, AfterValidator(parse_cidr)]
RetentionDays = Annotated[int, AfterValidator(_check_retention)]
IamPrincipalArn = Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::\d{12}:(role|user)/[\w+=,.@/-]+$")]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, alias_generator=to_camel, allow_inf_nan=False)


class NodeGroupConfig(_Schema):
    """A fixed-size CPU node group (the system nodes that run controllers)."""

    instance_type: str
    min_size: int = Field(ge=1)
    desired_size: int = Field(ge=1)
    max_size: int = Field(ge=1)
    root_volume_gib: int = Field(default=default_of(SystemNodeGroupArgs, "root_volume_gib"), ge=20, le=1000)


class NetworkConfig(_Schema):
    """VPC layout. Subnets are carved from `cidr` when not given explicitly."""

    cidr: Cidr
    availability_zones: list[str]
    private_subnet_cidrs: list[Cidr] | None = None
    public_subnet_cidrs: list[Cidr] | None = None
    nat_gateways: Literal["single", "perAz"] = "perAz"
    flow_log_retention_days: RetentionDays = default_of(NetworkArgs, "flow_log_retention_days")

    def subnet_plan(self) -> tuple[list[str], list[str]]:
        """(private, public) subnet CIDRs, one of each per availability zone (carved by `network.carve_subnets` unless given)."""
        private, public = carve_subnets(self.cidr, len(self.availability_zones))
        return list(self.private_subnet_cidrs or private), list(self.public_subnet_cidrs or public)


class ClusterConfig(_Schema):
    """EKS control plane and system node group."""

    kubernetes_version: str
    """In EKS standard support today (`components/support_windows.py`)."""
    endpoint_public_access: bool = default_of(GpuClusterArgs, "endpoint_public_access")
    public_access_cidrs: list[Cidr] = []
    admin_principal_arns: list[IamPrincipalArn] = []
    viewer_principal_arns: list[IamPrincipalArn] = []
    """Read-only cluster access (AmazonEKSViewPolicy): the role pull-request previews assume."""
    log_retention_days: RetentionDays = default_of(GpuClusterArgs, "log_retention_days")
    system_nodes: NodeGroupConfig


class GpuPoolConfig(_Schema):
    """One GPU NodePool: which instance types, where, and how many GPUs at most."""

    instance_types: list[str] = Field(min_length=1)
    gpu_limit: int = Field(ge=1)
    availability_zones: list[str] | None = None
    """Defaults to every zone of the network."""
    termination_grace_period_s: int = Field(default=110, ge=30, le=3600)


class FleetConfig(_Schema):
    """Elastic GPU capacity: a spot-first pool and an optional on-demand fallback pool."""

    spot: GpuPoolConfig
    on_demand: GpuPoolConfig | None = None
    root_volume_gib: int = Field(default=default_of(SpotFleetArgs, "root_volume_gib"), ge=100, le=2000)
    ami_alias: str = Field(default=default_of(SpotFleetArgs, "ami_alias"), pattern=r"^al2023@(latest|v\d{8})$")
    karpenter_version: str = Field(default=default_of(SpotFleetArgs, "karpenter_version"), pattern=r"^\d+\.\d+\.\d+$")


def _serving_default(field: str) -> Any:
    return default_of(TritonServerArgs, field)


GroupName = Annotated[str, Field(pattern=r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")]
"""A serving group's name: its namespace, Service and component name (a DNS label of at most 20 characters)."""
LEGACY_GROUP_NAME = "triton"
"""The one group a `serving` object (the shape before serving groups) becomes; its resources keep their names."""


class ServingGroupConfig(_Schema):
    """One serving group: its models, GPU pool, replicas and scaling signal (defaults: `TritonServerArgs`).

    Groups scale independently: an embedder on queue time, an LLM on waiting requests and KV-cache use.
    """

    name: GroupName = LEGACY_GROUP_NAME
    models: list[str] | None = Field(default=None, min_length=1)
    """Public models (ensembles, generation models) this group serves; their internal models come with them. Default: every public model."""
    instance_types: list[str] | None = Field(default=None, min_length=1)
    """The fleet's instance types this group's pods may run on. Default: every type of the fleet's pools."""
    triton_image: str
    """Pinned `nvcr.io/nvidia/tritonserver:YY.MM-py3` (`-trtllm-python-py3` for TensorRT-LLM models); engines are built with the same YY.MM."""
    gpus_per_replica: int = Field(default=_serving_default("gpus_per_replica"), ge=1, le=8)
    floor_replicas: int = Field(ge=0)
    """Always-on replicas, on the on-demand pool when there is one."""
    min_spot_replicas: int = Field(default=1, ge=1)
    """The elastic Deployment is HPA-managed, and an HPA keeps at least one replica."""
    max_spot_replicas: int = Field(ge=1)
    model_control_mode: Literal["none", "poll", "explicit"] = _serving_default("model_control_mode")
    cpu_millicores: int = Field(default=_serving_default("cpu_millicores"), ge=500)
    memory_gib: int = Field(default=_serving_default("memory_gib"), ge=2)
    shm_mib: int = Field(default=_serving_default("shm_mib"), ge=1)
    expected_model_load_s: int = Field(default=_serving_default("expected_model_load_s"), ge=1)
    """How long loading the models may take (startup probe budget must cover it)."""
    startup_probe_period_s: int = Field(default=_serving_default("startup_probe_period_s"), ge=1)
    startup_probe_failure_threshold: int = Field(default=_serving_default("startup_probe_failure_threshold"), ge=1)
    pre_stop_sleep_s: int = Field(default=_serving_default("pre_stop_sleep_s"), ge=0)
    exit_timeout_s: int = Field(default=_serving_default("exit_timeout_s"), ge=1)
    termination_grace_period_s: int = Field(default=_serving_default("termination_grace_period_s"), ge=1)
    queue_time_target_ms: int = Field(default=_serving_default("queue_time_target_us") // 1000, ge=1)
    """Average queue time per request the spot HPA holds (groups serving batch models: embedders)."""
    waiting_requests_target: Annotated[float, AfterValidator(_finite)] = Field(default=default_of(LlmScaling, "waiting_requests"), gt=0, le=1000)
    """Average generation requests waiting per replica the spot HPA holds (groups serving generation models)."""
    kv_cache_used_target: float = Field(default=default_of(LlmScaling, "kv_cache_used_ratio"), gt=0, le=1)
    """Average share of KV-cache blocks in use per replica the spot HPA holds (groups serving generation models)."""
    max_generation_s: int = Field(default=DEFAULT_MAX_GENERATION_S, ge=1, le=SPOT_NOTICE_S)
    """The longest one generation may take: its drain, target-group deregistration and the ALB idle timeout cover it."""


class LoadBalancerConfig(_Schema):
    """The Pulumi-managed ALB in front of Triton."""

    scheme: Literal["internet-facing", "internal"]
    certificate_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$")]
    allowed_cidrs: list[Cidr] = Field(min_length=1)
    deregistration_delay_s: int = Field(default=default_of(LoadBalancerArgs, "deregistration_delay_s"), ge=0, le=3600)
    idle_timeout_s: int = Field(default=default_of(LoadBalancerArgs, "idle_timeout_s"), ge=1, le=4000)
    access_log_retention_days: int = Field(default=default_of(LoadBalancerArgs, "access_log_retention_days"), ge=1)
    requests_per_5_min_per_ip: int = Field(default=default_of(LoadBalancerArgs, "requests_per_5_min_per_ip"), ge=10, le=2_000_000_000)
    """WAF rate limit: requests one client IP may send in any 5 minutes."""


class ModelRepositoryConfig(_Schema):
    """Where the built repository is and which GPU families get TensorRT engines."""

    build_dir: str = Field(min_length=1)
    """Output of `python -m scripts.build_models --target gpu --stack <stack> --out <build_dir>`."""
    engine_targets: list[str] = Field(min_length=1)
    """Compute capabilities that get a TensorRT plan; must cover every GPU the fleet can launch."""
    tensorrt_image: str
    noncurrent_version_days: int = Field(default=default_of(ModelRepositoryArgs, "noncurrent_version_days"), ge=1, le=3650)


Percent = Annotated[float, Field(gt=0, le=1000)]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")]


class BudgetConfig(_Schema):
    """The stack's monthly cost budget: alerts, then an automatic stop of GPU scale-out at 100%."""

    monthly_usd: float = Field(gt=0)
    alert_emails: list[Email] = Field(min_length=1)
    actual_thresholds_percent: list[Percent] = Field(default=list(default_of(BudgetAlarmsArgs, "actual_thresholds_percent")), min_length=1)
    forecast_threshold_percent: Percent = default_of(BudgetAlarmsArgs, "forecast_threshold_percent")
    anomaly_threshold_usd: float = Field(default=default_of(BudgetAlarmsArgs, "anomaly_threshold_usd"), gt=0)
    tag_activated_by_payer: bool = not default_of(BudgetAlarmsArgs, "activate_cost_allocation_tag")
    """The organization's management (payer) account activates the `stack` cost-allocation tag: an Organizations member
    account may not, and activating it there fails every `up`."""


class MonitoringConfig(_Schema):
    """Prometheus retention and storage; where latency and errors alert."""

    retention_days: int = Field(default=default_of(MonitoringArgs, "retention_days"), ge=1, le=365)
    storage_gib: int = Field(default=default_of(MonitoringArgs, "storage_gib"), ge=10, le=2000)
    p99_latency_ms: Annotated[float, AfterValidator(_finite)] = Field(default=250, gt=0)
    error_ratio: float = Field(default=0.01, gt=0, lt=1)
    ttft_p95_ms: Annotated[float, AfterValidator(_finite)] = Field(default=default_of(AlertThresholds, "ttft_p95_s") * 1000, gt=0)
    """p95 time to first token of a generation model that alerts."""


class CiRunnerConfig(_Schema):
    """The in-VPC GitHub Actions runner that deploys this stack (needed whenever CI cannot reach the API endpoint)."""

    github_repository: str
    connection_arn: str
    compute_type: str = default_of(CiRunnerArgs, "compute_type")


class StackConfig(_Schema):
    """The whole, validated configuration of one stack."""

    region: str = Field(alias="aws:region")
    environment: Literal["dev", "staging", "prod"]
    cost_center: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    network: NetworkConfig
    cluster: ClusterConfig
    fleet: FleetConfig
    serving: list[ServingGroupConfig] = Field(min_length=1)
    """Serving groups; an object (the shape before groups) is one group named `triton` serving every public model."""
    model_repository: ModelRepositoryConfig
    load_balancer: LoadBalancerConfig
    budget: BudgetConfig
    monitoring: MonitoringConfig
    ci_runner: CiRunnerConfig | None = None
    allow_environment_mismatch: Annotated[str, Field(min_length=10)] | None = None
    """Why this stack's name does not start with its environment (otherwise an error: a copied file must not deploy prod as dev)."""

    @field_validator("serving", mode="before")
    @classmethod
    def _one_group_from_an_object(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @property
    def production(self) -> bool:
        """Production stacks get the strict rules (3 AZs, private endpoint, long retention)."""
        return self.environment == "prod"

    def pool_zones(self, pool: GpuPoolConfig) -> list[str]:
        """The zones a GPU pool launches into."""
        return pool.availability_zones or self.network.availability_zones

    def fleet_instance_types(self) -> list[str]:
        """Every instance type of the fleet's pools, in pool order, without repeats."""
        return list(dict.fromkeys(t for pool in self.named_pools().values() for t in pool.instance_types))

    def group_instance_types(self, group: ServingGroupConfig) -> list[str]:
        """The instance types a serving group's pods may run on."""
        return group.instance_types or self.fleet_instance_types()

    def named_pools(self) -> dict[str, GpuPoolConfig]:
        """GPU pools by their config key (`spot`, `onDemand`)."""
        pools = {"spot": self.fleet.spot}
        if self.fleet.on_demand is not None:
            pools["onDemand"] = self.fleet.on_demand
        return pools


# ---------------------------------------------------------------- rules
# Each component's own rules (its `*_issues` function, the same one its Args run) on the
# config keys that feed it, then the environment and cross-component rules that only the
# stack can see.

Rule = Callable[[StackConfig], Iterator[ConfigIssue]]
_NET = f"{PROJECT}:network"
_CLUSTER = f"{PROJECT}:cluster"
_FLEET = f"{PROJECT}:fleet"
_SERVING = f"{PROJECT}:serving"
_MODELS = f"{PROJECT}:modelRepository"
_LB = f"{PROJECT}:loadBalancer"
ENGINE_BUILD_GPUS = 1
"""GPUs an engine-build Job takes; Jobs queue for it one after another within their deadline."""
NODE_RESERVED_MILLICORES = 500
NODE_RESERVED_GIB = 2


def _region_and_zones(cfg: StackConfig) -> Iterator[ConfigIssue]:
    zones = cfg.network.availability_zones
    if cfg.region not in REGION_AVAILABILITY_ZONES:
        yield ConfigIssue(REGION_KEY, cfg.region, f"unknown region; allowed: {', '.join(REGION_AVAILABILITY_ZONES)}")
    else:
        allowed = REGION_AVAILABILITY_ZONES[cfg.region]
        for i, zone in enumerate(zones):
            if zone not in allowed:
                yield ConfigIssue(f"{_NET}.availabilityZones[{i}]", zone, f"not a zone of {cfg.region}; allowed: {', '.join(allowed)}")
    minimum = PRODUCTION_MIN_AVAILABILITY_ZONES if cfg.production else MIN_AVAILABILITY_ZONES
    if len(set(zones)) < minimum:
        yield ConfigIssue(f"{_NET}.availabilityZones", zones, f"needs at least {minimum} zones for environment {cfg.environment}")


def _network(cfg: StackConfig) -> Iterator[ConfigIssue]:
    net = cfg.network
    yield from network_issues(config_key(_NET), net.cidr, net.availability_zones, net.private_subnet_cidrs, net.public_subnet_cidrs)


def _endpoint(cfg: StackConfig) -> Iterator[ConfigIssue]:
    cluster = cfg.cluster
    if cluster.endpoint_public_access and cfg.production:
        yield ConfigIssue(f"{_CLUSTER}.endpointPublicAccess", True, "production clusters must use the private endpoint only; allowed: false")
    yield from endpoint_issues(config_key(_CLUSTER), cluster.endpoint_public_access, cluster.public_access_cidrs, cluster.admin_principal_arns)
    yield from principal_issues(config_key(_CLUSTER), "viewer_principal_arns", cluster.viewer_principal_arns)


def today() -> datetime.date:
    """The date support windows are checked against (UTC, as EKS bills and upgrades)."""
    return datetime.datetime.now(datetime.UTC).date()


def _kubernetes_support(cfg: StackConfig) -> Iterator[ConfigIssue]:
    yield from kubernetes_version_issues(f"{_CLUSTER}.kubernetesVersion", cfg.cluster.kubernetes_version, today())


def _system_nodes(cfg: StackConfig) -> Iterator[ConfigIssue]:
    nodes = cfg.cluster.system_nodes
    yield from system_node_issues(config_key(f"{_CLUSTER}.systemNodes"), nodes.instance_type, nodes.min_size, nodes.desired_size, nodes.max_size)


def _retention(cfg: StackConfig) -> Iterator[ConfigIssue]:
    if not cfg.production:
        return
    for path, days in ((f"{_NET}.flowLogRetentionDays", cfg.network.flow_log_retention_days), (f"{_CLUSTER}.logRetentionDays", cfg.cluster.log_retention_days)):
        if days < PRODUCTION_MIN_RETENTION_DAYS:
            yield ConfigIssue(path, days, f"production keeps logs at least {PRODUCTION_MIN_RETENTION_DAYS} days")


def served_public_models(group: ServingGroupConfig) -> list[PublicModel]:
    """The public models a group serves, in its order (all of them for a group that lists none).

    Names the catalog lacks are left out here; `_serving_groups` reports them.
    """
    catalog = public_models()
    names = group.models if group.models is not None else sorted(catalog)
    return [catalog[name] for name in names if name in catalog]


def serves_generation(group: ServingGroupConfig) -> bool:
    """The group serves a generation model (TensorRT-LLM on the gpu target)."""
    return any(model.kind == "generation" for model in served_public_models(group))


def _group_key(index: int) -> str:
    return f"{_SERVING}[{index}]"


def _gpu_pools(cfg: StackConfig) -> Iterator[ConfigIssue]:
    for key, pool in cfg.named_pools().items():
        path = f"{_FLEET}.{key}"
        capacity_type: CapacityType = "spot" if key == "spot" else "on-demand"
        yield from pool_issues(
            config_key(path),
            capacity_type,
            instance_types=pool.instance_types,
            zones=cfg.pool_zones(pool),
            gpu_limit=pool.gpu_limit,
            termination_grace_period_s=pool.termination_grace_period_s,
        )
        for i, zone in enumerate(pool.availability_zones or []):
            if zone not in cfg.network.availability_zones:
                yield ConfigIssue(f"{path}.availabilityZones[{i}]", zone, f"not a zone of the network; allowed: {', '.join(cfg.network.availability_zones)}")


def _group_type_keys(cfg: StackConfig, index: int) -> list[tuple[str, str]]:
    """(key path, instance type) of every type a group may run on: its own list, or every pool's."""
    group = cfg.serving[index]
    if group.instance_types is not None:
        return [(f"{_group_key(index)}.instanceTypes[{i}]", name) for i, name in enumerate(group.instance_types)]
    return [(f"{_FLEET}.{key}.instanceTypes[{i}]", name) for key, pool in cfg.named_pools().items() for i, name in enumerate(pool.instance_types)]


def _group_instance_types(cfg: StackConfig) -> Iterator[ConfigIssue]:
    """A group runs on types of the fleet with enough GPUs, CPU and memory for one replica; its floor finds an on-demand type."""
    fleet = cfg.fleet_instance_types()
    for index, group in enumerate(cfg.serving):
        for path, name in _group_type_keys(cfg, index):
            instance = INSTANCE_TYPES.get(name)
            if name not in fleet:
                yield ConfigIssue(path, name, f"not an instance type of the fleet's pools; allowed: {', '.join(fleet)}")
            if instance is None:
                continue
            if instance.gpu is not None and instance.gpu.count < group.gpus_per_replica:
                yield ConfigIssue(
                    path, name, f"has {instance.gpu.count} GPU(s), fewer than gpusPerReplica of serving group {group.name} ({group.gpus_per_replica})"
                )
            fits_cpu = group.cpu_millicores <= instance.vcpus * 1000 - NODE_RESERVED_MILLICORES
            if not fits_cpu or group.memory_gib > instance.memory_gib - NODE_RESERVED_GIB:
                yield ConfigIssue(
                    path,
                    name,
                    f"a replica of {group.name} ({group.cpu_millicores}m CPU, {group.memory_gib} GiB) does not fit its "
                    f"{instance.vcpus} vCPU / {instance.memory_gib} GiB",
                )
        on_demand = cfg.fleet.on_demand
        types = cfg.group_instance_types(group)
        if on_demand is not None and group.floor_replicas > 0 and not set(types) & set(on_demand.instance_types):
            yield ConfigIssue(
                f"{_group_key(index)}.instanceTypes",
                types,
                f"the floor of {group.name} runs on-demand, but none of these types is in fleet.onDemand.instanceTypes ({', '.join(on_demand.instance_types)})",
            )


def _fleet_covers_serving(cfg: StackConfig) -> Iterator[ConfigIssue]:
    groups = cfg.serving
    pairs = math.ceil(len(cfg.network.availability_zones) / 2)
    for index, group in enumerate(groups):
        if cfg.production and group.floor_replicas + group.min_spot_replicas < PRODUCTION_MIN_SERVING_REPLICAS:
            yield ConfigIssue(
                f"{_group_key(index)}.floorReplicas",
                group.floor_replicas,
                f"production needs at least {PRODUCTION_MIN_SERVING_REPLICAS} replicas in total (floorReplicas + minSpotReplicas)",
            )
        if cfg.production and (cfg.fleet.on_demand is None or group.floor_replicas < pairs):
            yield ConfigIssue(
                f"{_group_key(index)}.floorReplicas",
                group.floor_replicas,
                f"production needs an on-demand floor of at least 1 replica per pair of zones ({pairs} for {len(cfg.network.availability_zones)} zones) "
                "in an onDemand pool: spot can be reclaimed everywhere at once",
            )
    floor_key, floor_pool = ("onDemand", cfg.fleet.on_demand) if cfg.fleet.on_demand else ("spot", cfg.fleet.spot)
    floor_gpus = sum(g.floor_replicas * g.gpus_per_replica for g in groups)
    if floor_pool.gpu_limit < floor_gpus:
        yield ConfigIssue(
            f"{_FLEET}.{floor_key}.gpuLimit",
            floor_pool.gpu_limit,
            f"below the serving floor ({_replica_sum(groups, lambda g: g.floor_replicas)} = {floor_gpus})",
        )
    peak_gpus = sum((g.floor_replicas + g.max_spot_replicas) * g.gpus_per_replica for g in groups)
    total = sum(pool.gpu_limit for pool in cfg.named_pools().values())
    if total < peak_gpus:
        yield ConfigIssue(f"{_FLEET}.spot.gpuLimit", cfg.fleet.spot.gpu_limit, f"the pools' limits ({total} GPUs) are below peak serving ({peak_gpus} GPUs)")
    elif total < peak_gpus + ENGINE_BUILD_GPUS:
        yield ConfigIssue(
            f"{_FLEET}.spot.gpuLimit",
            cfg.fleet.spot.gpu_limit,
            f"the pools' limits ({total} GPUs) leave no GPU for TensorRT engine builds at peak serving ({peak_gpus} GPUs): "
            f"a model change would time out; allow at least {peak_gpus + ENGINE_BUILD_GPUS}",
        )


def _replica_sum(groups: list[ServingGroupConfig], replicas: Callable[[ServingGroupConfig], int]) -> str:
    return " + ".join(f"{replicas(g)} replicas x {g.gpus_per_replica} GPU" for g in groups)


def _engines_cover_fleet(cfg: StackConfig) -> Iterator[ConfigIssue]:
    targets = cfg.model_repository.engine_targets
    known = sorted({gpu.compute_capability for t in INSTANCE_TYPES.values() if (gpu := t.gpu) is not None})
    for i, target in enumerate(targets):
        if target not in known:
            yield ConfigIssue(f"{_MODELS}.engineTargets[{i}]", target, f"not the compute capability of any GPU in the catalog; allowed: {', '.join(known)}")
    launchable = instance_types_by_compute_capability(t for pool in cfg.named_pools().values() for t in pool.instance_types)
    for i, target in enumerate(targets):
        if target in known and target not in launchable:
            yield ConfigIssue(
                f"{_MODELS}.engineTargets[{i}]", target, "no instance type of the fleet has this compute capability; its plan cannot be built", "warning"
            )
    for capability, types in launchable.items():
        if capability not in targets:
            yield ConfigIssue(
                f"{_MODELS}.engineTargets",
                targets,
                f"the fleet can launch compute capability {capability} ({', '.join(types)}) but no TensorRT engine is built for it; "
                f"add {capability!r} or remove those types",
            )


def _pinned_release(path: str, image: str, repository: str) -> Iterator[ConfigIssue]:
    release = ngc_release(image)
    if release is None or not image.startswith(f"{repository}:"):
        yield ConfigIssue(path, image, f"must be pinned to an NGC release: {repository}:YY.MM-py3 (never 'latest' or untagged)")


def _images(cfg: StackConfig) -> Iterator[ConfigIssue]:
    tensorrt_path, tensorrt_image = f"{_MODELS}.tensorrtImage", cfg.model_repository.tensorrt_image
    yield from _pinned_release(tensorrt_path, tensorrt_image, TENSORRT_IMAGE_REPOSITORY)
    for index, group in enumerate(cfg.serving):
        path, image = f"{_group_key(index)}.tritonImage", group.triton_image
        issues = list(_pinned_release(path, image, TRITON_IMAGE_REPOSITORY))
        yield from issues
        if issues:
            continue
        triton_release = ngc_release(image)
        if not bounds_http_input(image):
            yield ConfigIssue(
                path, image, f"release {triton_release} cannot bound request size (--http-max-input-size); use {MIN_RELEASE_HTTP_MAX_INPUT_SIZE} or later"
            )
        tensorrt_release = ngc_release(tensorrt_image)
        if tensorrt_release is not None and tensorrt_release != triton_release:
            yield ConfigIssue(
                tensorrt_path,
                tensorrt_image,
                f"TensorRT release {tensorrt_release} differs from the Triton release {triton_release} of {group.name}; "
                "plans only load in the TensorRT they were built with",
            )
        served = served_public_models(group)
        generation = sorted(model.name for model in served if model.kind == "generation")
        embedding = sorted(model.name for model in served if model.kind == "embedding")
        if generation and not serves_tensorrt_llm(image):
            yield ConfigIssue(path, image, f"serves {', '.join(generation)} (TensorRT-LLM): use {TRITON_IMAGE_REPOSITORY}:{triton_release}-{TRTLLM_FLAVOUR}py3")
        if embedding and serves_tensorrt_llm(image):
            yield ConfigIssue(
                path,
                image,
                f"the TensorRT-LLM image has only the TensorRT-LLM and Python backends, and {', '.join(embedding)} needs TensorRT: "
                f"serve it from a group on {TRITON_IMAGE_REPOSITORY}:{triton_release}-py3",
            )


def _serving_pods(cfg: StackConfig) -> Iterator[ConfigIssue]:
    for index, group in enumerate(cfg.serving):
        key = _group_key(index)
        if cfg.production and group.model_control_mode != "none":
            yield ConfigIssue(f"{key}.modelControlMode", group.model_control_mode, "production serves a fixed repository; allowed: none")
        yield from serving_pod_issues(config_key(key), group)
        if group.pre_stop_sleep_s <= cfg.load_balancer.deregistration_delay_s:
            yield ConfigIssue(
                f"{key}.preStopSleepS",
                group.pre_stop_sleep_s,
                f"must exceed loadBalancer.deregistrationDelayS ({cfg.load_balancer.deregistration_delay_s}) "
                "so the ALB stops sending before Triton stops accepting",
            )


def _serving_groups(cfg: StackConfig) -> Iterator[ConfigIssue]:
    """Distinct group names; every public model served by exactly one group, every listed model a public one."""
    catalog = public_models()
    names = [group.name for group in cfg.serving]
    for index, name in enumerate(names):
        if names.index(name) != index:
            yield ConfigIssue(f"{_group_key(index)}.name", name, "another group has this name (it is the group's namespace); names must be distinct")
    owners: dict[str, list[str]] = {}
    for index, group in enumerate(cfg.serving):
        if group.models is None and len(cfg.serving) > 1:
            yield ConfigIssue(f"{_group_key(index)}.models", None, "list this group's models: with several groups, each public model belongs to one")
        for i, model in enumerate(group.models or []):
            if model not in catalog:
                yield ConfigIssue(f"{_group_key(index)}.models[{i}]", model, f"not a public model the gpu build serves; allowed: {', '.join(sorted(catalog))}")
            owners.setdefault(model, []).append(group.name)
    for model, groups in owners.items():
        if len(groups) > 1:
            yield ConfigIssue(_SERVING, model, f"served by several groups ({', '.join(groups)}); the load balancer routes each model to one group")
    if all(group.models is not None for group in cfg.serving):
        for model in sorted(catalog.keys() - owners.keys()):
            yield ConfigIssue(_SERVING, model, "a public model no group serves; add it to one group's models", "warning")


def _generation_groups(cfg: StackConfig) -> Iterator[ConfigIssue]:
    """A group serving an LLM drains, deregisters and keeps connections open longer than its longest generation."""
    for index, group in enumerate(cfg.serving):
        if not serves_generation(group):
            continue
        key, longest = _group_key(index), group.max_generation_s
        if group.gpus_per_replica != 1:
            yield ConfigIssue(
                f"{key}.gpusPerReplica",
                group.gpus_per_replica,
                "must be 1 for a TensorRT-LLM group: an engine across GPUs needs one MPI rank per GPU (launch_triton_server.py), "
                "which these pods do not run; one replica per GPU scales the same model out instead",
            )
        gpus = {name: instance.gpu for name in group.instance_types or [] if (instance := INSTANCE_TYPES.get(name)) and instance.gpu}
        unsupported = [name for name, gpu in gpus.items() if gpu.compute_capability not in TENSORRT_LLM_COMPUTE_CAPABILITIES]
        if unsupported:
            yield ConfigIssue(
                f"{key}.instanceTypes",
                group.instance_types,
                f"{', '.join(unsupported)}: TensorRT-LLM supports compute capabilities {', '.join(TENSORRT_LLM_COMPUTE_CAPABILITIES)} only",
            )
        if group.pre_stop_sleep_s + group.exit_timeout_s < longest:
            yield ConfigIssue(
                f"{key}.exitTimeoutS",
                group.exit_timeout_s,
                f"preStopSleepS + exitTimeoutS ({group.pre_stop_sleep_s + group.exit_timeout_s} s) is shorter than maxGenerationS ({longest}); "
                "a generation in flight when the pod stops would be cut",
            )
        if cfg.load_balancer.idle_timeout_s <= longest:
            yield ConfigIssue(
                f"{_LB}.idleTimeoutS",
                cfg.load_balancer.idle_timeout_s,
                f"must exceed {group.name}'s maxGenerationS ({longest}): a non-streamed generation, and a stream waiting in queue or prefill, "
                "sends nothing until it has tokens",
            )


def _deploy_path(cfg: StackConfig) -> Iterator[ConfigIssue]:
    runner = cfg.ci_runner
    path = f"{PROJECT}:ciRunner"
    if runner is None:
        if not cfg.cluster.endpoint_public_access:
            yield ConfigIssue(path, None, "the API endpoint is private: without an in-VPC runner, pulumi up must run from inside the VPC", "warning")
        return
    yield from runner_issues(config_key(path), runner.github_repository, runner.connection_arn, runner.compute_type)


def _edge_and_spend(cfg: StackConfig) -> Iterator[ConfigIssue]:
    edge, budget, watch = cfg.load_balancer, cfg.budget, cfg.monitoring
    if cfg.production and edge.access_log_retention_days < PRODUCTION_MIN_ACCESS_LOG_DAYS:
        yield ConfigIssue(
            f"{_LB}.accessLogRetentionDays", edge.access_log_retention_days, f"production keeps access logs at least {PRODUCTION_MIN_ACCESS_LOG_DAYS} days"
        )
    yield from load_balancer_issues(config_key(_LB), edge.certificate_arn, edge.allowed_cidrs, cfg.region)
    yield from budget_issues(config_key(f"{PROJECT}:budget"), budget)
    yield from monitoring_issues(config_key(f"{PROJECT}:monitoring"), watch.retention_days, watch.storage_gib)


RULES: tuple[Rule, ...] = (
    _region_and_zones,
    _network,
    _endpoint,
    _kubernetes_support,
    _system_nodes,
    _retention,
    _gpu_pools,
    _group_instance_types,
    _fleet_covers_serving,
    _engines_cover_fleet,
    _images,
    _serving_pods,
    _serving_groups,
    _generation_groups,
    _edge_and_spend,
    _deploy_path,
)


# ---------------------------------------------------------------- parsing and errors


def _display_path(loc: tuple[int | str, ...]) -> str:
    head, *rest = loc
    path = str(head) if head == REGION_KEY else f"{PROJECT}:{head}"
    for part in rest:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _schema_at(loc: tuple[int | str, ...]) -> type[BaseModel]:
    """The schema class that owns the key at `loc` (used to list allowed keys)."""
    model: type[BaseModel] = StackConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = next(f for f in model.model_fields.values() if f.alias == part)
        annotation = field.annotation
        while get_origin(annotation) is not None:
            annotation = next(a for a in get_args(annotation) if a is not type(None))
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
    return model


def _issue_from_pydantic(error: Any) -> ConfigIssue:
    loc = tuple(error["loc"])
    path = _display_path(loc) if loc else PROJECT
    if error["type"] == "extra_forbidden":
        allowed = sorted(f.alias or name for name, f in _schema_at(loc[:-1]).model_fields.items())
        if not loc[:-1]:
            allowed = [k if k == REGION_KEY else f"{PROJECT}:{k}" for k in allowed]
        return ConfigIssue(path, error["input"], f"unknown key; allowed: {', '.join(allowed)}")
    if error["type"] == "missing":
        return ConfigIssue(path, None, "required key is missing")
    return ConfigIssue(path, error["input"], error["msg"].removeprefix("Value error, "))


def _stack_and_environment(cfg: StackConfig, stack: str) -> Iterator[ConfigIssue]:
    if stack != cfg.environment and not stack.startswith(f"{cfg.environment}-") and cfg.allow_environment_mismatch is None:
        yield ConfigIssue(
            f"{PROJECT}:environment",
            cfg.environment,
            f"the stack is {stack!r}: name it {cfg.environment} or {cfg.environment}-<suffix>, or state why with {PROJECT}:allowEnvironmentMismatch",
        )


def _unchanged(issue: ConfigIssue) -> ConfigIssue:
    return issue


def _legacy_serving_paths(issue: ConfigIssue) -> ConfigIssue:
    """Name keys as a `serving` object (one group) spells them: `serving.x`, not `serving[0].x`."""
    group = f"{_SERVING}[0]"
    return dataclasses.replace(issue, path=_SERVING + issue.path.removeprefix(group)) if issue.path.startswith(group) else issue


def parse_stack_config(raw: Mapping[str, Any], stack: str) -> tuple[StackConfig, list[ConfigIssue]]:
    """Validate a raw config tree (`aws:region` plus the project keys without their prefix) of the stack `stack`.

    Returns the config and its warnings; raises `ConfigError` with every error.
    """
    as_written = _legacy_serving_paths if isinstance(raw.get("serving"), dict) else _unchanged
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([as_written(_issue_from_pydantic(e)) for e in exc.errors()]) from None
    except RecursionError:
        raise ConfigError([ConfigIssue(PROJECT, "...", "a value is nested too deeply to be configuration")]) from None
    issues = [as_written(issue) for issue in (*(issue for rule in RULES for issue in rule(config)), *_stack_and_environment(config, stack))]
    errors = [issue for issue in issues if issue.severity == "error"]
    if errors:
        raise ConfigError(errors)
    return config, [issue for issue in issues if issue.severity == "warning"]


def _decode(value: Any) -> Any:
    """Pulumi hands structured config to programs as JSON text; scalars stay strings (so does text that only looks like JSON)."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            return value
    return value


def raw_config(pulumi_config: Mapping[str, Any]) -> dict[str, Any]:
    """Select and decode this stack's keys from a flat Pulumi config map."""
    raw = {key.removeprefix(f"{PROJECT}:"): _decode(v) for key, v in pulumi_config.items() if key.startswith(f"{PROJECT}:")}
    if REGION_KEY in pulumi_config:
        raw[REGION_KEY] = pulumi_config[REGION_KEY]
    return raw


def load_stack_config() -> StackConfig:
    """Read and validate the running stack's Pulumi config; warnings go to the Pulumi log.

    The Pulumi CLI hands a program its whole config as `PULUMI_CONFIG` (JSON), which
    `pulumi.runtime.get_config_env()` reads; the whole map is needed to reject unknown keys.
    """
    config, warnings = parse_stack_config(raw_config(pulumi.runtime.get_config_env()), pulumi.get_stack())
    for warning in warnings:
        pulumi.log.warn(f"config: {warning}")
    return config
