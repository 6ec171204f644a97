"""TritonServer component: exact resources, locked-down pods, drain timing, model provenance, HPA; serving rules."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from gpu_inference_platform.components.model_manifest import load_manifest
from gpu_inference_platform.preview.harness import Plan
from tests.conftest import ROOT, config_issues, set_key

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
S = "gpu-inference-platform:serving"


def test_children_are_exact(plans: dict[str, Plan]) -> None:
    assert Counter((r.type, r.name) for r in plans["prod"].children("triton")) == Counter(
        [
            ("kubernetes:core/v1:Namespace", "triton"),
            ("aws:iam/role:Role", "triton"),
            ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "triton-models-read"),
            ("kubernetes:core/v1:ServiceAccount", "triton"),
            ("kubernetes:core/v1:ConfigMap", "triton-verifier"),
            (DEPLOYMENT, "triton-floor"),
            (DEPLOYMENT, "triton-spot"),
            ("kubernetes:core/v1:Service", "triton"),
            ("kubernetes:policy/v1:PodDisruptionBudget", "triton"),
            ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "triton-spot"),
            ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "triton-default-deny"),
            ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "triton-dns-and-https"),
            ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "triton-clients"),
        ]
    )


def _deployment(plan: Plan, tier: str) -> dict[str, Any]:
    return plan.get(DEPLOYMENT, f"triton-{tier}").inputs


def _pod(plan: Plan, tier: str) -> dict[str, Any]:
    return _deployment(plan, tier)["spec"]["template"]["spec"]


def _container(plan: Plan, tier: str) -> dict[str, Any]:
    (container,) = _pod(plan, tier)["containers"]
    return container


def test_floor_is_on_demand_and_elastic_is_spot(plans: dict[str, Plan]) -> None:
    prod = plans["prod"]
    assert (_deployment(prod, "floor")["spec"]["replicas"], _pod(prod, "floor")["nodeSelector"]) == (3, {"karpenter.sh/capacity-type": "on-demand"})
    prefers_spot = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "preference": {"matchExpressions": [{"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"]}]}}
            ]
        }
    }
    only_group_types = {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [{"matchExpressions": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["g5.xlarge", "g6.xlarge"]}]}]
        }
    }
    assert _pod(prod, "floor")["affinity"] == {"nodeAffinity": only_group_types}, "the prod embedder group runs on its own instance types only"
    spot = _pod(prod, "spot")
    assert (_deployment(prod, "spot")["spec"]["replicas"], spot["affinity"], "nodeSelector" in spot) == (
        1,
        {"nodeAffinity": {**only_group_types, **prefers_spot["nodeAffinity"]}},
        False,
    ), "the spot tier prefers spot and falls back to the on-demand pool when spot is short"
    assert _pod(plans["dev"], "floor")["affinity"] == prefers_spot, "dev has no on-demand pool: its floor prefers spot too"


def test_triton_args_are_locked_down(plans: dict[str, Plan]) -> None:
    container = _container(plans["prod"], "floor")
    assert container["image"] == "nvcr.io/nvidia/tritonserver:25.06-py3"
    assert container["args"] == [
        "--model-repository=/models",
        "--model-control-mode=none",
        "--strict-readiness=true",
        "--exit-on-error=true",
        "--disable-auto-complete-config",
        "--exit-timeout-secs=30",
        "--http-port=8000",
        "--grpc-port=8001",
        "--metrics-port=8002",
        "--allow-metrics=true",
        "--allow-gpu-metrics=true",
        "--metrics-config=summary_latencies=true",
        "--http-max-input-size=8192",
    ], "Triton itself reads no request over the models' declared max_request_bytes"
    assert [p["containerPort"] for p in container["ports"]] == [8000, 8001, 8002]


def test_models_are_copied_and_verified_before_triton_starts(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    manifest = load_manifest(ROOT / "build/models/prod")
    bucket = plan.get("aws:s3/bucket:Bucket", "models-bucket").outputs["bucket"]
    fetch, check = _pod(plan, "floor")["initContainers"]
    only = ["--exclude", "*", "--include", "manifest.json", "--include", "minilm_embed/*", "--include", "minilm_tokenizer/*", "--include", "minilm_encoder/*"]
    assert fetch["command"] == ["aws", "s3", "sync", f"s3://{bucket}/models/{manifest.tree_hash}/", "/models", *only, "--only-show-errors"]
    assert check["command"] == ["python3", "/verifier/model_manifest.py", "/models", "minilm_embed", "minilm_tokenizer", "minilm_encoder"]
    llm_fetch, llm_check = plans["dev"].get(DEPLOYMENT, "llm-floor").inputs["spec"]["template"]["spec"]["initContainers"]
    assert llm_fetch["command"][5:-1] == [
        "--exclude",
        "*",
        "--include",
        "manifest.json",
        "--include",
        "smollm2_generate/*",
        "--include",
        "smollm2_tensorrt_llm/*",
    ]
    assert llm_check["command"][2:] == ["/models", "smollm2_generate", "smollm2_tensorrt_llm"], "never the checkpoint the engine Jobs compile"
    verifier = plan.get("kubernetes:core/v1:ConfigMap", "triton-verifier").inputs["data"]["model_manifest.py"]
    assert verifier == (ROOT / "src/gpu_inference_platform/components/model_manifest.py").read_text(), "the pods run the very verifier the tests exercise"
    assert "s3://" not in " ".join(_container(plan, "floor")["args"])
    for tier in ("floor", "spot"):
        deployment = _deployment(plan, tier)
        assert deployment["spec"]["template"]["metadata"]["annotations"] == {"gpuinfra.io/model-tree-hash": manifest.tree_hash}
        assert deployment["metadata"]["annotations"] == {"gpuinfra.io/model-tree-hash": manifest.tree_hash, "pulumi.com/timeoutSeconds": "1800"}


def test_an_llm_group_starts_triton_on_the_engine_config_of_its_gpu(plans: dict[str, Plan]) -> None:
    """Triton loads `configs/cc<compute capability>-tp1.pbtxt` of the TensorRT-LLM model: the engine built for the pod's GPU."""
    (llm,) = plans["dev"].get(DEPLOYMENT, "llm-floor").inputs["spec"]["template"]["spec"]["containers"]
    assert llm["command"] == [
        "sh",
        "-c",
        'cc="$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -n 1)"; '
        '[ -n "$cc" ] || { echo "nvidia-smi reported no compute capability" >&2; exit 1; }; '
        'exec tritonserver "$@" --model-config-name="cc$cc-tp1"',
        "tritonserver",
    ]
    assert llm["args"][0] == "--model-repository=/models"
    assert _container(plans["dev"], "floor")["command"] == ["tritonserver"], "an embedder group has no engine configs to choose"
    built = sorted(path.name for path in (ROOT / "build/models/dev/smollm2_tensorrt_llm/configs").iterdir())
    assert built == ["cc8.6-tp1.pbtxt", "cc8.9-tp1.pbtxt"], "one config per engine of the group's GPU families (g5: 8.6, g6: 8.9)"


