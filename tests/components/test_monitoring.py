"""Monitoring built alone: exact children and its outputs, and Args that refuse unusable retention and storage."""

from __future__ import annotations

from collections import Counter

from gpu_inference_platform import Monitoring, MonitoringArgs
from tests.components.alone import CLUSTER, build_alone, children, errors

RELEASE = "kubernetes:helm.sh/v3:Release"
TOPIC = "arn:aws:sns:us-east-1:123456789012:alerts"


def _args(**changes: object) -> MonitoringArgs:
    settings: dict[str, object] = {
        "cluster": CLUSTER,
        "triton_namespace": "embed",
        "triton_service": "embed",
        "alert_topic_arn": TOPIC,
        "load_balancer_arn_suffix": "app/edge/0123",
        "target_group_arn_suffix": "targetgroup/edge/0123",
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
            ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "obs-triton"),
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
    assert errors(lambda: _args(retention_days=0, storage_gib=5)) == [
        "MonitoringArgs.retention_days = 0: allowed: 1..365",
        "MonitoringArgs.storage_gib = 5: at least 10 GiB",
    ]
