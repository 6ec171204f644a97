"""Monitoring: Prometheus + Grafana, DCGM GPU metrics, Triton scraping, the HPA's queue-time metric,
alert rules with runbooks, a provisioned dashboard, and CloudWatch alarms on the load balancer."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s
import pulumi_random as random

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.cluster_ref import ClusterRef
from gpu_inference_platform.components.constants import (
    APP_INSTANCE_LABEL,
    APP_NAME_LABEL,
    DCGM_EXPORTER_CHART,
    DEFAULT_STORAGE_CLASS,
    GPU_PRESENT_LABEL,
    GPU_TOLERATION,
    KARPENTER_METRICS_PORT_NAME,
    KARPENTER_NAMESPACE,
    KARPENTER_RELEASE,
    KUBE_PROMETHEUS_STACK_CHART,
    LLM_KV_CACHE_METRIC,
    LLM_WAITING_METRIC,
    PROMETHEUS_ADAPTER_CHART,
    QUEUE_TIME_METRIC,
    SYSTEM_NODE_SELECTOR,
    HelmChart,
)
from gpu_inference_platform.components.iam import policy_document, service_account_role
from gpu_inference_platform.components.pods import RESTRICTED_POD_SECURITY
from gpu_inference_platform.components.validation import ConfigIssue, KeyPath, args_key, check_args

DASHBOARD = Path(__file__).with_name("dashboards") / "triton-gpu.json"
PROMETHEUS_PORT = 9090
ALERT_TOPIC_RECEIVER = "alert-topic"
SILENT_ALERTS = ("Watchdog", "InfoInhibitor")
"""kube-prometheus-stack's always-firing heartbeat and inhibitor: routed to the `null` receiver on purpose."""
RUNBOOK_BASE = "https://github.com/your-org/gpu-inference-platform/blob/main/RUNBOOKS.md"
MAX_RETENTION_DAYS = 365
MIN_STORAGE_GIB = 10


def monitoring_issues(key: KeyPath, retention_days: int, storage_gib: int) -> Iterator[ConfigIssue]:
    """Prometheus retention in 1..365 days on at least 10 GiB."""
    if not 1 <= retention_days <= MAX_RETENTION_DAYS:
        yield ConfigIssue(key("retention_days"), retention_days, f"allowed: 1..{MAX_RETENTION_DAYS}")
    if storage_gib < MIN_STORAGE_GIB:
        yield ConfigIssue(key("storage_gib"), storage_gib, f"at least {MIN_STORAGE_GIB} GiB")


@dataclass(frozen=True)
class AlertThresholds:
    """Where alerts fire."""

    p99_latency_ms: float = 250
    """Triton p99 request latency (and the ALB's p99 response time)."""
    error_ratio: float = 0.01
    """Share of failed requests (Triton) and 5xx responses (ALB)."""
    queue_time_ms: float = 200
    """Average queue time per request."""
    gpu_busy_percent: float = 90
    """Average GPU utilisation of a node, for 15 minutes."""
    gpu_idle_percent: float = 5
    """A GPU node below this for 30 minutes is reported as idle spend."""
    gpu_memory_ratio: float = 0.9
    """GPU memory in use."""
    restarts_per_30m: int = 3
    """Triton container restarts in 30 minutes."""
    spot_interruptions_per_hour: int = 3
    """Spot interruption warnings in an hour."""
    ttft_p95_s: float = 2.0
    """p95 time to the first generated token of a generation model."""


@dataclass(frozen=True)
class MonitoredGroup:
    """One serving group: where its Triton runs and its target group at the load balancer."""

    namespace: str
    """Namespace of the group's pods (`TritonServer.namespace`)."""
    service: str
    """The group's Triton Service (`TritonServer.service_name`) the ServiceMonitor scrapes."""
    target_group_arn_suffix: pulumi.Input[str]
    """Target-group dimension of the group's unhealthy-targets alarm (`LoadBalancer.target_group_arn_suffixes`)."""


