"""The first `pulumi up` (issue 26): each audit finding fixed on the committed plans, and the check class that catches it.

Every mutation puts back the form the audit found on a real plan, and the check names it.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

import pytest

from gpu_inference_platform.components.support_windows import in_standard_support, kubernetes_version_issues
from gpu_inference_platform.policy.model import Stack
from gpu_inference_platform.policy.registry import POLICIES_BY_NAME
from gpu_inference_platform.preview.guardrails import plan_resources
from gpu_inference_platform.preview.harness import Plan, plan_stack
from gpu_inference_platform.program.platform import llm_queue_issues
from tests.conftest import ROOT, STACKS, committed_raw, valid_config, write_stack_file
from tests.test_policies import Edit, drop, put, with_edits, without

INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
JOB = "kubernetes:batch/v1:Job"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
BUCKET = "aws:s3/bucket:Bucket"
ROLE = "aws:iam/role:Role"
BUDGET = "aws:budgets/budget:Budget"
TAG = "aws:costexplorer/costAllocationTag:CostAllocationTag"


def pop(path: str, index: int) -> Edit:
    """Remove one entry of the list at a dotted property path."""

    def edit(props: dict[str, Any]) -> None:
        node: Any = props
        for key in path.split("."):
            node = node[int(key)] if isinstance(node, list) else node[key]
        node.pop(index)

    return edit


def findings(name: str, stack: Stack) -> list[tuple[str | None, str]]:
    policy = POLICIES_BY_NAME[name]
    return [(f.resource.name if f.resource else None, f.message) for f in policy.check(stack, policy.settings)]


@pytest.fixture(scope="module")
def prod(plans: dict[str, Plan]) -> Stack:
    return plan_resources(plans["prod"])


def _llm_job(stack: Stack) -> str:
    return next(r.name for r in stack.of_type(JOB) if "trtllm-" in r.name)


def _plan_job(stack: Stack) -> str:
    return next(r.name for r in stack.of_type(JOB) if "-trt-" in r.name)


# ---------------------------------------------------------------- finding 1 and W09: reachability


def test_the_runner_reaches_the_private_api(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    rule = plan.get(INGRESS, "gpu-api-from-ci-runner")
    cluster_sg = plan.get("aws:eks/cluster:Cluster", "gpu-eks").outputs["vpcConfig"]["clusterSecurityGroupId"]
    runner_sg = plan.get("aws:ec2/securityGroup:SecurityGroup", "ci-runner-builds").urn
    assert {k: rule.inputs[k] for k in ("securityGroupId", "ipProtocol", "fromPort", "toPort")} == {
        "securityGroupId": cluster_sg,
        "ipProtocol": "tcp",
        "fromPort": 443,
        "toPort": 443,
    }
    assert rule.dependencies["referencedSecurityGroupId"] == [runner_sg]


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_allow_every_needed_flow(plans: dict[str, Plan], stack: str) -> None:
    assert findings("w09-reachability", plan_resources(plans[stack])) == []


def test_w09_the_runner_without_its_api_rule(prod: Stack) -> None:
    assert findings("w09-reachability", without(prod, INGRESS, "gpu-api-from-ci-runner")) == [
        (
            "ci-runner",
            "runner ci-runner (ci-runner-builds) cannot reach the API of gpu-eks: its cluster security group admits no rule from "
            "ci-runner-builds on 443 (it accepts only itself)",
        )
    ]


def test_w09_the_vpc_wide_network_policy_bypasses_the_waf(prod: Stack) -> None:
    """The audited form: the whole VPC on 8000 and 8001."""
    vpc_wide = put("spec.ingress.0", {"from": [{"ipBlock": {"cidr": "10.42.0.0/16"}}], "ports": [{"protocol": "TCP", "port": p} for p in (8000, 8001)]})
    assert findings("w09-reachability", with_edits(prod, [(NETWORK_POLICY, "llm-clients", vpc_wide)])) == [
        (
            "llm-clients",
            "lets 10.42.0.0/16 reach llm's ports [8000, 8001] directly, around the ALB's WAF "
            "(allowed: the ALB's subnets 10.42.224.0/22, 10.42.228.0/22, 10.42.232.0/22 on 8000)",
        )
    ]


def test_w09_the_alb_and_prometheus_must_reach_the_pods(prod: Stack) -> None:
    only_prometheus = pop("spec.ingress", 0)
    assert findings("w09-reachability", with_edits(prod, [(NETWORK_POLICY, "triton-clients", only_prometheus)])) == [
        ("alb", f"no NetworkPolicy in triton lets the ALB's subnet {subnet} reach Triton HTTP (8000)")
        for subnet in ("10.42.224.0/22", "10.42.228.0/22", "10.42.232.0/22")
    ]
    no_scrape = pop("spec.ingress", 1)
    assert findings("w09-reachability", with_edits(prod, [(NETWORK_POLICY, "llm-clients", no_scrape)])) == [
        ("monitoring-prometheus", "no NetworkPolicy in llm lets Prometheus (monitoring) scrape Triton metrics (8002)")
    ]
    assert findings("w09-reachability", without(prod, INGRESS, "alb-pods-from-alb")) == [
        ("alb", "the cluster security group of gpu-eks (the pods' ENIs) admits nothing from the ALB on 8000")
    ]


def test_w09_pods_must_reach_s3_and_sts(prod: Stack) -> None:
    no_https = pop("spec.egress", 1)
    assert findings("w09-reachability", with_edits(prod, [(NETWORK_POLICY, "llm-dns-and-https", no_https)])) == [
        ("llm-default-deny", "pods in llm may not leave on 443, so they cannot reach S3, STS (IRSA) or ECR")
    ]


# ---------------------------------------------------------------- finding 2: the runner image


def test_the_runner_image_is_one_setup_python_supports(plans: dict[str, Plan]) -> None:
    project = plans["prod"].get("aws:codebuild/project:Project", "ci-runner").inputs
    assert project["environment"]["image"] == "aws/codebuild/standard:7.0", "Ubuntu 22.04: actions/setup-python ships Ubuntu builds only"


# ---------------------------------------------------------------- finding 3 and W08: run-time writes


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_write_only_to_mounts(plans: dict[str, Plan], stack: str) -> None:
    assert findings("w08-run-time-writes", plan_resources(plans[stack])) == []


def test_engine_jobs_build_in_their_work_volume(plans: dict[str, Plan]) -> None:
    stack = plan_resources(plans["prod"])
    for job in (_llm_job(stack), _plan_job(stack)):
        (_, build) = plans["prod"].get(JOB, job).inputs["spec"]["template"]["spec"]["initContainers"]
        assert build["workingDir"] == "/work"
        assert build["env"] == [{"name": "HOME", "value": "/tmp"}, {"name": "TMPDIR", "value": "/tmp"}]
    trtexec = plans["prod"].get(JOB, _plan_job(stack)).inputs["spec"]["template"]["spec"]["initContainers"][1]["command"]
    assert "--timingCacheFile=/work/timing.cache" in trtexec


def test_w08_trtllm_build_in_the_read_only_image_directory(prod: Stack) -> None:
    """The audited Job: no workingDir, and trtllm-build's default timing cache `model.cache`."""
    job = _llm_job(prod)
    script = next(r for r in prod.of_type(JOB) if r.name == job).props["spec"]["template"]["spec"]["initContainers"][1]["command"][2]
    audited = [
        drop("spec.template.spec.initContainers.1.workingDir"),
        put("spec.template.spec.initContainers.1.command.2", script.replace(" --output_timing_cache=/work/timing.cache", "")),
    ]
    assert findings("w08-run-time-writes", with_edits(prod, [(JOB, job, edit) for edit in audited])) == [
        (
            job,
            "build-engine runs trtllm-build, which writes model.cache (--output_timing_cache) in the working directory, but workingDir is unset "
            "(the image's is on the read-only root)",
        )
    ]


