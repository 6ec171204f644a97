"""TritonServer built alone: exact children, IRSA from the ClusterRef, and Args that refuse drains that would drop requests or a size bound Triton cannot apply."""

from __future__ import annotations

from collections import Counter

from gpu_inference_platform import TritonServer, TritonServerArgs
from tests.components.alone import CLUSTER, build_alone, children, errors


def _args(**changes: object) -> TritonServerArgs:
    settings: dict[str, object] = {
        "image": "nvcr.io/nvidia/tritonserver:25.06-py3",
        "model_bucket": "models-bucket",
        "model_prefix": "models/abc/",
        "model_tree_hash": "abc",
        "model_read_policy_arn": "arn:aws:iam::123456789012:policy/models-read",
        "cluster": CLUSTER,
        "floor_capacity_type": "on-demand",
        "floor_replicas": 1,
        "min_spot_replicas": 1,
        "max_spot_replicas": 3,
    }
    return TritonServerArgs(**{**settings, **changes})  # type: ignore[arg-type]


def test_children_and_wiring() -> None:
    plan = build_alone(lambda: TritonServer("embed", _args()))
    assert children(plan, "embed") == Counter(
        [
            ("kubernetes:core/v1:Namespace", "embed"),
            ("aws:iam/role:Role", "embed"),
            ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "embed-models-read"),
            ("kubernetes:core/v1:ServiceAccount", "embed"),
            ("kubernetes:core/v1:ConfigMap", "embed-verifier"),
            ("kubernetes:apps/v1:Deployment", "embed-floor"),
            ("kubernetes:apps/v1:Deployment", "embed-spot"),
            ("kubernetes:core/v1:Service", "embed"),
            ("kubernetes:policy/v1:PodDisruptionBudget", "embed"),
            ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "embed-spot"),
            ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "embed-default-deny"),
            ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "embed-dns-and-https"),
        ]
    )
    trust = plan.get("aws:iam/role:Role", "embed").inputs["assumeRolePolicy"]
    assert CLUSTER.oidc_provider_arn in trust and "system:serviceaccount:embed:embed" in trust
    floor = plan.get("kubernetes:apps/v1:Deployment", "embed-floor").inputs["spec"]
    assert (floor["replicas"], floor["template"]["spec"]["nodeSelector"]) == (1, {"karpenter.sh/capacity-type": "on-demand"})
    fetch = floor["template"]["spec"]["initContainers"][0]["command"]
    assert fetch[:4] == ["aws", "s3", "sync", "s3://models-bucket/models/abc/"]
    hpa = plan.get("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "embed-spot").inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (1, 3)
    (root,) = plan.roots()
    assert root.registered_outputs["deployment_names"] == ["embed-floor", "embed-spot"]
    assert (root.registered_outputs["namespace"], root.registered_outputs["service_name"]) == ("embed", "embed")


def test_args_refuse_drains_that_drop_requests() -> None:
    assert errors(lambda: _args(pre_stop_sleep_s=40, exit_timeout_s=30, termination_grace_period_s=60)) == [
        "TritonServerArgs.termination_grace_period_s = 60: shorter than pre_stop_sleep_s + exit_timeout_s (70); in-flight requests would be killed"
    ]
    assert errors(lambda: _args(min_spot_replicas=4, termination_grace_period_s=150, shm_mib=32, startup_probe_failure_threshold=5, gpus_per_replica=0)) == [
        "TritonServerArgs.min_spot_replicas = 4: greater than max_spot_replicas (3)",
        "TritonServerArgs.termination_grace_period_s = 150: spot replicas get a 120 s notice; allowed: <= 120",
        "TritonServerArgs.startup_probe_failure_threshold = 5: startup budget 50 s (period x threshold) is below expected_model_load_s (120)",
        "TritonServerArgs.shm_mib = 32: the Python backend needs at least 64 MiB of /dev/shm",
        "TritonServerArgs.gpus_per_replica = 0: must be at least 1",
    ]


def test_args_bound_request_size_only_on_a_triton_that_can() -> None:
    assert errors(lambda: _args(image="nvcr.io/nvidia/tritonserver:25.05-py3", max_input_bytes=0)) == [
        "TritonServerArgs.max_input_bytes = 0: must be at least 1",
        "TritonServerArgs.image = 'nvcr.io/nvidia/tritonserver:25.05-py3': --http-max-input-size needs Triton 25.06 or later (or leave max_input_bytes unset)",
    ]

    def size_flags(args: TritonServerArgs) -> list[str]:
        plan = build_alone(lambda: TritonServer("embed", args))
        container = plan.get("kubernetes:apps/v1:Deployment", "embed-floor").inputs["spec"]["template"]["spec"]["containers"][0]
        return [arg for arg in container["args"] if arg.startswith("--http-max-input-size")]

    assert size_flags(_args(max_input_bytes=4096)) == ["--http-max-input-size=4096"]
    assert size_flags(_args(image="nvcr.io/nvidia/tritonserver:25.05-py3")) == [], "unset, an older Triton keeps its 64 MiB default"
