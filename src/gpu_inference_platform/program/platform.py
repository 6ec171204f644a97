"""Composition of one environment. Stacks differ only by config values, never by code."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws

from gpu_inference_platform.components.base import tag_transformation
from gpu_inference_platform.components.budget_alarms import BudgetAlarms, BudgetAlarmsArgs
from gpu_inference_platform.components.ci_runner import CiRunner, CiRunnerArgs
from gpu_inference_platform.components.cluster_ref import ClusterRef
from gpu_inference_platform.components.gpu_cluster import GpuCluster, GpuClusterArgs, SystemNodeGroupArgs
from gpu_inference_platform.components.iam import AccountContext
from gpu_inference_platform.components.instances import INSTANCE_TYPES, instance_types_by_compute_capability
from gpu_inference_platform.components.load_balancer import LoadBalancer, LoadBalancerArgs, LoadBalancerBackend
from gpu_inference_platform.components.model_manifest import MANIFEST_NAME, Manifest, load_manifest
from gpu_inference_platform.components.model_repository import EngineBuildArgs, ModelRepository, ModelRepositoryArgs
from gpu_inference_platform.components.monitoring import AlertThresholds, MonitoredGroup, Monitoring, MonitoringArgs
from gpu_inference_platform.components.network import Network, NetworkArgs
from gpu_inference_platform.components.spot_fleet import CapacityType, GpuPoolArgs, SpotFleet, SpotFleetArgs
from gpu_inference_platform.components.tensorrt_engines import TENSORRT_LLM_COMPUTE_CAPABILITIES, load_engine_builds, load_llm_engine_builds
from gpu_inference_platform.components.triton_server import LlmScaling, TritonServer, TritonServerArgs
from gpu_inference_platform.ops.model_config import model_parameters
from gpu_inference_platform.program.config import (
    PROJECT,
    ConfigError,
    ConfigIssue,
    GpuPoolConfig,
    ServingGroupConfig,
    StackConfig,
    load_stack_config,
    served_public_models,
    serves_generation,
)

MONITORING = "monitoring"
"""Name of the Monitoring component, and so of its namespace (Triton lets Prometheus scrape from it)."""
SPOT_WEIGHT = 100
ON_DEMAND_WEIGHT = 10


@dataclass(frozen=True)
class Platform:
    """The components of one stack."""

    network: Network
    cluster: GpuCluster
    fleet: SpotFleet
    models: ModelRepository
    serving: dict[str, TritonServer]
    """Triton of each serving group, by group name (in config order)."""
    load_balancer: LoadBalancer
    budget: BudgetAlarms
    monitoring: Monitoring
    ci_runner: CiRunner | None


def stack_tags(config: StackConfig) -> dict[str, str]:
    """The cost-allocation tags every taggable AWS resource of this stack carries."""
    return {"project": PROJECT, "stack": pulumi.get_stack(), "environment": config.environment, "cost-center": config.cost_center}


def cluster_name() -> str:
    """Physical EKS cluster name: unique per project and stack."""
    return f"gip-{pulumi.get_stack()}"


def gpu_pools(config: StackConfig) -> list[GpuPoolArgs]:
    """The fleet's NodePools: spot first (higher weight), on-demand fallback when configured."""

    def pool(settings: GpuPoolConfig, capacity_type: CapacityType, weight: int, max_disrupted_nodes: str) -> GpuPoolArgs:
        return GpuPoolArgs(
            capacity_type=capacity_type,
            instance_types=settings.instance_types,
            availability_zones=config.pool_zones(settings),
            gpu_limit=settings.gpu_limit,
            weight=weight,
            termination_grace_period_s=settings.termination_grace_period_s,
            max_disrupted_nodes=max_disrupted_nodes,
        )

    pools = [pool(config.fleet.spot, "spot", SPOT_WEIGHT, "20%")]
    if config.fleet.on_demand is not None:
        pools.append(pool(config.fleet.on_demand, "on-demand", ON_DEMAND_WEIGHT, "1"))
    return pools


