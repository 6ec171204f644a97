"""Monitoring built alone: exact children and its outputs, and Args that refuse unusable retention and storage."""

from __future__ import annotations

from collections import Counter

from gpu_inference_platform import Monitoring, MonitoringArgs
from gpu_inference_platform.components.monitoring import MonitoredGroup
from tests.components.alone import CLUSTER, build_alone, children, errors

RELEASE = "kubernetes:helm.sh/v3:Release"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"


def _args(**changes: object) -> MonitoringArgs:
    settings: dict[str, object] = {
        "cluster": CLUSTER,
        "serving_groups": [MonitoredGroup("embed", "embed", "targetgroup/edge/0123")],
        "alert_topic_arn": TOPIC,
        "load_balancer_arn_suffix": "app/edge/0123",
    }
    return MonitoringArgs(**{**settings, **changes})  # type: ignore[arg-type]


def test_children_and_outputs() -> None:
    plan = build_alone(lambda: Monitoring("obs", _args()))
    assert children(plan, "obs") == Counter(
        [
            ("kubernetes:core/v1:Namespace", "obs"),
            ("kubernetes:core/v1:Namespace", "obs-gpu"),
            ("random:index/randomPassword:RandomPassword", "obs-grafana-admin"),
            ("kubernetes:core/v1:Secret", "obs-grafana-admin"),
            (RELEASE, "obs-prometheus"),
            (RELEASE, "obs-dcgm-exporter"),
            (RELEASE, "obs-adapter"),
            ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "obs-embed"),
            ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "obs-karpenter"),
            ("aws:iam/role:Role", "obs-alertmanager"),
            ("aws:iam/rolePolicy:RolePolicy", "obs-alertmanager"),
            ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "obs-alerts"),
            ("kubernetes:core/v1:ConfigMap", "obs-dashboard"),
            ("aws:cloudwatch/metricAlarm:MetricAlarm", "obs-alb-5xx-ratio"),
            ("aws:cloudwatch/metricAlarm:MetricAlarm", "obs-alb-p99"),
            ("aws:cloudwatch/metricAlarm:MetricAlarm", "obs-alb-unhealthy"),
        ]
    )
    prometheus = plan.get(RELEASE, "obs-prometheus").inputs["values"]["prometheus"]["prometheusSpec"]
    assert (prometheus["retention"], prometheus["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]) == ("15d", {"requests": {"storage": "50Gi"}})
    assert all(r.inputs["alarmActions"] == [TOPIC] for r in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"))
    (root,) = plan.roots()
    assert root.registered_outputs == {"grafana_admin_password": "[secret]", "namespace": "obs", "gpu_namespace": "obs-gpu"}


def test_args_refuse_unusable_retention_and_storage() -> None:
    assert errors(lambda: _args(retention_days=0, storage_gib=5, serving_groups=[])) == [
        "MonitoringArgs.retention_days = 0: allowed: 1..365",
        "MonitoringArgs.storage_gib = 5: at least 10 GiB",
        "MonitoringArgs.serving_groups = []: at least one serving group to watch",
    ]


def test_every_serving_group_is_scraped_alerted_on_and_alarmed() -> None:
    groups = [MonitoredGroup("embed", "embed", "targetgroup/edge/1"), MonitoredGroup("llm", "llm", "targetgroup/edge/2")]
    plan = build_alone(lambda: Monitoring("obs", _args(serving_groups=groups)))
    monitors = {
        r.name: (r.inputs["metadata"]["namespace"], r.inputs["spec"]["selector"]) for r in plan.of_type("kubernetes:monitoring.coreos.com/v1:ServiceMonitor")
    }
    assert monitors == {
        "obs-embed": ("embed", {"matchLabels": {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": "embed"}}),
        "obs-llm": ("llm", {"matchLabels": {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": "llm"}}),
        "obs-karpenter": ("kube-system", {"matchLabels": {"app.kubernetes.io/name": "karpenter", "app.kubernetes.io/instance": "karpenter"}}),
    }
    alarms = {r.name: r.inputs.get("dimensions", {}).get("TargetGroup") for r in plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm")}
    assert {name: group for name, group in alarms.items() if group} == {
        "obs-alb-unhealthy": "targetgroup/edge/1",
        "obs-alb-unhealthy-llm": "targetgroup/edge/2",
    }
    rules = {r["alert"]: r["expr"] for r in plan.get("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "obs-alerts").inputs["spec"]["groups"][0]["rules"]}
    assert rules["TimeToFirstTokenP95High"] == (
        'histogram_quantile(0.95, sum by (model, le) (rate(gip_llm_time_to_first_token_seconds_bucket{namespace=~"embed|llm"}[5m]))) > 2'
    )
    assert rules["TritonNotReady"] == 'sum by (namespace) (kube_pod_status_ready{namespace=~"embed|llm",condition="true"}) == 0'
