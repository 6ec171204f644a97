"""Resource identity across the library restructure (0.2.0), and the library's shape.

`tests/data/urns/<stack>.txt` is the URN set each committed stack planned at commit
3b90bf5, before the restructure. A `pulumi up` after an upgrade must not replace
anything: every old URN is either still planned or named by an alias of the resource
that replaced it, and every new URN is either old, carries such an alias, or is one of
the resources added on purpose since (`ADDED`, each with the change that added it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from gpu_inference_platform.preview.harness import Plan, PlannedResource
from tests.conftest import ROOT, STACKS

URNS = ROOT / "tests" / "data" / "urns"
COMPONENTS = ROOT / "src" / "gpu_inference_platform" / "components"
COMPONENT_MODULES = {
    "budget_alarms",
    "gpu_cluster",
    "load_balancer",
    "model_repository",
    "monitoring",
    "network",
    "spot_fleet",
    "triton_server",
}


ADDED = {
    # Deployable for real (issue 12): volumes, alert delivery and Karpenter metrics.
    ("aws:iam/role:Role", "gpu-ebs-csi"),
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "gpu-ebs-csi"),
    ("aws:eks/addon:Addon", "gpu-aws-ebs-csi-driver"),
    ("kubernetes:storage.k8s.io/v1:StorageClass", "gpu-gp3"),
    ("aws:iam/role:Role", "monitoring-alertmanager"),
    ("aws:iam/rolePolicy:RolePolicy", "monitoring-alertmanager"),
    ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-karpenter"),
    ("aws:costexplorer/costAllocationTag:CostAllocationTag", "budget-tag-stack"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "triton-default-deny"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "triton-dns-and-https"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "triton-clients"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "models-engines-default-deny"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "models-engines-dns-and-https"),
    ("gpuinfra:cirunner:CiRunner", "ci-runner"),
    ("aws:ec2/securityGroup:SecurityGroup", "ci-runner-builds"),
    ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "ci-runner-builds-https"),
    ("aws:kms/key:Key", "ci-runner-logs"),
    ("aws:cloudwatch/logGroup:LogGroup", "ci-runner-logs"),
    ("aws:iam/role:Role", "ci-runner-builds"),
    ("aws:iam/rolePolicy:RolePolicy", "ci-runner-builds"),
    ("aws:codebuild/project:Project", "ci-runner"),
    ("aws:codebuild/webhook:Webhook", "ci-runner"),
    # Hostile clients (issue 13): one route per public model, and a WAF on the ALB.
    ("aws:lb/listenerRule:ListenerRule", "alb-model-minilm_embed"),
    ("aws:wafv2/webAcl:WebAcl", "alb"),
    ("aws:wafv2/webAclAssociation:WebAclAssociation", "alb"),
    # LLM serving (issue 15): the `llm` group of every committed stack, its routes and target group, its scrape and alarm.
    ("gpuinfra:tritonserver:TritonServer", "llm"),
    ("kubernetes:core/v1:Namespace", "llm"),
    ("kubernetes:core/v1:Service", "llm"),
    ("kubernetes:core/v1:ServiceAccount", "llm"),
    ("kubernetes:core/v1:ConfigMap", "llm-verifier"),
    ("aws:iam/role:Role", "llm"),
    ("aws:iam/rolePolicyAttachment:RolePolicyAttachment", "llm-models-read"),
    ("kubernetes:apps/v1:Deployment", "llm-floor"),
    ("kubernetes:apps/v1:Deployment", "llm-spot"),
    ("kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "llm-spot"),
    ("kubernetes:policy/v1:PodDisruptionBudget", "llm"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "llm-clients"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "llm-default-deny"),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "llm-dns-and-https"),
    ("aws:lb/targetGroup:TargetGroup", "alb-llm"),
    ("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding", "alb-llm"),
    ("aws:lb/listenerRule:ListenerRule", "alb-model-smollm2_generate"),
    ("aws:lb/listenerRule:ListenerRule", "alb-model-smollm2_generate-versions"),
    ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "monitoring-llm"),
    ("aws:cloudwatch/metricAlarm:MetricAlarm", "monitoring-alb-unhealthy-llm"),
    # First up (issue 26): the in-VPC runner reaches the private API.
    ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "gpu-api-from-ci-runner"),
    ("aws:eks/accessEntry:AccessEntry", "gpu-viewer-123456789012-role/gip-{stack}-preview"),
    ("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "gpu-viewer-123456789012-role/gip-{stack}-preview"),
}
"""Resources added on purpose after the snapshot: new, so nothing of the old state is replaced by them."""


CONTENT_ADDRESSED = ("aws:s3/bucketObjectv2:BucketObjectv2", "kubernetes:batch/v1:Job")
"""Named by the model build's tree hash: a new build adds new objects (the old ones are retained) and new engine Jobs."""


def _identities(plan: Plan, before: set[str]) -> tuple[list[PlannedResource], set[str]]:
    """The plan's resources and the snapshot's URNs, both without the content-addressed ones."""
    kept = [r for r in plan.resources if r.type not in CONTENT_ADDRESSED]
    return kept, {urn for urn in before if not any(f"${kind}::" in urn for kind in CONTENT_ADDRESSED)}