def test_probes_drain_and_resources(plans: dict[str, Plan]) -> None:
    pod, container = _pod(plans["prod"], "spot"), _container(plans["prod"], "spot")
    assert container["startupProbe"] == {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 10, "failureThreshold": 30}
    assert container["readinessProbe"]["httpGet"] == {"path": "/v2/health/ready", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/v2/health/live", "port": "http"}
    assert container["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "20"]}}}
    assert pod["terminationGracePeriodSeconds"] == 60
    assert container["resources"] == {
        "requests": {"cpu": "3000m", "memory": "12Gi", "nvidia.com/gpu": 1},
        "limits": {"cpu": "3000m", "memory": "12Gi", "nvidia.com/gpu": 1},
    }
    assert {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "1024Mi"}} in pod["volumes"]
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert [c["topologyKey"] for c in pod["topologySpreadConstraints"]] == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]


def test_pods_run_restricted(plans: dict[str, Plan]) -> None:
    pod = _pod(plans["prod"], "floor")
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for container in [*pod["initContainers"], *pod["containers"]]:
        assert container["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}, "readOnlyRootFilesystem": True}
    labels = plans["prod"].get("kubernetes:core/v1:Namespace", "triton").inputs["metadata"]["labels"]
    assert labels == {f"pod-security.kubernetes.io/{m}": "restricted" for m in ("audit", "enforce", "warn")}


def test_rollouts_never_reduce_capacity_and_disruptions_are_bounded(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    for tier in ("floor", "spot"):
        assert _deployment(plan, tier)["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    budget = plan.get("kubernetes:policy/v1:PodDisruptionBudget", "triton").inputs["spec"]
    assert budget == {"maxUnavailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": "triton"}}}


def test_spot_tier_scales_on_queue_time(plans: dict[str, Plan]) -> None:
    spec = plans["prod"].get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "triton-spot").inputs["spec"]
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "triton-spot"}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 12)
    assert spec["metrics"] == [
        {"type": "Pods", "pods": {"metric": {"name": "triton_queue_time_per_request_us"}, "target": {"type": "AverageValue", "averageValue": "50000"}}}
    ]