@dataclass(frozen=True)
class MonitoringArgs:
    """Settings and wiring of the monitoring stack."""

    cluster: ClusterRef
    """The cluster monitored (IRSA trust of Alertmanager's role)."""
    serving_groups: Sequence[MonitoredGroup]
    """The serving groups: each is scraped, alerted on and alarmed at the load balancer (the first keeps the unsuffixed names)."""
    alert_topic_arn: pulumi.Input[str]
    """SNS topic the CloudWatch alarms notify (`BudgetAlarms.topic_arn`)."""
    load_balancer_arn_suffix: pulumi.Input[str]
    """ALB dimension of the CloudWatch alarms (`LoadBalancer.arn_suffix`)."""
    retention_days: int = 15
    """Days Prometheus keeps samples (1..365)."""
    storage_gib: int = 50
    """Prometheus volume size (at least 10 GiB)."""
    storage_class_name: str = DEFAULT_STORAGE_CLASS
    """StorageClass of the Prometheus volume (`GpuCluster.storage_class_name`: encrypted gp3 from the EBS CSI driver)."""
    scrape_karpenter: bool = True
    """Scrape Karpenter's metrics (its interruption counters feed `SpotInterruptionRateHigh`)."""
    thresholds: AlertThresholds = AlertThresholds()
    """Where the alert rules and alarms fire."""

    def __post_init__(self) -> None:
        key = args_key("MonitoringArgs")
        issues = list(monitoring_issues(key, self.retention_days, self.storage_gib))
        if not self.serving_groups:
            issues.append(ConfigIssue(key("serving_groups"), [], "at least one serving group to watch"))
        check_args(self, issues)


def _rule(name: str, *, expr: str, wait: str, severity: str, summary: str, runbook: str) -> dict[str, Any]:
    return {
        "alert": name,
        "expr": expr,
        "for": wait,
        "labels": {"severity": severity},
        "annotations": {"summary": summary, "runbook": runbook, "runbook_url": f"{RUNBOOK_BASE}#{name.lower()}"},
    }


def namespace_matcher(namespaces: Sequence[str]) -> str:
    """PromQL label matcher of the serving namespaces."""
    return f'namespace="{namespaces[0]}"' if len(namespaces) == 1 else f'namespace=~"{"|".join(namespaces)}"'