def built_model_repository(config: StackConfig) -> Manifest:
    """The manifest of the stack's built repository, checked against the engine targets it must carry."""
    settings = config.model_repository
    path = f"{PROJECT}:modelRepository.buildDir"
    build_dir = Path(settings.build_dir)
    rebuild = f"build it with: python -m scripts.build_models --target gpu --stack {pulumi.get_stack()} --out {settings.build_dir}"
    if not (build_dir / MANIFEST_NAME).is_file():
        raise ConfigError([ConfigIssue(path, settings.build_dir, f"no built repository ({MANIFEST_NAME}) there; {rebuild}")])
    manifest = load_manifest(build_dir)
    folders = {path.split("/", 1)[0] for path in manifest.files}
    for index, group in enumerate(config.serving):
        missing = [folder for model in served_public_models(group) for folder in model.folders if folder not in folders]
        if missing:
            raise ConfigError([ConfigIssue(f"{PROJECT}:serving[{index}].models", group.models, f"the build has no {', '.join(missing)}; {rebuild}")])
    built = sorted(set(manifest.engines.values()))
    if built != sorted(settings.engine_targets):
        raise ConfigError(
            [ConfigIssue(path, settings.build_dir, f"built with engines for {built}, but engineTargets is {sorted(settings.engine_targets)}; {rebuild}")]
        )
    issues = [*llm_engine_issues(config, manifest, build_dir), *llm_queue_issues(config, build_dir)]
    if issues:
        raise ConfigError(issues)
    return manifest


def llm_engine_issues(config: StackConfig, manifest: Manifest, build_dir: Path) -> Iterator[ConfigIssue]:
    """Each LLM group's GPUs against the build's TensorRT-LLM engines: an engine for every GPU family it can land on, and
    weights plus the configured KV cache within each instance type's GPU memory."""
    builds = load_llm_engine_builds(build_dir)
    for index, group in enumerate(config.serving):
        key = f"{PROJECT}:serving[{index}].instanceTypes"
        types = group.instance_types or sorted({t for pool in config.named_pools().values() for t in pool.instance_types})
        for model in (m for m in served_public_models(group) if m.kind == "generation"):
            engines = {manifest.engines[f]: builds[f] for f in builds if f in manifest.engines and f.split("/", 1)[0] in model.folders}
            for name in types:
                gpu = INSTANCE_TYPES[name].gpu
                if gpu is None:
                    continue
                if gpu.compute_capability not in engines:
                    supported = "" if gpu.compute_capability in TENSORRT_LLM_COMPUTE_CAPABILITIES else " (TensorRT-LLM does not support it)"
                    yield ConfigIssue(
                        key,
                        types,
                        f"{name} has compute capability {gpu.compute_capability}{supported} but {model.name} has no TensorRT-LLM engine for it; "
                        f"engines: {sorted(engines)}",
                    )
                    continue
                shortfall = engines[gpu.compute_capability].memory_shortfall(gpu.memory_gib_per_gpu * 1024**3)
                if shortfall:
                    yield ConfigIssue(key, types, f"{model.name} on {name} ({gpu.model}, {gpu.memory_gib_per_gpu} GiB): {shortfall}")


