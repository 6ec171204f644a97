"""Monitoring component: exact resources, secrets, GPU exemption, the HPA metric, alert rules, alarms, dashboard."""

from __future__ import annotations

import json
import re
import urllib.request
from collections import Counter
from pathlib import Path

from gpu_inference_platform.components.monitoring import dashboard_queries
from gpu_inference_platform.components.triton_server import QUEUE_TIME_METRIC
from gpu_inference_platform.ops.serving.generation_client import generate
from gpu_inference_platform.ops.serving.load import embed
from gpu_inference_platform.ops.serving.local_triton import LocalTriton
from gpu_inference_platform.preview.harness import Plan
from tests.conftest import ROOT

DCGM_FIELDS = {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE", "DCGM_FI_DEV_XID_ERRORS"}
"""dcgm-exporter default counters used here (default-counters.csv of the exporter)."""
TENSORRT_LLM_METRICS = {"nv_trt_llm_request_metrics", "nv_trt_llm_kv_cache_block_metrics"}
"""TensorRT-LLM backend gauges the dashboard and the LLM HPA use, as documented in triton-inference-server/tensorrtllm_backend
README.md at r25.06 (the Triton release the stacks pin): request_type waiting/active/..., kv_cache_block_type fraction/used/free/max."""
KUBE_STATE_METRICS = {"kube_deployment_status_replicas_available", "kube_pod_status_ready", "kube_pod_container_status_restarts_total"}
RELEASE = "kubernetes:helm.sh/v3:Release"


def test_children_are_exact(plans: dict[str, Plan]) -> None:
    assert Counter((r.type, r.name) for r in plans["prod"].children("monitoring")) == Counter(
        [
            ("kubernetes:core/v1:Namespace", "monitoring"),
            ("kubernetes:core/v1:Namespace", "monitoring-gpu"),
            ("random:index/randomPassword:RandomPassword", "monitoring-grafana-admin"),
            ("kubernetes:core/v1:Secret", "monitoring-grafana-admin"),
            (RELEASE, "monitoring-prometheus"),
            (RELEASE, "monitoring-dcgm-exporter"),
            (RELEASE, "monitoring-adapter"),
            ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-triton"),
            ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-karpenter"),
            ("aws:iam/role:Role", "monitoring-alertmanager"),
            ("aws:iam/rolePolicy:RolePolicy", "monitoring-alertmanager"),
            ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-alerts"),
            ("kubernetes:core/v1:ConfigMap", "monitoring-dashboard"),
            ("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-alb-5xx-ratio"),
            ("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-alb-p99"),
            ("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-alb-unhealthy"),
            ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-llm"),
            ("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-alb-unhealthy-llm"),
        ]
    )


def test_grafana_password_is_a_generated_secret(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    string_data = plan.get("kubernetes:core/v1:Secret", "monitoring-grafana-admin").inputs["stringData"]
    assert string_data == {"admin-user": "[secret]", "admin-password": "[secret]"}, "the generated password never appears in the plan"
    grafana = plan.get(RELEASE, "monitoring-prometheus").inputs["values"]["grafana"]
    assert grafana["admin"] == {"existingSecret": "monitoring-grafana-admin", "userKey": "admin-user", "passwordKey": "admin-password"}
    assert plan.outputs["grafanaAdminPassword"] == "[secret]"
    assert plan.get("random:index/randomPassword:RandomPassword", "monitoring-grafana-admin").inputs["length"] == 32


def test_charts_are_pinned_and_retention_follows_the_stack(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    versions = {r.name: (r.inputs["chart"], r.inputs["version"]) for r in plan.children("monitoring") if r.type == RELEASE}
    assert versions == {
        "monitoring-prometheus": ("kube-prometheus-stack", "65.1.1"),
        "monitoring-dcgm-exporter": ("dcgm-exporter", "3.5.0"),
        "monitoring-adapter": ("prometheus-adapter", "4.11.0"),
    }
    spec = plan.get(RELEASE, "monitoring-prometheus").inputs["values"]["prometheus"]["prometheusSpec"]
    assert (spec["retention"], spec["storageSpec"]["volumeClaimTemplate"]["spec"]["resources"]["requests"]["storage"]) == ("30d", "200Gi")
    assert plans["dev"].get(RELEASE, "monitoring-prometheus").inputs["values"]["prometheus"]["prometheusSpec"]["retention"] == "7d"


def test_only_the_gpu_exporter_namespace_is_exempt_from_restricted(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    assert plan.get("kubernetes:core/v1:Namespace", "monitoring").inputs["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    gpu = plan.get("kubernetes:core/v1:Namespace", "monitoring-gpu").inputs["metadata"]
    assert gpu["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"
    assert gpu["annotations"]["gpuinfra.io/pod-security-exemption"]
    assert plan.get(RELEASE, "monitoring-dcgm-exporter").inputs["namespace"] == "monitoring-gpu"


def test_adapter_serves_the_metric_the_spot_hpa_scales_on(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    rules = {r["name"]["as"]: r for r in plan.get(RELEASE, "monitoring-adapter").inputs["values"]["rules"]["custom"]}
    assert set(rules) == {QUEUE_TIME_METRIC, "llm_requests_waiting", "trtllm_kv_cache_used_ratio"}
    (metric,) = plan.get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "triton-spot").inputs["spec"]["metrics"]
    assert metric["pods"]["metric"]["name"] == QUEUE_TIME_METRIC, "the embedder group scales on queue time alone"
    queue = rules[QUEUE_TIME_METRIC]["metricsQuery"]
    assert "nv_inference_queue_duration_us" in queue and "nv_inference_request_success" in queue
    assert rules["llm_requests_waiting"]["metricsQuery"] == (
        'sum({__name__=~"gip_llm_requests_waiting|nv_trt_llm_request_metrics",request_type=~"waiting|",<<.LabelMatchers>>}) by (<<.GroupBy>>)'
    ), "every queue in the pod: the front model's and the engine's"
    assert rules["trtllm_kv_cache_used_ratio"]["seriesQuery"] == ('nv_trt_llm_kv_cache_block_metrics{namespace!="",pod!="",kv_cache_block_type="fraction"}')


def test_triton_metrics_are_scraped(plans: dict[str, Plan]) -> None:
    monitor = plans["prod"].get("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-triton").inputs
    service = plans["prod"].get("kubernetes:core/v1:Service", "triton").inputs
    assert monitor["metadata"]["namespace"] == "triton"
    assert monitor["spec"]["selector"]["matchLabels"] == service["metadata"]["labels"]
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "interval": "15s"}]


def test_alert_rules_cover_the_failure_modes_with_runbooks(plans: dict[str, Plan]) -> None:
    (group,) = plans["prod"].get("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-alerts").inputs["spec"]["groups"]
    rules = {r["alert"]: r for r in group["rules"]}
    assert set(rules) == {
        "TritonP99LatencyHigh",
        "TritonErrorRatioHigh",
        "TritonQueueTimeHigh",
        "TritonNotReady",
        "GpuUtilizationHigh",
        "GpuIdle",
        "GpuMemoryHigh",
        "GpuXidErrors",
        "TritonPodRestarts",
        "SpotInterruptionRateHigh",
        "TimeToFirstTokenP95High",
    }
    assert all(r["annotations"]["runbook"] and r["annotations"]["summary"] for r in rules.values())
    assert rules["TritonP99LatencyHigh"]["expr"] == 'max(nv_inference_request_summary_us{namespace=~"triton|llm",quantile="0.99"}) by (model) / 1000 > 250'
    assert rules["GpuXidErrors"]["labels"] == {"severity": "critical"}


def test_alb_alarms_notify_the_alert_topic(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    topic = plan.get("aws:sns/topic:Topic", "budget-alerts").outputs["arn"]
    alb = plan.get("aws:lb/loadBalancer:LoadBalancer", "alb").outputs["arnSuffix"]
    for name in ("monitoring-alb-5xx-ratio", "monitoring-alb-p99", "monitoring-alb-unhealthy"):
        alarm = plan.get("aws:cloudwatch/metricAlarm:MetricAlarm", name).inputs
        assert (alarm["actionsEnabled"], alarm["alarmActions"], alarm["okActions"]) == (True, [topic], [topic]), name
    p99 = plan.get("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-alb-p99").inputs
    assert (p99["extendedStatistic"], p99["threshold"], p99["dimensions"]) == ("p99", 0.25, {"LoadBalancer": alb})
    ratio = plan.get("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-alb-5xx-ratio").inputs
    assert [q["id"] for q in ratio["metricQueries"]] == ["target5xx", "elb5xx", "requests", "ratio"]
    assert ratio["metricQueries"][3]["expression"] == "(FILL(target5xx, 0) + FILL(elb5xx, 0)) / MAX([requests, 1])"


def test_every_dashboard_metric_is_exported_by_triton_dcgm_or_kube_state_metrics() -> None:
    with LocalTriton(ROOT / "build/models/cpu") as triton:
        embed(triton.url, ["warm the counters"])
        generate(triton.url, "Say hi.", max_tokens=2)
        with urllib.request.urlopen(triton.metrics_url, timeout=5) as response:
            triton_metrics = set(re.findall(r"^((?:nv|gip)_[a-z_]+)", response.read().decode(), re.MULTILINE))
    queries = dashboard_queries()
    assert len(queries) == 18
    named = {name for query in queries for name in re.findall(r"\b((?:nv|gip)_[a-z_]+|DCGM_FI_[A-Z_]+|kube_[a-z_]+)\b", query)}
    assert {"gip_llm_generated_tokens_total", "gip_llm_time_to_first_token_seconds_bucket", "nv_trt_llm_request_metrics"} <= named
    known = triton_metrics | DCGM_FIELDS | KUBE_STATE_METRICS | TENSORRT_LLM_METRICS
    assert named <= known, named - known


def test_dashboard_is_provisioned_from_the_repository_file(plans: dict[str, Plan]) -> None:
    config_map = plans["prod"].get("kubernetes:core/v1:ConfigMap", "monitoring-dashboard").inputs
    assert config_map["metadata"]["labels"] == {"grafana_dashboard": "1"}
    assert config_map["data"]["triton-gpu.json"] == Path(ROOT / "src/gpu_inference_platform/components/dashboards/triton-gpu.json").read_text()


def test_alerts_reach_the_alert_topic_through_alertmanager(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    topic = plan.get("aws:sns/topic:Topic", "budget-alerts").outputs["arn"]
    alertmanager = plan.get(RELEASE, "monitoring-prometheus").inputs["values"]["alertmanager"]
    config = alertmanager["config"]
    assert config["route"]["receiver"] == "alert-topic"
    assert [r["matchers"] for r in config["route"]["routes"]] == [['alertname = "Watchdog"'], ['alertname = "InfoInhibitor"']]
    (sns,) = next(r for r in config["receivers"] if r["name"] == "alert-topic")["sns_configs"]
    assert (sns["topic_arn"], sns["sigv4"], sns["send_resolved"]) == (topic, {"region": "us-west-2"}, True)
    role = plan.get("aws:iam/role:Role", "monitoring-alertmanager")
    assert alertmanager["serviceAccount"] == {"name": "monitoring-alertmanager", "annotations": {"eks.amazonaws.com/role-arn": role.outputs["arn"]}}
    assert "system:serviceaccount:monitoring:monitoring-alertmanager" in role.inputs["assumeRolePolicy"]
    (grant,) = json.loads(plan.get("aws:iam/rolePolicy:RolePolicy", "monitoring-alertmanager").inputs["policy"])["Statement"]
    assert (grant["Action"], grant["Resource"]) == ("sns:Publish", topic)


def test_chart_naming_is_ours_and_the_adapter_finds_prometheus(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    values = plan.get(RELEASE, "monitoring-prometheus").inputs["values"]
    assert values["fullnameOverride"] == "monitoring"
    assert values["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]["storageClassName"] == "gp3"
    adapter = plan.get(RELEASE, "monitoring-adapter").inputs["values"]["prometheus"]
    assert adapter == {"url": "http://monitoring-prometheus.monitoring.svc", "port": 9090}


def test_karpenter_is_scraped(plans: dict[str, Plan]) -> None:
    monitor = plans["prod"].get("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-karpenter").inputs
    assert monitor["metadata"]["namespace"] == "kube-system"
    assert monitor["spec"]["selector"] == {"matchLabels": {"app.kubernetes.io/name": "karpenter", "app.kubernetes.io/instance": "karpenter"}}
    assert monitor["spec"]["endpoints"] == [{"port": "http-metrics", "interval": "30s"}]
