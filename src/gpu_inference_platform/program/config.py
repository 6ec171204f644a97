"""The stack configuration: the ONLY place that reads Pulumi config.

`load_stack_config()` reads every key of the project namespace plus `aws:region`,
validates the whole tree once and returns a frozen `StackConfig`. Every problem,
whether a wrong type, an unknown key or a broken cross-field rule, becomes one line
naming the key path, the bad value and what is allowed; all lines are raised together
as a `ConfigError`, which Pulumi prints without a traceback.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping
from typing import Annotated, Any, Literal, get_args, get_origin

import pulumi
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from gpu_inference_platform.components.budget_alarms import BudgetAlarmsArgs, budget_issues
from gpu_inference_platform.components.ci_runner import CiRunnerArgs, runner_issues
from gpu_inference_platform.components.gpu_cluster import (
    SUPPORTED_KUBERNETES_VERSIONS,
    GpuClusterArgs,
    SystemNodeGroupArgs,
    endpoint_issues,
    system_node_issues,
)
from gpu_inference_platform.components.instances import INSTANCE_TYPES, instance_types_by_compute_capability
from gpu_inference_platform.components.load_balancer import LoadBalancerArgs, load_balancer_issues
from gpu_inference_platform.components.model_repository import ModelRepositoryArgs
from gpu_inference_platform.components.monitoring import MonitoringArgs, monitoring_issues
from gpu_inference_platform.components.network import MIN_AVAILABILITY_ZONES, NetworkArgs, carve_subnets, network_issues
from gpu_inference_platform.components.spot_fleet import CapacityType, SpotFleetArgs, pool_issues
from gpu_inference_platform.components.tensorrt_engines import (
    MIN_RELEASE_HTTP_MAX_INPUT_SIZE,
    TENSORRT_IMAGE_REPOSITORY,
    TRITON_IMAGE_REPOSITORY,
    bounds_http_input,
    ngc_release,
)
from gpu_inference_platform.components.triton_server import TritonServerArgs, serving_pod_issues
from gpu_inference_platform.components.validation import ConfigError, ConfigIssue, config_key, default_of, parse_cidr
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

    kubernetes_version: Literal[SUPPORTED_KUBERNETES_VERSIONS]  # type: ignore[valid-type]
    endpoint_public_access: bool = default_of(GpuClusterArgs, "endpoint_public_access")
    public_access_cidrs: list[Cidr] = []
    admin_principal_arns: list[IamPrincipalArn] = []
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


class ServingConfig(_Schema):
    """The Triton deployment: image and how many replicas the fleet must be able to host (defaults: `TritonServerArgs`)."""

    triton_image: str
    """Pinned `nvcr.io/nvidia/tritonserver:YY.MM-py3`; engines are built with the same YY.MM."""
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
    """Average queue time per request the spot HPA holds."""


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


class MonitoringConfig(_Schema):
    """Prometheus retention and storage; where latency and errors alert."""

    retention_days: int = Field(default=default_of(MonitoringArgs, "retention_days"), ge=1, le=365)
    storage_gib: int = Field(default=default_of(MonitoringArgs, "storage_gib"), ge=10, le=2000)
    p99_latency_ms: Annotated[float, AfterValidator(_finite)] = Field(default=250, gt=0)
    error_ratio: float = Field(default=0.01, gt=0, lt=1)


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
    serving: ServingConfig
    model_repository: ModelRepositoryConfig
    load_balancer: LoadBalancerConfig
    budget: BudgetConfig
    monitoring: MonitoringConfig
    ci_runner: CiRunnerConfig | None = None
    allow_environment_mismatch: Annotated[str, Field(min_length=10)] | None = None
    """Why this stack's name does not start with its environment (otherwise an error: a copied file must not deploy prod as dev)."""

    @property
    def production(self) -> bool:
        """Production stacks get the strict rules (3 AZs, private endpoint, long retention)."""
        return self.environment == "prod"

    def pool_zones(self, pool: GpuPoolConfig) -> list[str]:
        """The zones a GPU pool launches into."""
        return pool.availability_zones or self.network.availability_zones

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


def _system_nodes(cfg: StackConfig) -> Iterator[ConfigIssue]:
    nodes = cfg.cluster.system_nodes
    yield from system_node_issues(config_key(f"{_CLUSTER}.systemNodes"), nodes.instance_type, nodes.min_size, nodes.desired_size, nodes.max_size)


def _retention(cfg: StackConfig) -> Iterator[ConfigIssue]:
    if not cfg.production:
        return
    for path, days in ((f"{_NET}.flowLogRetentionDays", cfg.network.flow_log_retention_days), (f"{_CLUSTER}.logRetentionDays", cfg.cluster.log_retention_days)):
        if days < PRODUCTION_MIN_RETENTION_DAYS:
            yield ConfigIssue(path, days, f"production keeps logs at least {PRODUCTION_MIN_RETENTION_DAYS} days")


def _gpu_pools(cfg: StackConfig) -> Iterator[ConfigIssue]:
    gpus_per_replica = cfg.serving.gpus_per_replica
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
        for i, name in enumerate(pool.instance_types):
            instance = INSTANCE_TYPES.get(name)
            if instance is not None and instance.gpu is not None and instance.gpu.count < gpus_per_replica:
                yield ConfigIssue(
                    f"{path}.instanceTypes[{i}]", name, f"has {instance.gpu.count} GPU(s), fewer than serving.gpusPerReplica ({gpus_per_replica})"
                )
        for i, zone in enumerate(pool.availability_zones or []):
            if zone not in cfg.network.availability_zones:
                yield ConfigIssue(f"{path}.availabilityZones[{i}]", zone, f"not a zone of the network; allowed: {', '.join(cfg.network.availability_zones)}")