def llm_queue_issues(config: StackConfig, build_dir: Path) -> Iterator[ConfigIssue]:
    """A request the front model queues must get its whole answer within the ALB's idle timeout: it waits for up to
    ceil(max_queue_size / max_active_requests) batches of generations to finish, then generates its own, and sends nothing
    until its first token."""
    idle = config.load_balancer.idle_timeout_s
    for group in config.serving:
        for model in (m for m in served_public_models(group) if m.kind == "generation"):
            limits = model_parameters((build_dir / model.name / "config.pbtxt").read_text())
            active, queued = int(limits["max_active_requests"]), int(limits["max_queue_size"])
            batches = -(-queued // active)
            worst = (batches + 1) * group.max_generation_s
            if worst >= idle:
                yield ConfigIssue(
                    f"{PROJECT}:loadBalancer.idleTimeoutS",
                    idle,
                    f"{model.name} queues up to {queued} requests behind {active} active ones: the last waits {batches} x maxGenerationS "
                    f"({group.max_generation_s} s) and generates for up to {group.max_generation_s} s, {worst} s without a byte; "
                    f"allowed: above {worst}, or a smaller max_queue_size",
                )


def network_args(config: StackConfig, account: AccountContext) -> NetworkArgs:
    """The VPC of the stack."""
    net = config.network
    return NetworkArgs(
        cidr=net.cidr,
        availability_zones=net.availability_zones,
        private_subnet_cidrs=net.private_subnet_cidrs,
        public_subnet_cidrs=net.public_subnet_cidrs,
        nat_gateway_per_az=net.nat_gateways == "perAz",
        flow_log_retention_days=net.flow_log_retention_days,
        cluster_name=cluster_name(),
        account=account,
    )


def cluster_args(config: StackConfig, network: Network, account: AccountContext, ci_runner: CiRunner | None) -> GpuClusterArgs:
    """The EKS cluster in the network's private subnets; its API accepts the in-VPC runner."""
    settings, nodes = config.cluster, config.cluster.system_nodes
    return GpuClusterArgs(
        cluster_name=cluster_name(),
        kubernetes_version=settings.kubernetes_version,
        private_subnet_ids=network.private_subnet_ids,
        system_nodes=SystemNodeGroupArgs(nodes.instance_type, nodes.min_size, nodes.desired_size, nodes.max_size, nodes.root_volume_gib),
        account=account,
        log_retention_days=settings.log_retention_days,
        endpoint_public_access=settings.endpoint_public_access,
        public_access_cidrs=settings.public_access_cidrs,
        admin_principal_arns=settings.admin_principal_arns,
        viewer_principal_arns=settings.viewer_principal_arns,
        api_client_security_group_ids={"ci-runner": ci_runner.security_group_id} if ci_runner is not None else {},
    )


def fleet_args(config: StackConfig, cluster: ClusterRef, account: AccountContext) -> SpotFleetArgs:
    """Karpenter and the GPU pools."""
    return SpotFleetArgs(
        cluster=cluster,
        account=account,
        pools=gpu_pools(config),
        instance_tags={**stack_tags(config), "component": "spotfleet"},
        root_volume_gib=config.fleet.root_volume_gib,
        ami_alias=config.fleet.ami_alias,
        karpenter_version=config.fleet.karpenter_version,
    )


def model_repository_args(config: StackConfig, manifest: Manifest, cluster: ClusterRef, account: AccountContext) -> ModelRepositoryArgs:
    """The model bucket, the build it publishes, and engine Jobs for every GPU family of the fleet."""
    spec = config.model_repository
    return ModelRepositoryArgs(
        repository_dir=Path(spec.build_dir),
        manifest=manifest,
        account=account,
        noncurrent_version_days=spec.noncurrent_version_days,
        force_destroy=not config.production,
        engines=EngineBuildArgs(
            tensorrt_image=spec.tensorrt_image,
            tensorrt_llm_image=next((g.triton_image for g in config.serving if serves_generation(g)), None),
            profiles=load_engine_builds(Path(spec.build_dir)),
            instance_types_by_capability=instance_types_by_compute_capability(t for pool in gpu_pools(config) for t in pool.instance_types),
            cluster=cluster,
        ),
    )


def load_balancer_subnet_cidrs(config: StackConfig) -> list[str]:
    """The ranges the ALB's nodes live in: public subnets when internet-facing, private ones when internal."""
    private, public = config.network.subnet_plan()
    return public if config.load_balancer.scheme == "internet-facing" else private


def triton_args(config: StackConfig, group: ServingGroupConfig, models: ModelRepository, cluster: ClusterRef) -> TritonServerArgs:
    """One serving group's Triton on the published build: its models only, on its instance types, floor on on-demand (when the fleet
    has it) and an elastic tier on spot scaled on its signal (queue time for batch models, waiting requests and KV cache for LLMs)."""
    served = served_public_models(group)
    kinds = {model.kind for model in served}
    return TritonServerArgs(
        image=group.triton_image,
        model_bucket=models.bucket_name,
        model_prefix=models.prefix,
        model_tree_hash=models.tree_hash,
        model_read_policy_arn=models.read_policy_arn,
        cluster=cluster,
        floor_capacity_type="on-demand" if config.fleet.on_demand is not None else "spot",
        floor_replicas=group.floor_replicas,
        min_spot_replicas=group.min_spot_replicas,
        max_spot_replicas=group.max_spot_replicas,
        gpus_per_replica=group.gpus_per_replica,
        cpu_millicores=group.cpu_millicores,
        memory_gib=group.memory_gib,
        shm_mib=group.shm_mib,
        model_control_mode=group.model_control_mode,
        expected_model_load_s=group.expected_model_load_s,
        startup_probe_period_s=group.startup_probe_period_s,
        startup_probe_failure_threshold=group.startup_probe_failure_threshold,
        pre_stop_sleep_s=group.pre_stop_sleep_s,
        exit_timeout_s=group.exit_timeout_s,
        termination_grace_period_s=group.termination_grace_period_s,
        queue_time_target_us=group.queue_time_target_ms * 1000 if "embedding" in kinds else None,
        llm_scaling=LlmScaling(group.waiting_requests_target, group.kv_cache_used_target) if "generation" in kinds else None,
        engine_config_per_gpu="generation" in kinds,
        model_folders=[folder for model in served for folder in model.folders] if group.models is not None else [],
        instance_types=group.instance_types or [],
        client_cidrs=load_balancer_subnet_cidrs(config),
        metrics_namespace=MONITORING,
        max_input_bytes=max((model.max_request_bytes for model in served), default=None),
    )


def load_balancer_args(
    config: StackConfig, network: Network, cluster: ClusterRef, serving: Mapping[str, TritonServer], account: AccountContext
) -> LoadBalancerArgs:
    """The ALB in front of the serving groups: public subnets when internet-facing, private ones when internal; each public model
    routed to its group's target group (an LLM group drains for its longest generation); WAF from the model declarations."""
    edge = config.load_balancer
    backends = []
    for group in config.serving:
        served, triton = served_public_models(group), serving[group.name]
        generation = [model.name for model in served if model.kind == "generation"]
        backends.append(
            LoadBalancerBackend(
                name=group.name,
                namespace=triton.namespace,
                service=triton.service_name,
                models=[model.name for model in served if model.kind == "embedding"],
                generation_models=generation,
                deregistration_delay_s=group.max_generation_s if generation else None,
            )
        )
    return LoadBalancerArgs(
        cluster=cluster,
        vpc_id=network.vpc_id,
        vpc_cidr=config.network.cidr,
        subnet_ids=network.public_subnet_ids if edge.scheme == "internet-facing" else network.private_subnet_ids,
        account=account,
        region=config.region,
        certificate_arn=edge.certificate_arn,
        allowed_cidrs=edge.allowed_cidrs,
        backends=backends,
        max_request_bytes=max((model.max_request_bytes for group in config.serving for model in served_public_models(group)), default=0),
        requests_per_5_min_per_ip=edge.requests_per_5_min_per_ip,
        scheme=edge.scheme,
        deletion_protection=config.production,
        force_destroy_access_logs=not config.production,
        deregistration_delay_s=edge.deregistration_delay_s,
        idle_timeout_s=edge.idle_timeout_s,
        access_log_retention_days=edge.access_log_retention_days,
    )


def budget_args(config: StackConfig, fleet: SpotFleet, account: AccountContext) -> BudgetAlarmsArgs:
    """The stack's budget, counting spend tagged with this stack, stopping the fleet's scale-out at 100%."""
    budget = config.budget
    return BudgetAlarmsArgs(
        monthly_usd=budget.monthly_usd,
        cost_allocation_tag=("stack", pulumi.get_stack()),
        alert_emails=budget.alert_emails,
        capacity_controller_role_name=fleet.controller_role_name,
        account=account,
        actual_thresholds_percent=budget.actual_thresholds_percent,
        forecast_threshold_percent=budget.forecast_threshold_percent,
        anomaly_threshold_usd=budget.anomaly_threshold_usd,
        activate_cost_allocation_tag=not budget.tag_activated_by_payer,
    )


def monitoring_args(
    config: StackConfig, cluster: GpuCluster, serving: Mapping[str, TritonServer], load_balancer: LoadBalancer, budget: BudgetAlarms
) -> MonitoringArgs:
    """Metrics, alert rules and alarms of every serving group, alerting on the budget's topic."""
    watch = config.monitoring
    groups = [
        MonitoredGroup(namespace=triton.namespace, service=triton.service_name, target_group_arn_suffix=load_balancer.target_group_arn_suffixes[name])
        for name, triton in serving.items()
    ]
    queue_time_ms = 4 * min(group.queue_time_target_ms for group in config.serving)
    return MonitoringArgs(
        cluster=cluster.ref,
        serving_groups=groups,
        alert_topic_arn=budget.topic_arn,
        load_balancer_arn_suffix=load_balancer.arn_suffix,
        retention_days=watch.retention_days,
        storage_gib=watch.storage_gib,
        storage_class_name=cluster.storage_class_name,
        thresholds=AlertThresholds(
            p99_latency_ms=watch.p99_latency_ms, error_ratio=watch.error_ratio, queue_time_ms=queue_time_ms, ttft_p95_s=watch.ttft_p95_ms / 1000
        ),
    )


def ci_runner_project(stack: str) -> str:
    """Physical CodeBuild project of a stack's runner; the deploy workflow derives the same name from the stack."""
    return f"gip-{stack}-runner"


def ci_runner_args(config: StackConfig, network: Network, account: AccountContext) -> CiRunnerArgs | None:
    """The in-VPC runner that deploys this stack, when configured."""
    runner = config.ci_runner
    if runner is None:
        return None
    return CiRunnerArgs(
        project_name=ci_runner_project(pulumi.get_stack()),
        github_repository=runner.github_repository,
        connection_arn=runner.connection_arn,
        vpc_id=network.vpc_id,
        subnet_ids=network.private_subnet_ids,
        account=account,
        compute_type=runner.compute_type,
        log_retention_days=config.cluster.log_retention_days,
    )


def build_platform(config: StackConfig) -> Platform:
    """Create every component of the stack described by `config`."""
    manifest = built_model_repository(config)
    pulumi.runtime.register_stack_transformation(tag_transformation(stack_tags(config), enforce=True))
    account = AccountContext(
        account_id=aws.get_caller_identity_output().account_id,
        partition=aws.get_partition_output().partition,
        region=config.region,
    )
    network = Network("network", network_args(config, account))
    runner_args = ci_runner_args(config, network, account)
    ci_runner = CiRunner("ci-runner", runner_args) if runner_args is not None else None
    cluster = GpuCluster("gpu", cluster_args(config, network, account, ci_runner))
    in_cluster = pulumi.ResourceOptions(providers=[cluster.provider])
    fleet = SpotFleet("gpu-fleet", fleet_args(config, cluster.ref, account), in_cluster)
    models = ModelRepository(
        "models",
        model_repository_args(config, manifest, cluster.ref, account),
        pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[fleet])),
    )
    after_models = pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[fleet, models]))
    serving = {group.name: TritonServer(group.name, triton_args(config, group, models, cluster.ref), after_models) for group in config.serving}
    after_serving = pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=list(serving.values())))
    load_balancer = LoadBalancer("alb", load_balancer_args(config, network, cluster.ref, serving, account), after_serving)
    budget = BudgetAlarms("budget", budget_args(config, fleet, account))
    monitoring = Monitoring(MONITORING, monitoring_args(config, cluster, serving, load_balancer, budget), after_serving)
    return Platform(
        network=network,
        cluster=cluster,
        fleet=fleet,
        models=models,
        serving=serving,
        load_balancer=load_balancer,
        budget=budget,
        monitoring=monitoring,
        ci_runner=ci_runner,
    )