def alert_rules(namespaces: Sequence[str], t: AlertThresholds) -> list[dict[str, Any]]:
    """Prometheus alert rules, each with a summary and a runbook."""
    served = namespace_matcher(namespaces)
    success = f"sum(rate(nv_inference_request_success{{{served}}}[5m])) by (model)"
    failure = f"sum(rate(nv_inference_request_failure{{{served}}}[5m])) by (model)"
    gpu_memory = "sum by (Hostname, gpu) (DCGM_FI_DEV_FB_USED) / sum by (Hostname, gpu) (DCGM_FI_DEV_FB_USED + DCGM_FI_DEV_FB_FREE)"
    return [
        _rule(
            "TritonP99LatencyHigh",
            expr=f'max(nv_inference_request_summary_us{{{served},quantile="0.99"}}) by (model) / 1000 > {t.p99_latency_ms:g}',
            wait="10m",
            severity="warning",
            summary=f"p99 latency above {t.p99_latency_ms:g} ms",
            runbook="Compare queue and compute time on the dashboard: queue -> scale out (HPA, GPU limit); compute -> engine or batch size.",
        ),
        _rule(
            "TritonErrorRatioHigh",
            expr=f"{failure} / clamp_min({failure} + {success}, 1) > {t.error_ratio:g}",
            wait="5m",
            severity="critical",
            summary=f"more than {t.error_ratio:.0%} of requests fail",
            runbook="Read the Triton logs of the failing pods; client mistakes show as 4xx at the ALB, server faults as 5xx.",
        ),
        _rule(
            "TritonQueueTimeHigh",
            expr=f"sum(rate(nv_inference_queue_duration_us{{{served}}}[5m])) by (model) / clamp_min({success}, 1) / 1000 > {t.queue_time_ms:g}",
            wait="10m",
            severity="warning",
            summary=f"requests wait more than {t.queue_time_ms:g} ms in queue",
            runbook="The spot tier should be scaling: check the HPA, the Karpenter logs and the fleet's GPU limit.",
        ),
        _rule(
            "TimeToFirstTokenP95High",
            expr=f"histogram_quantile(0.95, sum by (model, le) (rate(gip_llm_time_to_first_token_seconds_bucket{{{served}}}[5m]))) > {t.ttft_p95_s:g}",
            wait="10m",
            severity="warning",
            summary=f"p95 time to first token above {t.ttft_p95_s:g} s",
            runbook="Check waiting requests and KV-cache use on the dashboard: waiting -> the LLM group should be scaling (HPA, GPU limit); "
            "long prompts -> prefill dominates, lower the prompt limit or use a larger GPU family.",
        ),
        _rule(
            "TritonNotReady",
            expr=f'sum by (namespace) (kube_pod_status_ready{{{served},condition="true"}}) == 0',
            wait="5m",
            severity="critical",
            summary="no Triton pod of a serving group is ready",
            runbook="Check the init containers (model fetch, verify) and Triton's log; a model that fails to load stops the pod (exit on error).",
        ),
        _rule(
            "GpuUtilizationHigh",
            expr=f"avg by (Hostname) (DCGM_FI_DEV_GPU_UTIL) > {t.gpu_busy_percent:g}",
            wait="15m",
            severity="warning",
            summary=f"GPUs busier than {t.gpu_busy_percent:g}%",
            runbook="Capacity is saturated: raise the spot GPU limit or the HPA maximum, within budget.",
        ),
        _rule(
            "GpuIdle",
            expr=f"avg by (Hostname) (DCGM_FI_DEV_GPU_UTIL) < {t.gpu_idle_percent:g}",
            wait="30m",
            severity="info",
            summary=f"a GPU node under {t.gpu_idle_percent:g}% for 30 minutes",
            runbook="You pay for idle GPUs: lower the floor replicas or let consolidation remove the node.",
        ),
        _rule(
            "GpuMemoryHigh",
            expr=f"{gpu_memory} > {t.gpu_memory_ratio:g}",
            wait="10m",
            severity="warning",
            summary=f"GPU memory above {t.gpu_memory_ratio:.0%}",
            runbook="Lower the instance count or the max batch size; larger models need larger GPUs (see the catalog).",
        ),
        _rule(
            "GpuXidErrors",
            expr="max by (Hostname, gpu) (DCGM_FI_DEV_XID_ERRORS) > 0",
            wait="0m",
            severity="critical",
            summary="a GPU reported an XID error",
            runbook="Cordon and drain the node; Karpenter replaces it. Repeated XIDs on one type: open an AWS support case.",
        ),
        _rule(
            "TritonPodRestarts",
            expr=f"increase(kube_pod_container_status_restarts_total{{{served}}}[30m]) > {t.restarts_per_30m}",
            wait="0m",
            severity="warning",
            summary="Triton containers keep restarting",
            runbook="Read the previous container's log: OOM (raise memory, lower /dev/shm), failed model load, or liveness timeouts.",
        ),
        _rule(
            "SpotInterruptionRateHigh",
            expr=f'sum(increase(karpenter_interruption_received_messages_total{{message_type="spot_interrupted"}}[1h])) > {t.spot_interruptions_per_hour}',
            wait="0m",
            severity="warning",
            summary="spot capacity is being reclaimed often",
            runbook="Diversify instance types or zones in the spot pool, or raise the on-demand floor.",
        ),
    ]


def prometheus_url(name: str) -> str:
    """In-cluster URL of Prometheus in the kube-prometheus-stack release `name`, which sets `fullnameOverride: name`.

    The chart names the Service `<fullname>-prometheus` (templates/prometheus/service.yaml at 65.1.1);
    with the override, fullname is `name` truncated to 26 characters. The one definition of it.
    """
    return f"http://{name[:26].rstrip('-')}-prometheus.{name}.svc"


