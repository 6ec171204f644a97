"""GpuCluster built alone: admin access keyed by principal, its ClusterRef, and Args that refuse unsafe endpoints."""

from __future__ import annotations

from gpu_inference_platform import GpuCluster, GpuClusterArgs, SystemNodeGroupArgs
from tests.components.alone import ACCOUNT, build_alone, errors

ADMINS = ["arn:aws:iam::123456789012:role/platform-admins", "arn:aws:iam::210987654321:user/breakglass"]
NODES = SystemNodeGroupArgs("m7i.large", 2, 2, 3)


def _args(**changes: object) -> GpuClusterArgs:
    settings: dict[str, object] = {
        "cluster_name": "unit",
        "kubernetes_version": "1.34",
        "private_subnet_ids": ["subnet-a", "subnet-b"],
        "system_nodes": NODES,
        "account": ACCOUNT,
        "admin_principal_arns": ADMINS,
    }
    return GpuClusterArgs(**{**settings, **changes})  # type: ignore[arg-type]


def test_admins_are_keyed_by_principal_and_the_ref_names_the_cluster() -> None:
    refs = []
    plan = build_alone(lambda: refs.append(GpuCluster("eks", _args()).ref))
    entries = {r.name: r.inputs["principalArn"] for r in plan.of_type("aws:eks/accessEntry:AccessEntry")}
    assert entries == {"eks-admin-123456789012-role/platform-admins": ADMINS[0], "eks-admin-210987654321-user/breakglass": ADMINS[1]}
    associations = [r.name for r in plan.of_type("aws:eks/accessPolicyAssociation:AccessPolicyAssociation")]
    assert sorted(associations) == sorted(entries)
    cluster = plan.get("aws:eks/cluster:Cluster", "eks-eks")
    assert (cluster.inputs["name"], cluster.inputs["vpcConfig"]["endpointPublicAccess"]) == ("unit", False)
    (root,) = plan.roots()
    assert root.registered_outputs["cluster_name"] == "unit"
    assert root.registered_outputs["oidc_issuer_url"] == cluster.outputs["identities"][0]["oidcs"][0]["issuer"]
    assert root.registered_outputs["cluster_security_group_id"] == cluster.outputs["vpcConfig"]["clusterSecurityGroupId"]
    (ref,) = refs
    assert {"name", "arn", "endpoint", "oidc_provider_arn", "oidc_issuer_url", "security_group_id"} == set(vars(ref))


def test_args_refuse_unsafe_endpoints_and_unknown_versions() -> None:
    assert errors(lambda: _args(kubernetes_version="1.29", endpoint_public_access=True, public_access_cidrs=["0.0.0.0/0"])) == [
        "GpuClusterArgs.public_access_cidrs[0] = '0.0.0.0/0': opens the API server to the internet; list your office/VPN ranges instead",
        "GpuClusterArgs.kubernetes_version = '1.29': allowed: 1.32, 1.33, 1.34, 1.35",
    ]
    assert errors(lambda: _args(endpoint_public_access=True, admin_principal_arns=[ADMINS[0], ADMINS[0], "platform-admins"])) == [
        "GpuClusterArgs.public_access_cidrs = []: a public endpoint needs explicit CIDRs (EKS would default to 0.0.0.0/0)",
        "GpuClusterArgs.admin_principal_arns[2] = 'platform-admins': not an IAM role or user ARN (arn:aws:iam::<12-digit account>:role/<name>)",
        "GpuClusterArgs.admin_principal_arns = ['arn:aws:iam::123456789012:role/platform-admins', 'arn:aws:iam::123456789012:role/platform-admins', "
        "'platform-admins']: admin_principal_arns must be distinct",
    ]


def test_system_nodes_refuse_gpu_types_and_bad_bounds() -> None:
    assert errors(lambda: SystemNodeGroupArgs("g5.xlarge", 3, 1, 2)) == [
        "SystemNodeGroupArgs.instance_type = 'g5.xlarge': system nodes must not use GPU instances; "
        "allowed: m5.large, m6i.large, m6i.xlarge, m7g.large, m7g.xlarge, m7i.large, m7i.xlarge",
        "SystemNodeGroupArgs.min_size = 3: greater than max_size (2)",
    ]
    assert errors(lambda: SystemNodeGroupArgs("m5.huge", 0, 1, 2)) == [
        "SystemNodeGroupArgs.instance_type = 'm5.huge': unknown instance type; allowed: m5.large, m6i.large, m6i.xlarge, m7g.large, m7g.xlarge, m7i.large, m7i.xlarge",
        "SystemNodeGroupArgs.min_size = 0: must be at least 1",
    ]