def main() -> None:
    """The Pulumi program: validate config, build the platform, export its handles."""
    platform = build_platform(load_stack_config())
    pulumi.export("vpcId", platform.network.vpc_id)
    pulumi.export("clusterName", platform.cluster.cluster_name)
    pulumi.export("clusterEndpoint", platform.cluster.endpoint)
    pulumi.export("oidcProviderArn", platform.cluster.oidc_provider_arn)
    pulumi.export("kubeconfig", platform.cluster.kubeconfig)
    pulumi.export("fleetComputeCapabilities", platform.fleet.compute_capabilities)
    pulumi.export("fleetMaxGpus", platform.fleet.max_gpus)
    pulumi.export("fleetMaxGpuHoursPerMonth", platform.fleet.max_gpu_hours_per_month)
    pulumi.export("modelTreeHash", platform.models.tree_hash)
    pulumi.export("modelBucket", platform.models.bucket_name)
    pulumi.export("modelPrefix", platform.models.prefix)
    pulumi.export("modelReadPolicyArn", platform.models.read_policy_arn)
    pulumi.export("tritonNamespace", next(iter(platform.serving.values())).namespace)
    pulumi.export("servingNamespaces", {name: triton.namespace for name, triton in platform.serving.items()})
    pulumi.export("endpoint", platform.load_balancer.dns_name)
    pulumi.export("alertTopicArn", platform.budget.topic_arn)
    pulumi.export("grafanaAdminPassword", platform.monitoring.grafana_admin_password)
    if platform.ci_runner is not None:
        pulumi.export("ciRunnerRunsOn", platform.ci_runner.runs_on)