def test_w08_home_and_tmp_off_the_mounts(prod: Stack) -> None:
    job = _plan_job(prod)
    no_env = drop("spec.template.spec.initContainers.1.env")
    no_tmp = put("spec.template.spec.initContainers.1.volumeMounts", [{"name": "work", "mountPath": "/work"}])
    assert findings("w08-run-time-writes", with_edits(prod, [(JOB, job, no_env), (JOB, job, no_tmp)])) == [
        (job, "build-engine runs trtexec, which writes under HOME (unset: the image default), not on a writable mount ['/work']"),
        (job, "build-engine runs trtexec, which writes under TMPDIR (/tmp), not on a writable mount ['/work']"),
    ]


# ---------------------------------------------------------------- finding 5: the LLM autoscaler sees every queue


def test_a_front_queue_longer_than_the_idle_timeout_is_refused() -> None:
    prod, build = valid_config("prod"), ROOT / "build/models/prod"
    assert list(llm_queue_issues(prod, build)) == []
    short = prod.model_copy(update={"load_balancer": prod.load_balancer.model_copy(update={"idle_timeout_s": 60})})
    assert [str(issue) for issue in llm_queue_issues(short, build)] == [
        "gpu-inference-platform:loadBalancer.idleTimeoutS = 60: smollm2_generate queues up to 64 requests behind 64 active ones: "
        "the last waits 1 x maxGenerationS (45 s) and generates for up to 45 s, 90 s without a byte; allowed: above 90, or a smaller max_queue_size"
    ]