def test_service_exposes_http_grpc_and_metrics_in_cluster_only(plans: dict[str, Plan]) -> None:
    service = plans["prod"].get("kubernetes:core/v1:Service", "triton").inputs["spec"]
    assert [p["port"] for p in service["ports"]] == [8000, 8001, 8002]
    assert "type" not in service, "ClusterIP: the ALB reaches pods through the target group, never the Service"


def test_serving_role_can_only_read_its_model_build(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    attachment = plan.get("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "triton-models-read").inputs
    assert attachment["policyArn"] == plan.get("aws:iam/policy:Policy", "models-read").outputs["arn"]
    trust = json.loads(plan.get("aws:iam/role:Role", "triton").inputs["assumeRolePolicy"])["Statement"][0]
    assert "system:serviceaccount:triton:triton" in trust["Condition"]["StringEquals"].values()


@pytest.mark.parametrize(
    ("stack", "mutate", "expected"),
    [
        (
            "prod",
            set_key("serving.0.modelControlMode", "explicit"),
            f"{S}[0].modelControlMode = 'explicit': production serves a fixed repository; allowed: none",
        ),
        ("dev", set_key("serving.0.modelControlMode", "auto"), f"{S}[0].modelControlMode = 'auto': Input should be 'none', 'poll' or 'explicit'"),
        (
            "dev",
            set_key("serving.0.terminationGracePeriodS", 40),
            f"{S}[0].terminationGracePeriodS = 40: shorter than preStopSleepS + exitTimeoutS (50); in-flight requests would be killed",
        ),
        ("dev", set_key("serving.0.terminationGracePeriodS", 150), f"{S}[0].terminationGracePeriodS = 150: spot replicas get a 120 s notice; allowed: <= 120"),
        (
            "dev",
            set_key("serving.0.preStopSleepS", 10),
            f"{S}[0].preStopSleepS = 10: must exceed loadBalancer.deregistrationDelayS (15) so the ALB stops sending before Triton stops accepting",
        ),
        (
            "dev",
            set_key("serving.0.expectedModelLoadS", 600),
            f"{S}[0].startupProbeFailureThreshold = 30: startup budget 300 s (period x threshold) is below expectedModelLoadS (600)",
        ),
        ("dev", set_key("serving.0.shmMib", 12288), f"{S}[0].shmMib = 12288: /dev/shm counts against the memory limit (12 GiB); keep it well below"),
        ("dev", set_key("serving.0.shmMib", 32), f"{S}[0].shmMib = 32: the Python backend needs at least 64 MiB of /dev/shm"),
        (
            "dev",
            set_key("serving.0.memoryGib", 15),
            "gpu-inference-platform:fleet.spot.instanceTypes[0] = 'g4dn.xlarge': a replica of triton (3000m CPU, 15 GiB) does not fit its 4 vCPU / 16 GiB",
        ),
    ],
)
def test_serving_rules(stack: str, mutate: Any, expected: str) -> None:
    assert expected in config_issues(stack, mutate)


def test_network_policies_deny_by_default_and_allow_the_load_balancer_and_prometheus(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    deny = plan.get("kubernetes:networking.k8s.io/v1:NetworkPolicy", "triton-default-deny").inputs["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    egress = plan.get("kubernetes:networking.k8s.io/v1:NetworkPolicy", "triton-dns-and-https").inputs["spec"]["egress"]
    assert egress == [
        {
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
            "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
        },
        {"ports": [{"protocol": "TCP", "port": 443}]},
    ]
    clients = plan.get("kubernetes:networking.k8s.io/v1:NetworkPolicy", "triton-clients").inputs["spec"]
    assert clients["podSelector"] == {"matchLabels": {"app.kubernetes.io/name": "triton", "app.kubernetes.io/instance": "triton"}}
    assert clients["ingress"] == [
        {
            "from": [{"ipBlock": {"cidr": cidr}} for cidr in ("10.42.224.0/22", "10.42.228.0/22", "10.42.232.0/22")],
            "ports": [{"protocol": "TCP", "port": 8000}],
        },
        {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}], "ports": [{"protocol": "TCP", "port": 8002}]},
    ]