def alertmanager_config(topic_arn: str) -> dict[str, Any]:
    """Alertmanager routes every alert (but the heartbeat and inhibitor) to the stack's SNS alert topic, signed with IRSA credentials."""
    region = topic_arn.split(":")[3]
    return {
        "route": {
            "receiver": ALERT_TOPIC_RECEIVER,
            "group_by": ["alertname", "namespace"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [{"receiver": "null", "matchers": [f'alertname = "{alert}"']} for alert in SILENT_ALERTS],
        },
        "receivers": [
            {"name": "null"},
            {
                "name": ALERT_TOPIC_RECEIVER,
                "sns_configs": [
                    {
                        "topic_arn": topic_arn,
                        "sigv4": {"region": region},
                        "subject": "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}",
                        "send_resolved": True,
                    }
                ],
            },
        ],
    }


def _per_pod(series: str, name: str, query: str) -> dict[str, Any]:
    return {
        "seriesQuery": series,
        "resources": {"overrides": {"namespace": {"resource": "namespace"}, "pod": {"resource": "pod"}}},
        "name": {"matches": series.split("{", 1)[0], "as": name},
        "metricsQuery": query,
    }


def adapter_rules() -> list[dict[str, Any]]:
    """prometheus-adapter rules, per pod: average queue time per request (batch models); waiting requests and the share
    of KV-cache blocks in use (the front model's `gip_llm_*` and TensorRT-LLM's documented `nv_trt_llm_*` gauges)."""
    return [
        _per_pod(
            'nv_inference_queue_duration_us{namespace!="",pod!=""}',
            QUEUE_TIME_METRIC,
            "sum(rate(nv_inference_queue_duration_us{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>) / "
            "clamp_min(sum(rate(nv_inference_request_success{<<.LabelMatchers>>}[1m])) by (<<.GroupBy>>), 1)",
        ),
        # Every queue in the pod: the front model's own (gip_llm_requests_waiting, up to its max_queue_size) and the engine's
        # (TensorRT-LLM's "waiting" is active minus scheduled, tensorrtllm_backend model_instance_state.cc, so it stays near 0
        # while the front holds the queue). The front's series has no request_type label, which `=~"waiting|"` matches.
        _per_pod(
            'gip_llm_requests_waiting{namespace!="",pod!=""}',
            LLM_WAITING_METRIC,
            'sum({__name__=~"gip_llm_requests_waiting|nv_trt_llm_request_metrics",request_type=~"waiting|",<<.LabelMatchers>>}) by (<<.GroupBy>>)',
        ),
        _per_pod(
            'nv_trt_llm_kv_cache_block_metrics{namespace!="",pod!="",kv_cache_block_type="fraction"}',
            LLM_KV_CACHE_METRIC,
            'max(nv_trt_llm_kv_cache_block_metrics{<<.LabelMatchers>>,kv_cache_block_type="fraction"}) by (<<.GroupBy>>)',
        ),
    ]


class Monitoring(PlatformComponent):
    """kube-prometheus-stack, DCGM exporter, prometheus-adapter, Triton ServiceMonitor, rules, dashboard, ALB alarms."""

    grafana_admin_password: pulumi.Output[str]
    """Generated Grafana admin password (a Pulumi secret; `pulumi stack output --show-secrets`)."""
    namespace: str
    """Namespace of Prometheus, Alertmanager, Grafana and the adapter."""
    gpu_namespace: str
    """Namespace of the DCGM exporter (exempt from the restricted Pod Security level)."""
    prometheus: k8s.helm.v3.Release
    """The kube-prometheus-stack release (depend on it before adding rules or monitors of your own)."""

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("monitoring", "Monitoring", name, opts)
        namespace = k8s.core.v1.Namespace(name, metadata={"name": name, "labels": RESTRICTED_POD_SECURITY}, opts=self.child())
        gpu_namespace = k8s.core.v1.Namespace(
            f"{name}-gpu",
            metadata={
                "name": f"{name}-gpu",
                "labels": {"pod-security.kubernetes.io/enforce": "privileged", "pod-security.kubernetes.io/warn": "privileged"},
                "annotations": {"gpuinfra.io/pod-security-exemption": "DCGM exporter reads GPU device state from the host"},
            },
            opts=self.child(),
        )
        password = random.RandomPassword(f"{name}-grafana-admin", length=32, special=False, opts=self.child())
        in_namespace = self.child(depends_on=[namespace])
        secret: dict[str, Any] = {
            "metadata": {"name": f"{name}-grafana-admin", "namespace": name},
            "string_data": {"admin-user": "admin", "admin-password": password.result},
        }
        k8s.core.v1.Secret(f"{name}-grafana-admin", opts=in_namespace, **secret)
        alertmanager_role = self._alertmanager_role(name, args)
        stack = self._release(
            f"{name}-prometheus",
            KUBE_PROMETHEUS_STACK_CHART,
            name,
            {
                "fullnameOverride": name,
                "nodeExporter": {"enabled": False},
                "alertmanager": {
                    "enabled": True,
                    "serviceAccount": {"name": f"{name}-alertmanager", "annotations": {"eks.amazonaws.com/role-arn": alertmanager_role.arn}},
                    "config": pulumi.Output.from_input(args.alert_topic_arn).apply(alertmanager_config),
                    "alertmanagerSpec": {"nodeSelector": SYSTEM_NODE_SELECTOR},
                },
                "prometheus": {
                    "prometheusSpec": {
                        "retention": f"{args.retention_days}d",
                        "nodeSelector": SYSTEM_NODE_SELECTOR,
                        "serviceMonitorSelectorNilUsesHelmValues": False,
                        "ruleSelectorNilUsesHelmValues": False,
                        "storageSpec": {
                            "volumeClaimTemplate": {
                                "spec": {
                                    "storageClassName": args.storage_class_name,
                                    "accessModes": ["ReadWriteOnce"],
                                    "resources": {"requests": {"storage": f"{args.storage_gib}Gi"}},
                                }
                            }
                        },
                    }
                },
                "grafana": {
                    "admin": {"existingSecret": f"{name}-grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"},
                    "sidecar": {"dashboards": {"enabled": True, "label": "grafana_dashboard", "searchNamespace": "ALL"}},
                    "nodeSelector": SYSTEM_NODE_SELECTOR,
                },
            },
            in_namespace,
        )
        self._release(
            f"{name}-dcgm-exporter",
            DCGM_EXPORTER_CHART,
            f"{name}-gpu",
            {
                "tolerations": [GPU_TOLERATION],
                "nodeSelector": {GPU_PRESENT_LABEL: "true"},
                "serviceMonitor": {"enabled": True, "interval": "15s"},
            },
            self.child(depends_on=[gpu_namespace, stack]),
        )
        self._release(
            f"{name}-adapter",
            PROMETHEUS_ADAPTER_CHART,
            name,
            {
                "prometheus": {"url": prometheus_url(name), "port": PROMETHEUS_PORT},
                "rules": {"default": False, "custom": adapter_rules()},
            },
            self.child(depends_on=[stack]),
        )
        after_stack = self.child(depends_on=[stack])
        if args.scrape_karpenter:
            k8s.apiextensions.CustomResource(
                f"{name}-karpenter",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata={"name": f"{name}-karpenter", "namespace": KARPENTER_NAMESPACE},
                spec={
                    "selector": {"matchLabels": {APP_NAME_LABEL: KARPENTER_RELEASE, APP_INSTANCE_LABEL: KARPENTER_RELEASE}},
                    "endpoints": [{"port": KARPENTER_METRICS_PORT_NAME, "interval": "30s"}],
                },
                opts=after_stack,
            )
        for group in args.serving_groups:
            k8s.apiextensions.CustomResource(
                f"{name}-{group.service}",
                api_version="monitoring.coreos.com/v1",
                kind="ServiceMonitor",
                metadata={"name": f"{name}-{group.service}", "namespace": group.namespace},
                spec={
                    "selector": {"matchLabels": {APP_NAME_LABEL: "triton", APP_INSTANCE_LABEL: group.service}},
                    "endpoints": [{"port": "metrics", "interval": "15s"}],
                },
                opts=after_stack,
            )
        k8s.apiextensions.CustomResource(
            f"{name}-alerts",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={"name": f"{name}-alerts", "namespace": name},
            spec={"groups": [{"name": "gpu-inference", "rules": alert_rules([g.namespace for g in args.serving_groups], args.thresholds)}]},
            opts=after_stack,
        )
        dashboard: dict[str, Any] = {
            "metadata": {"name": f"{name}-dashboard", "namespace": name, "labels": {"grafana_dashboard": "1"}},
            "data": {"triton-gpu.json": DASHBOARD.read_text()},
        }
        k8s.core.v1.ConfigMap(f"{name}-dashboard", opts=in_namespace, **dashboard)
        self._load_balancer_alarms(name, args)
        self.grafana_admin_password = pulumi.Output.secret(password.result)
        self.prometheus = stack
        self.namespace = name
        self.gpu_namespace = f"{name}-gpu"
        self.register_outputs(self.public_outputs())

    def _alertmanager_role(self, name: str, args: MonitoringArgs) -> aws.iam.Role:
        """IRSA role of Alertmanager's service account: publish to the alert topic, nothing else."""
        role = service_account_role(
            f"{name}-alertmanager",
            oidc_provider_arn=args.cluster.oidc_provider_arn,
            oidc_issuer_url=args.cluster.oidc_issuer_url,
            namespace=name,
            service_account=f"{name}-alertmanager",
            opts=self.child(),
        )
        aws.iam.RolePolicy(
            f"{name}-alertmanager",
            role=role.id,
            policy=pulumi.Output.from_input(args.alert_topic_arn).apply(
                lambda arn: policy_document([{"Sid": "PublishAlerts", "Effect": "Allow", "Action": "sns:Publish", "Resource": arn}])
            ),
            opts=self.child(),
        )
        return role

    def _release(self, name: str, chart: HelmChart, namespace: str, values: dict[str, Any], opts: pulumi.ResourceOptions) -> k8s.helm.v3.Release:
        """A pinned Helm release."""
        return k8s.helm.v3.Release(
            name,
            name=name,
            chart=chart.chart,
            version=chart.version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=chart.repository),
            namespace=namespace,
            atomic=True,
            values=values,
            opts=opts,
        )

    def _load_balancer_alarms(self, name: str, args: MonitoringArgs) -> None:
        """5xx ratio, p99 response time and unhealthy targets on the ALB, to the alert topic (actions enabled)."""
        t = args.thresholds
        lb = {"LoadBalancer": args.load_balancer_arn_suffix}
        common: dict[str, Any] = {
            "actions_enabled": True,
            "alarm_actions": [args.alert_topic_arn],
            "ok_actions": [args.alert_topic_arn],
            "treat_missing_data": "notBreaching",
            "evaluation_periods": 5,
            "datapoints_to_alarm": 3,
        }

        def metric(metric_id: str, metric_name: str, stat: str) -> aws.cloudwatch.MetricAlarmMetricQueryArgs:
            return aws.cloudwatch.MetricAlarmMetricQueryArgs(
                id=metric_id,
                metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                    namespace="AWS/ApplicationELB", metric_name=metric_name, dimensions=lb, period=60, stat=stat
                ),
            )

        aws.cloudwatch.MetricAlarm(
            f"{name}-alb-5xx-ratio",
            alarm_description=f"More than {t.error_ratio:.0%} of requests end in a 5xx (target or load balancer)",
            comparison_operator="GreaterThanThreshold",
            threshold=t.error_ratio,
            metric_queries=[
                metric("target5xx", "HTTPCode_Target_5XX_Count", "Sum"),
                metric("elb5xx", "HTTPCode_ELB_5XX_Count", "Sum"),
                metric("requests", "RequestCount", "Sum"),
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="ratio", expression="(FILL(target5xx, 0) + FILL(elb5xx, 0)) / MAX([requests, 1])", return_data=True
                ),
            ],
            **common,
            opts=self.child(),
        )
        aws.cloudwatch.MetricAlarm(
            f"{name}-alb-p99",
            alarm_description=f"p99 target response time above {t.p99_latency_ms} ms",
            comparison_operator="GreaterThanThreshold",
            threshold=t.p99_latency_ms / 1000,
            namespace="AWS/ApplicationELB",
            metric_name="TargetResponseTime",
            extended_statistic="p99",
            period=60,
            dimensions=lb,
            **common,
            opts=self.child(),
        )
        for index, group in enumerate(args.serving_groups):
            aws.cloudwatch.MetricAlarm(
                f"{name}-alb-unhealthy" if index == 0 else f"{name}-alb-unhealthy-{group.service}",
                alarm_description=f"Triton targets of {group.service} failing /v2/health/ready",
                comparison_operator="GreaterThanThreshold",
                threshold=0,
                namespace="AWS/ApplicationELB",
                metric_name="UnHealthyHostCount",
                statistic="Maximum",
                period=60,
                dimensions={"LoadBalancer": args.load_balancer_arn_suffix, "TargetGroup": group.target_group_arn_suffix},
                **common,
                opts=self.child(),
            )


def dashboard_queries(dashboard: Path = DASHBOARD) -> list[str]:
    """Every PromQL expression of the provisioned dashboard."""
    return [target["expr"] for panel in json.loads(dashboard.read_text())["panels"] for target in panel["targets"]]
