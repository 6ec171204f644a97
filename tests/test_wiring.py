"""The wiring layer (W01-W07): committed stacks resolve every cross-reference; each defect an audit found is rejected, naming both ends.

Each mutation puts back the broken form the audit found (or removes the piece that fixed it) on
the real prod plan.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpu_inference_platform.policy.iam_coverage import applicable, load_reference
from gpu_inference_platform.policy.model import Stack
from gpu_inference_platform.policy.registry import POLICIES
from gpu_inference_platform.preview.guardrails import check_plan, plan_resources
from gpu_inference_platform.preview.harness import Plan
from tests.conftest import ROOT, STACKS
from tests.test_policies import Edit, drop, put, put_json, with_edits, without

RELEASE = "kubernetes:helm.sh/v3:Release"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
RULE = "aws:lb/listenerRule:ListenerRule"
LISTENER = "aws:lb/listener:Listener"
EMBED_RULE = "alb-model-minilm_embed"
WIRING = {p.code: p for p in POLICIES if p.code.startswith("W")}


@pytest.fixture(scope="module")
def prod(plans: dict[str, Plan]) -> Stack:
    return plan_resources(plans["prod"])


def findings(code: str, stack: Stack) -> list[tuple[str | None, str]]:
    policy = WIRING[code]
    return [(f.resource.name if f.resource else None, f.message) for f in policy.check(stack, policy.settings)]


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_resolve_every_reference(plans: dict[str, Plan], stack: str) -> None:
    report = check_plan(plans[stack])
    assert [v.line() for v in report.violations if v.code.startswith("W")] == []
    assert sorted(WIRING) == ["W01", "W02", "W03", "W04", "W05", "W06", "W07", "W08", "W09"]


def test_w01_the_adapter_url_the_chart_never_rendered(prod: Stack) -> None:
    old_url = put("values.prometheus.url", "http://monitoring-prometheus-kube-prom-prometheus.monitoring.svc")
    assert findings("W01", with_edits(prod, [(RELEASE, "monitoring-adapter", old_url)])) == [
        (
            "monitoring-adapter",
            "values.prometheus.url refers to monitoring-prometheus-kube-prom-prometheus.monitoring.svc, but no Service "
            "monitoring/monitoring-prometheus-kube-prom-prometheus is rendered (Services in monitoring: monitoring-adapter-prometheus-adapter, "
            "monitoring-alertmanager, monitoring-operator, monitoring-prometheus)",
        )
    ]


def test_w01_chart_naming_without_the_override(prod: Stack) -> None:
    """Without fullnameOverride the chart names its Services <release>-<chart> truncated to 26: monitoring-prometheus-kube-*."""
    assert findings("W01", with_edits(prod, [(RELEASE, "monitoring-prometheus", drop("values.fullnameOverride"))])) == [
        (
            "monitoring-adapter",
            "values.prometheus.url refers to monitoring-prometheus.monitoring.svc, but no Service monitoring/monitoring-prometheus is rendered "
            "(Services in monitoring: monitoring-adapter-prometheus-adapter, monitoring-prometheus-kube-alertmanager, monitoring-prometheus-kube-operator, "
            "monitoring-prometheus-kube-prometheus)",
        )
    ]


PROMETHEUS_VOLUME = "values.prometheus.prometheusSpec.storageSpec.volumeClaimTemplate.spec.storageClassName = gp3"


def test_w02_a_storage_class_with_no_class_or_no_driver(prod: Stack) -> None:
    assert findings("W02", without(prod, "kubernetes:storage.k8s.io/v1:StorageClass", "gpu-gp3")) == [
        ("monitoring-prometheus", f"{PROMETHEUS_VOLUME}: no StorageClass gp3 is planned, so the claim stays Pending (planned: none)")
    ]
    assert findings("W02", without(prod, "aws:eks/addon:Addon", "gpu-aws-ebs-csi-driver")) == [
        ("monitoring-prometheus", f"{PROMETHEUS_VOLUME}: StorageClass gp3 provisions with ebs.csi.aws.com, but no aws-ebs-csi-driver add-on is planned")
    ]


def test_w03_an_hpa_metric_no_adapter_rule_serves(prod: Stack) -> None:
    renamed = put("spec.metrics.0.pods.metric.name", "triton_queue_time_us")
    assert findings("W03", with_edits(prod, [("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "triton-spot", renamed)])) == [
        (
            "triton-spot",
            "metric triton_queue_time_us (Pods) is served by no rule of monitoring-adapter (it serves: llm_requests_waiting, triton_queue_time_per_request_us, trtllm_kv_cache_used_ratio)",
        )
    ]
    assert findings("W03", without(prod, RELEASE, "monitoring-adapter")) == [
        ("llm-spot", "metric llm_requests_waiting (Pods) needs a custom-metrics adapter, and none is planned"),
        ("llm-spot", "metric trtllm_kv_cache_used_ratio (Pods) needs a custom-metrics adapter, and none is planned"),
        ("triton-spot", "metric triton_queue_time_per_request_us (Pods) needs a custom-metrics adapter, and none is planned"),
    ]


def test_w04_the_chart_default_route_ends_at_null(prod: Stack) -> None:
    found = findings("W04", with_edits(prod, [(RELEASE, "monitoring-prometheus", drop("values.alertmanager.config"))]))
    assert len(found) == 11
    assert found[0] == ("monitoring-alerts", "alert TritonP99LatencyHigh routes to receiver 'null' of monitoring-prometheus, which delivers nowhere")
    assert all(message.endswith("routes to receiver 'null' of monitoring-prometheus, which delivers nowhere") for _, message in found)


def test_w04_an_alert_on_metrics_nothing_scrapes(prod: Stack) -> None:
    assert findings("W04", without(prod, "kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-karpenter")) == [
        (
            "monitoring-alerts",
            "alert SpotInterruptionRateHigh reads karpenter_* metrics, but nothing scrapes Karpenter (a ServiceMonitor on its kube-system Service): it can never fire",
        )
    ]


def test_w04_an_sns_receiver_without_credentials(prod: Stack) -> None:
    assert findings("W04", without(prod, "aws:iam/rolePolicy:RolePolicy", "monitoring-alertmanager")) == [
        ("monitoring-prometheus", "an SNS receiver has no IRSA role allowed to sns:Publish (Alertmanager's service account annotation)")
    ]


def _without_statement(sid: str) -> Edit:
    def change(document: dict[str, Any]) -> None:
        document["Statement"] = [s for s in document["Statement"] if s["Sid"] != sid]

    return put_json("policy", change)


def test_w05_karpenter_without_the_upstream_instance_tagging_grant(prod: Stack) -> None:
    stack = with_edits(prod, [("aws:iam/rolePolicy:RolePolicy", "gpu-fleet-controller", _without_statement("NameOwnedInstances"))])
    assert findings("W05", stack) == [
        (
            "gpu-fleet-controller",
            "Karpenter 1.11.1 upstream grant AllowScopedResourceTagging: ec2:CreateTags on arn:aws:ec2:us-west-2:*:instance/* "
            "is not given to its controller role gpu-fleet-controller",
        )
    ]


def test_w05_a_list_scoped_tighter_than_upstream_is_a_gap(prod: Stack) -> None:
    def scoped(document: dict[str, Any]) -> None:
        (listing,) = [s for s in document["Statement"] if s["Sid"] == "ListInstanceProfiles"]
        listing["Resource"] = "arn:aws:iam::123456789012:instance-profile/*"

    assert findings("W05", with_edits(prod, [("aws:iam/rolePolicy:RolePolicy", "gpu-fleet-controller", put_json("policy", scoped))])) == [
        (
            "gpu-fleet-controller",
            "Karpenter 1.11.1 upstream grant AllowUnscopedInstanceProfileListAction: iam:ListInstanceProfiles on * is not given to its controller role gpu-fleet-controller",
        )
    ]


def test_w05_the_load_balancer_controller_without_its_target_grants(prod: Stack) -> None:
    stack = with_edits(prod, [("aws:iam/rolePolicy:RolePolicy", "alb-controller", _without_statement("BindTritonTargets"))])
    upstream = "the AWS Load Balancer Controller 1.13.0 upstream grant #15: elasticloadbalancing:{} on arn:aws:elasticloadbalancing:*:*:targetgroup/*/*"
    assert findings("W05", stack) == [
        ("alb-controller", f"{upstream.format(action)} is not given to its controller role alb-controller")
        for action in ("RegisterTargets", "DeregisterTargets")
    ]


def test_w05_the_reference_says_why_each_upstream_grant_is_left_out() -> None:
    reference = load_reference("aws-load-balancer-controller", "1.13.0")
    assert reference is not None and "v2.13.0/docs/install/iam_policy.json" in reference["_source"]
    assert len(reference["Statement"]) == 16
    assert sorted(map(int, reference["notUsed"])) == [1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 16]
    assert set(reference["narrowed"]) == {"15"}
    assert all(len(reason) > 30 for reason in [*reference["notUsed"].values(), *reference["narrowed"].values(), *reference["actionsNotUsed"].values()])
    used = [s["Sid"] for s in applicable(reference)]
    assert used == ["#2", "#15"], "only the read calls and target registration apply to TargetGroupBinding mode"


def test_w05_an_unvendored_version_and_a_driver_without_its_policy(prod: Stack) -> None:
    assert findings("W05", with_edits(prod, [(RELEASE, "gpu-fleet-karpenter", put("version", "1.12.0"))])) == [
        ("gpu-fleet-karpenter", "no upstream reference policy is vendored for Karpenter 1.12.0 (policy/references/karpenter-1.12.0.json)")
    ]
    assert findings("W05", without(prod, "aws:iam/rolePolicyAttachment:RolePolicyAttachment", "gpu-ebs-csi")) == [
        ("gpu-aws-ebs-csi-driver", "the EBS CSI driver's role (gpu-ebs-csi) lacks the AWS-managed AmazonEBSCSIDriverPolicy")
    ]


def test_w06_limits_with_no_room_for_an_engine_build(prod: Stack) -> None:
    full = with_edits(
        prod,
        [
            (NODE_POOL, "gpu-fleet-spot", put("spec.limits", {"nvidia.com/gpu": "17"})),
            (NODE_POOL, "gpu-fleet-on-demand", put("spec.limits", {"nvidia.com/gpu": "6"})),
        ],
    )
    message = "engine build needs 1 GPU, but the NodePools' limits (23 GPUs: gpu-fleet-on-demand, gpu-fleet-spot) are all taken by serving at peak (23)"
    jobs = sorted(r.name for r in prod.of_type("kubernetes:batch/v1:Job"))
    assert findings("W06", full) == [(job, message) for job in jobs] and len(jobs) == 4, "two TensorRT plans, two TensorRT-LLM engines"


def test_w06_a_pinned_floor_beyond_its_pool(prod: Stack) -> None:
    """The floor is pinned to on-demand (the spot tier only prefers spot, so it may use either pool)."""
    assert findings("W06", with_edits(prod, [(NODE_POOL, "gpu-fleet-on-demand", put("spec.limits", {"nvidia.com/gpu": "4"}))])) == [
        ("llm-floor", "llm-floor, triton-floor need 5 GPUs on on-demand nodes at peak, but the on-demand NodePools allow 4")
    ], "24 GPUs in all still leave room for an engine build"


def _paths(*values: str) -> Edit:
    return put("conditions", [{"pathPattern": {"values": list(values)}}])


def test_w07_the_committed_edge_routes_exactly_the_public_ensemble(prod: Stack) -> None:
    routes = {r.name: r.props["conditions"][0]["pathPattern"]["values"] for r in prod.of_type(RULE)}
    assert routes == {
        "alb-ready": ["/v2/health/ready"],
        EMBED_RULE: [
            "/v2/models/minilm_embed/infer",
            "/v2/models/minilm_embed/ready",
            "/v2/models/minilm_embed/versions/*/infer",
            "/v2/models/minilm_embed/versions/*/ready",
        ],
        "alb-model-smollm2_generate": [
            "/v2/models/smollm2_generate/generate",
            "/v2/models/smollm2_generate/generate_stream",
            "/v2/models/smollm2_generate/ready",
        ],
        "alb-model-smollm2_generate-versions": [
            "/v2/models/smollm2_generate/versions/*/generate",
            "/v2/models/smollm2_generate/versions/*/generate_stream",
            "/v2/models/smollm2_generate/versions/*/ready",
        ],
    }
    assert findings("W07", prod) == []


def test_w07_the_wildcard_route_the_audit_found(prod: Stack) -> None:
    """`/v2/models/*/infer` made the internal tokenizer and encoder public."""
    audited = with_edits(prod, [(RULE, "alb-ready", _paths("/v2/health/ready", "/v2/models/*/infer", "/v2/models/*/versions/*/infer"))])
    assert findings("W07", audited) == [
        ("alb-ready", "forwards /v2/models/*/infer, but it is not one model's infer, generate or ready path"),
        ("alb-ready", "forwards /v2/models/*/versions/*/infer, but it is not one model's infer, generate or ready path"),
    ]


def test_w07_an_internal_model_routed_and_the_public_one_left_out(prod: Stack) -> None:
    encoder = with_edits(prod, [(RULE, EMBED_RULE, _paths("/v2/models/minilm_encoder/infer", "/v2/models/minilm_embed/ready", "/v2/repository/index"))])
    assert findings("W07", encoder) == [
        (
            EMBED_RULE,
            "forwards /v2/models/minilm_encoder/infer, but minilm_encoder is not public in models.yaml or generators.yaml (public: minilm_embed, smollm2_generate)",
        ),
        (EMBED_RULE, "forwards /v2/repository/index, but it is not one model's infer, generate or ready path"),
        (EMBED_RULE, "public model minilm_embed has no forwarded infer path, so clients cannot reach it"),
    ]


def test_w07_forwarding_without_a_path_condition(prod: Stack) -> None:
    unconditioned = with_edits(
        prod,
        [
            (RULE, "alb-ready", put("conditions", [{"hostHeader": {"values": ["api.example.com"]}}])),
            (LISTENER, "alb-https", put("defaultActions", [{"type": "forward", "targetGroupArn": "arn:aws:elasticloadbalancing:tg"}])),
        ],
    )
    assert findings("W07", unconditioned) == [
        ("alb-https", "the default action forwards every path, so internal models are reachable (answer 404 by default, forward by rule)"),
        ("alb-ready", "forwards every path (no path-pattern condition), so internal models are reachable"),
    ]


def test_w07_reads_the_public_list_from_the_model_repository(prod: Stack, tmp_path: Path) -> None:
    for name, model in (("models.yaml", "minilm_embed"), ("generators.yaml", "smollm2_generate")):
        declared = yaml.safe_load((ROOT / "model_repo" / name).read_text())
        declared[model]["public"] = False
        (tmp_path / name).write_text(yaml.safe_dump(declared))
    policy = WIRING["W07"]
    private = [(f.resource.name if f.resource else None, f.message) for f in policy.check(prod, {"modelRepository": str(tmp_path)})]
    rules = [r for r in prod.of_type(RULE) if r.name != "alb-ready"]
    assert private == [
        (rule.name, f"forwards {path}, but {path.split('/')[3]} is not public in models.yaml or generators.yaml (public: none)")
        for rule in rules
        for path in rule.props["conditions"][0]["pathPattern"]["values"]
    ]
    assert len(private) == 10
    (tmp_path / "models.yaml").write_text("- not: a mapping\n")
    (unreadable,) = policy.check(prod, {"modelRepository": str(tmp_path)})
    assert unreadable.message.startswith(f"cannot read the public models from {tmp_path} (models.yaml, generators.yaml): ")


def test_a_wiring_error_is_a_mandatory_violation_of_the_preview(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    (adapter,) = [r for r in plan.resources if (r.type, r.name) == (RELEASE, "monitoring-adapter")]
    values = {**adapter.inputs["values"], "prometheus": {"url": "http://monitoring-prometheus-kube-prom-prometheus.monitoring.svc", "port": 9090}}
    broken = [dataclasses.replace(r, inputs={**r.inputs, "values": values}) if r is adapter else r for r in plan.resources]
    report = check_plan(dataclasses.replace(plan, resources=broken))
    assert [v.code for v in report.mandatory] == ["W01"]