def test_the_llm_autoscaler_counts_the_front_models_queue(plans: dict[str, Plan]) -> None:
    rules = {r["name"]["as"]: r for r in plans["prod"].get("kubernetes:helm.sh/v3:Release", "monitoring-adapter").inputs["values"]["rules"]["custom"]}
    waiting = rules["llm_requests_waiting"]
    assert waiting["seriesQuery"] == 'gip_llm_requests_waiting{namespace!="",pod!=""}', "the front holds the queue: the engine's waiting stays near 0"
    assert "gip_llm_requests_waiting|nv_trt_llm_request_metrics" in waiting["metricsQuery"]


# ---------------------------------------------------------------- finding 7: await timeouts


def test_gpu_jobs_and_deployments_are_awaited_long_enough(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    deployments = [r for r in plan.resources if r.type == DEPLOYMENT and "nvidia.com/gpu" in str(r.inputs["spec"])]
    jobs = [r for r in plan.resources if r.type == JOB]
    assert {r.name for r in deployments} == {"triton-floor", "triton-spot", "llm-floor", "llm-spot"} and len(jobs) == 5
    assert {r.inputs["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] for r in deployments} == {"1800"}
    assert {r.inputs["metadata"]["annotations"]["pulumi.com/timeoutSeconds"] for r in jobs} == {"3900"}, "the Job's 3600 s deadline + 300"


# ---------------------------------------------------------------- finding 9: the preview's cluster access


def test_the_preview_role_may_only_view_the_cluster(plans: dict[str, Plan]) -> None:
    name = "gpu-viewer-123456789012-role/gip-staging-preview"
    association = plans["staging"].get("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", name).inputs
    assert (association["principalArn"], association["policyArn"], association["accessScope"]) == (
        "arn:aws:iam::123456789012:role/gip-staging-preview",
        "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy",
        {"type": "cluster"},
    )


# ---------------------------------------------------------------- finding 10 and dates: support windows


def test_support_windows_are_checked_against_the_date() -> None:
    assert in_standard_support(datetime.date(2026, 12, 7)) == ["1.35"]
    assert in_standard_support(datetime.date(2026, 6, 1)) == ["1.33", "1.34", "1.35"]
    assert [str(i) for i in kubernetes_version_issues("k", "1.34", datetime.date(2026, 12, 7))] == [
        "k = '1.34': outside EKS standard support on 2026-12-07 (it ended 2026-12-02; EKS auto-upgrades such clusters); allowed: 1.35"
    ]
    (warning,) = kubernetes_version_issues("k", "1.35", datetime.date(2027, 2, 1))
    assert (warning.severity, warning.problem.split(" (")[0]) == ("warning", "EKS standard support ends 2027-03-27")
    assert list(kubernetes_version_issues("k", "1.35", datetime.date(2026, 12, 7))) == []


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_run_a_supported_kubernetes(plans: dict[str, Plan], stack: str) -> None:
    cluster = plans[stack].get("aws:eks/cluster:Cluster", "gpu-eks").inputs
    assert (cluster["version"], cluster["upgradePolicy"]) == ("1.35", {"supportType": "STANDARD"})


# ---------------------------------------------------------------- finding 12: the seed input the backend reads


def test_the_front_sends_the_seed_the_tensorrtllm_backend_reads() -> None:
    """tensorrtllm_backend (v0.19.0 .. c1e1963) inflight_batcher_llm/src/utils.h: `randomSeed = "random_seed"`."""
    engine = (ROOT / "model_repo/smollm2_tensorrt_llm/config.gpu.pbtxt").read_text()
    front = (ROOT / "model_repo/smollm2_generate/1/model.gpu.py").read_text()
    assert '{ name: "random_seed", data_type: TYPE_UINT64' in engine and '"seed"' not in engine
    assert '_tensor("random_seed", sampling.seed, np.uint64)' in front


# ---------------------------------------------------------------- finding 16: member accounts


def test_a_member_account_leaves_tag_activation_to_the_payer(tmp_path: Path) -> None:
    raw = committed_raw("dev")
    raw["budget"]["tagActivatedByPayer"] = True
    plan = plan_stack("dev", write_stack_file(tmp_path / "Pulumi.dev.yaml", raw))
    assert [r for r in plan.resources if r.type == TAG] == []
    assert plan.get(BUDGET, "budget").inputs["tags"]["gpuinfra:cost-allocation-tag"] == "activated-by-payer"
    stack = plan_resources(plan)
    assert findings("p31-budget-tag-activated", stack) == []
    unmarked = with_edits(stack, [(BUDGET, "budget", drop("tags.gpuinfra:cost-allocation-tag"))])
    assert findings("p31-budget-tag-activated", unmarked) == [
        ("budget", "budget counts spend tagged 'stack', but that cost-allocation tag is not activated: it sees $0 and never acts")
    ]


# ---------------------------------------------------------------- finding 18: teardown


def _delete_failures(plan: Plan) -> list[str]:
    """Replay `pulumi destroy` (dependents first) and name every step that fails on a known AWS condition:
    a bucket something writes to (objects, logs, Jobs' plans) is never empty, and a role a budget action attaches
    a policy to outside Pulumi refuses deletion (DeleteConflict) unless its policies are force-detached."""
    failures = []
    budget_targets = {str(r.inputs.get("definition", "")) for r in plan.resources if r.type == "aws:budgets/budgetAction:BudgetAction"}
    for resource in plan.resources:
        if resource.type == BUCKET and not resource.inputs.get("forceDestroy"):
            failures.append(f"{resource.name}: BucketNotEmpty")
        role_name = resource.outputs.get("name") if resource.type == ROLE else None
        if role_name and any(str(role_name) in target for target in budget_targets) and not resource.inputs.get("forceDetachPolicies"):
            failures.append(f"{resource.name}: DeleteConflict (the budget action's policy is attached)")
    return failures


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_a_non_production_destroy_has_no_failing_step(plans: dict[str, Plan], stack: str) -> None:
    assert _delete_failures(plans[stack]) == []


def test_production_keeps_its_buckets(plans: dict[str, Plan]) -> None:
    assert sorted(_delete_failures(plans["prod"])) == ["alb-access-logs: BucketNotEmpty", "models-bucket: BucketNotEmpty"]
    karpenter: dict[str, Any] = plans["prod"].get(ROLE, "gpu-fleet-controller").inputs
    assert karpenter["forceDetachPolicies"] is True


def test_the_replay_catches_a_role_the_budget_action_holds(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    role = plan.get(ROLE, "gpu-fleet-controller")
    audited = dataclasses.replace(role, inputs={k: v for k, v in role.inputs.items() if k != "forceDetachPolicies"})
    replay = dataclasses.replace(plan, resources=[audited if r is role else r for r in plan.resources])
    assert _delete_failures(replay) == ["gpu-fleet-controller: DeleteConflict (the budget action's policy is attached)"]