def _renamed(plan: Plan, before: set[str]) -> dict[str, set[str]]:
    """New URN -> the old URNs its aliases name (provider type aliases such as BucketV2 -> Bucket name no old URN)."""
    resources, before = _identities(plan, before)
    added = {(kind, name.format(stack=plan.stack)) for kind, name in ADDED}
    return {r.urn: set(r.aliases) & before for r in resources if r.urn not in before and (r.type, r.name) not in added}


@pytest.mark.parametrize("stack", STACKS)
def test_no_resource_is_replaced_by_the_restructure(plans: dict[str, Plan], stack: str) -> None:
    resources, before = _identities(plans[stack], set((URNS / f"{stack}.txt").read_text().split()))
    renamed = _renamed(plans[stack], before)
    gone = before - {r.urn for r in resources}
    assert all(len(old) == 1 for old in renamed.values()), renamed
    assert {old for olds in renamed.values() for old in olds} == gone
    added = {(kind, name.format(stack=stack)) for kind, name in ADDED}
    assert {(r.type, r.name) for r in resources if r.urn not in before and not set(r.aliases) & before} == added


def test_the_renames_are_the_positional_children(plans: dict[str, Plan]) -> None:
    before = set((URNS / "prod.txt").read_text().split())
    renamed = {new.rsplit("::", 1)[-1]: sorted(o.rsplit("::", 1)[-1] for o in old) for new, old in _renamed(plans["prod"], before).items()}
    assert renamed == {
        "gpu-admin-123456789012-role/platform-admins": ["gpu-admin-0"],
        "budget-email-ml-platform-oncall@example.com": ["budget-email-0"],
        "budget-email-finops@example.com": ["budget-email-1"],
        "alb-alb-443-0.0.0.0/0": ["alb-alb-443-0"],
        "alb-alb-80-0.0.0.0/0": ["alb-alb-80-0"],
        "alb-ready": ["alb-inference"],
    }


def test_every_component_registers_all_its_outputs(plans: dict[str, Plan]) -> None:
    registered = {r.type: sorted(r.registered_outputs) for r in plans["prod"].roots()}
    assert registered == {
        "gpuinfra:network:Network": ["private_subnet_ids", "public_subnet_ids", "vpc_id"],
        "gpuinfra:gpucluster:GpuCluster": [
            "cluster_arn",
            "cluster_name",
            "cluster_security_group_id",
            "endpoint",
            "kubeconfig",
            "kubernetes_version",
            "oidc_issuer_url",
            "oidc_provider_arn",
            "storage_class_name",
        ],
        "gpuinfra:spotfleet:SpotFleet": [
            "compute_capabilities",
            "controller_role_arn",
            "controller_role_name",
            "interruption_queue_url",
            "max_gpu_hours_per_month",
            "max_gpus",
            "node_class_name",
            "node_pool_names",
            "node_role_name",
        ],
        "gpuinfra:modelrepository:ModelRepository": ["bucket_name", "engine_job_names", "kms_key_arn", "prefix", "read_policy_arn", "tree_hash"],
        "gpuinfra:tritonserver:TritonServer": ["deployment_names", "namespace", "role_arn", "service_name"],
        "gpuinfra:loadbalancer:LoadBalancer": [
            "arn",
            "arn_suffix",
            "dns_name",
            "security_group_id",
            "target_group_arn",
            "target_group_arn_suffix",
            "target_group_arn_suffixes",
            "web_acl_arn",
        ],
        "gpuinfra:budgetalarms:BudgetAlarms": ["budget_name", "deny_gpu_launch_policy_arn", "topic_arn"],
        "gpuinfra:monitoring:Monitoring": ["gpu_namespace", "grafana_admin_password", "namespace"],
        "gpuinfra:cirunner:CiRunner": ["project_name", "role_arn", "runs_on", "security_group_id"],
    }
    fleet = next(r for r in plans["prod"].roots() if r.type == "gpuinfra:spotfleet:SpotFleet").registered_outputs
    assert (fleet["node_class_name"], fleet["node_pool_names"], fleet["compute_capabilities"]) == (
        "gpu-fleet-gpu",
        ["gpu-fleet-spot", "gpu-fleet-on-demand"],
        ["8.6", "8.9"],
    )
    monitoring = next(r for r in plans["prod"].roots() if r.type == "gpuinfra:monitoring:Monitoring").registered_outputs
    assert monitoring["grafana_admin_password"] == "[secret]"


def _package_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("gpu_inference_platform")}


@pytest.mark.parametrize("module", sorted(COMPONENT_MODULES))
def test_components_are_one_hop_from_their_building_blocks(module: str) -> None:
    """A component imports building blocks (constants, base, iam, validation, ...), never another component."""
    imported = {name.rsplit(".", 1)[-1] for name in _package_imports(COMPONENTS / f"{module}.py")}
    assert imported & COMPONENT_MODULES == set()
    assert all(name.startswith("gpu_inference_platform.components.") for name in _package_imports(COMPONENTS / f"{module}.py"))


def test_the_constants_module_is_a_leaf() -> None:
    assert _package_imports(COMPONENTS / "constants.py") == set()