def _fleet_covers_serving(cfg: StackConfig) -> Iterator[ConfigIssue]:
    serving = cfg.serving
    if cfg.production and serving.floor_replicas + serving.min_spot_replicas < PRODUCTION_MIN_SERVING_REPLICAS:
        yield ConfigIssue(
            f"{_SERVING}.floorReplicas",
            serving.floor_replicas,
            f"production needs at least {PRODUCTION_MIN_SERVING_REPLICAS} replicas in total (floorReplicas + minSpotReplicas)",
        )
    pairs = math.ceil(len(cfg.network.availability_zones) / 2)
    if cfg.production and (cfg.fleet.on_demand is None or serving.floor_replicas < pairs):
        yield ConfigIssue(
            f"{_SERVING}.floorReplicas",
            serving.floor_replicas,
            f"production needs an on-demand floor of at least 1 replica per pair of zones ({pairs} for {len(cfg.network.availability_zones)} zones) "
            "in an onDemand pool: spot can be reclaimed everywhere at once",
        )
    floor_key, floor_pool = ("onDemand", cfg.fleet.on_demand) if cfg.fleet.on_demand else ("spot", cfg.fleet.spot)
    floor_gpus = serving.floor_replicas * serving.gpus_per_replica
    if floor_pool.gpu_limit < floor_gpus:
        yield ConfigIssue(
            f"{_FLEET}.{floor_key}.gpuLimit",
            floor_pool.gpu_limit,
            f"below the serving floor ({serving.floor_replicas} replicas x {serving.gpus_per_replica} GPU = {floor_gpus})",
        )
    peak_gpus = (serving.floor_replicas + serving.max_spot_replicas) * serving.gpus_per_replica
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


def _images(cfg: StackConfig) -> Iterator[ConfigIssue]:
    images = {
        f"{_SERVING}.tritonImage": (cfg.serving.triton_image, TRITON_IMAGE_REPOSITORY),
        f"{_MODELS}.tensorrtImage": (cfg.model_repository.tensorrt_image, TENSORRT_IMAGE_REPOSITORY),
    }
    releases = {}
    for path, (image, repository) in images.items():
        release = ngc_release(image)
        if release is None or not image.startswith(f"{repository}:"):
            yield ConfigIssue(path, image, f"must be pinned to an NGC release: {repository}:YY.MM-py3 (never 'latest' or untagged)")
        else:
            releases[path] = release
    triton_release = releases.get(f"{_SERVING}.tritonImage")
    if triton_release is not None and not bounds_http_input(cfg.serving.triton_image):
        yield ConfigIssue(
            f"{_SERVING}.tritonImage",
            cfg.serving.triton_image,
            f"release {triton_release} cannot bound request size (--http-max-input-size); use {MIN_RELEASE_HTTP_MAX_INPUT_SIZE} or later",
        )
    if len(set(releases.values())) > 1:
        triton, tensorrt = releases.values()
        yield ConfigIssue(
            f"{_MODELS}.tensorrtImage",
            cfg.model_repository.tensorrt_image,
            f"TensorRT release {tensorrt} differs from the Triton release {triton}; plans only load in the TensorRT they were built with",
        )


def _serving_pods(cfg: StackConfig) -> Iterator[ConfigIssue]:
    serving = cfg.serving
    if cfg.production and serving.model_control_mode != "none":
        yield ConfigIssue(f"{_SERVING}.modelControlMode", serving.model_control_mode, "production serves a fixed repository; allowed: none")
    yield from serving_pod_issues(config_key(_SERVING), serving)
    if serving.pre_stop_sleep_s <= cfg.load_balancer.deregistration_delay_s:
        yield ConfigIssue(
            f"{_SERVING}.preStopSleepS",
            serving.pre_stop_sleep_s,
            f"must exceed loadBalancer.deregistrationDelayS ({cfg.load_balancer.deregistration_delay_s}) "
            "so the ALB stops sending before Triton stops accepting",
        )
    for key, pool in cfg.named_pools().items():
        for i, name in enumerate(pool.instance_types):
            instance = INSTANCE_TYPES.get(name)
            if instance is None:
                continue
            if serving.cpu_millicores > instance.vcpus * 1000 - NODE_RESERVED_MILLICORES or serving.memory_gib > instance.memory_gib - NODE_RESERVED_GIB:
                yield ConfigIssue(
                    f"{_FLEET}.{key}.instanceTypes[{i}]",
                    name,
                    f"a replica ({serving.cpu_millicores}m CPU, {serving.memory_gib} GiB) does not fit its {instance.vcpus} vCPU / {instance.memory_gib} GiB",
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
    _system_nodes,
    _retention,
    _gpu_pools,
    _fleet_covers_serving,
    _engines_cover_fleet,
    _images,
    _serving_pods,
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


def parse_stack_config(raw: Mapping[str, Any], stack: str) -> tuple[StackConfig, list[ConfigIssue]]:
    """Validate a raw config tree (`aws:region` plus the project keys without their prefix) of the stack `stack`.

    Returns the config and its warnings; raises `ConfigError` with every error.
    """
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError([_issue_from_pydantic(e) for e in exc.errors()]) from None
    except RecursionError:
        raise ConfigError([ConfigIssue(PROJECT, "...", "a value is nested too deeply to be configuration")]) from None
    issues = [*(issue for rule in RULES for issue in rule(config)), *_stack_and_environment(config, stack)]
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
