"""GpuCluster component: exact children, control-plane hardening, IRSA, system nodes, device plugin."""

from __future__ import annotations

import json

from gpu_inference_platform.preview.harness import Plan

CLUSTER = "aws:eks/cluster:Cluster"
ROLE = "aws:iam/role:Role"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"


def test_children_are_exact(plans: dict[str, Plan]) -> None:
    children = sorted((r.type, r.name) for r in plans["prod"].children("gpu"))
    assert children == sorted(
        [
            ("aws:kms/key:Key", "gpu-secrets"),
            ("aws:cloudwatch/logGroup:LogGroup", "gpu-control-plane"),
            ("aws:ec2/tag:Tag", "gpu-karpenter-discovery"),
            (ROLE, "gpu-cluster"),
            (ATTACHMENT, "gpu-cluster"),
            (CLUSTER, "gpu-eks"),
            ("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "gpu-oidc"),
            ("aws:eks/accessEntry:AccessEntry", "gpu-admin-123456789012-role/platform-admins"),
            ("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "gpu-admin-123456789012-role/platform-admins"),
            ("aws:eks/accessEntry:AccessEntry", "gpu-viewer-123456789012-role/gip-prod-preview"),
            ("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "gpu-viewer-123456789012-role/gip-prod-preview"),
            (ROLE, "gpu-vpc-cni"),
            (ATTACHMENT, "gpu-vpc-cni"),
            ("aws:eks/addon:Addon", "gpu-vpc-cni"),
            ("aws:eks/addon:Addon", "gpu-kube-proxy"),
            ("aws:eks/addon:Addon", "gpu-coredns"),
            (ROLE, "gpu-ebs-csi"),
            (ATTACHMENT, "gpu-ebs-csi"),
            ("aws:eks/addon:Addon", "gpu-aws-ebs-csi-driver"),
            ("kubernetes:storage.k8s.io/v1:StorageClass", "gpu-gp3"),
            (ROLE, "gpu-system-nodes"),
            (ATTACHMENT, "gpu-system-nodes-AmazonEKSWorkerNodePolicy"),
            (ATTACHMENT, "gpu-system-nodes-AmazonEC2ContainerRegistryReadOnly"),
            ("aws:ec2/launchTemplate:LaunchTemplate", "gpu-system-nodes"),
            ("aws:eks/nodeGroup:NodeGroup", "gpu-system"),
            ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "gpu-api-from-ci-runner"),
            ("pulumi:providers:kubernetes", "gpu-k8s"),
            ("kubernetes:apps/v1:DaemonSet", "gpu-nvidia-device-plugin"),
        ]
    )


def test_control_plane_is_hardened(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    cluster = plan.get(CLUSTER, "gpu-eks").inputs
    key_arn = plan.get("aws:kms/key:Key", "gpu-secrets").outputs["arn"]
    assert key_arn.startswith("arn:aws:kms:us-west-2:123456789012:key/")
    assert cluster["enabledClusterLogTypes"] == ["api", "audit", "authenticator", "controllerManager", "scheduler"]
    assert cluster["encryptionConfig"] == {"provider": {"keyArn": key_arn}, "resources": ["secrets"]}
    assert cluster["vpcConfig"]["endpointPrivateAccess"] is True
    assert cluster["vpcConfig"]["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in cluster["vpcConfig"]
    assert (cluster["name"], cluster["version"]) == ("gip-prod", "1.35")
    assert cluster["accessConfig"] == {"authenticationMode": "API", "bootstrapClusterCreatorAdminPermissions": True}
    assert cluster["upgradePolicy"] == {"supportType": "STANDARD"}
    assert [s.rsplit("-", 1)[0] for s in cluster["vpcConfig"]["subnetIds"]] == [
        "network-private-us-west-2a",
        "network-private-us-west-2b",
        "network-private-us-west-2c",
    ]
    log_group = plan.get("aws:cloudwatch/logGroup:LogGroup", "gpu-control-plane").inputs
    assert (log_group["name"], log_group["retentionInDays"], log_group["kmsKeyId"]) == ("/aws/eks/gip-prod/cluster", 365, key_arn)


def test_dev_public_endpoint_is_limited_to_configured_cidrs(plans: dict[str, Plan]) -> None:
    vpc_config = plans["dev"].get(CLUSTER, "gpu-eks").inputs["vpcConfig"]
    assert (vpc_config["endpointPublicAccess"], vpc_config["publicAccessCidrs"]) == (True, ["203.0.113.0/24"])


def test_irsa_role_for_vpc_cni_is_scoped_to_one_service_account(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    oidc = plan.get("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "gpu-oidc").inputs
    issuer = oidc["url"].removeprefix("https://")
    assert oidc["clientIdLists"] == ["sts.amazonaws.com"]
    trust = json.loads(plan.get(ROLE, "gpu-vpc-cni").inputs["assumeRolePolicy"])["Statement"]
    assert trust == [
        {
            "Effect": "Allow",
            "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{issuer}"},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{issuer}:sub": "system:serviceaccount:kube-system:aws-node", f"{issuer}:aud": "sts.amazonaws.com"}},
        }
    ]
    assert plan.get(ATTACHMENT, "gpu-vpc-cni").inputs["policyArn"] == "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"
    addon = plan.get("aws:eks/addon:Addon", "gpu-vpc-cni").inputs
    assert addon["serviceAccountRoleArn"].startswith("arn:aws:iam::123456789012:role/gpu-vpc-cni-")


def test_system_nodes_use_a_locked_down_launch_template(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    template = plan.get("aws:ec2/launchTemplate:LaunchTemplate", "gpu-system-nodes").inputs
    assert template["metadataOptions"] == {"httpEndpoint": "enabled", "httpTokens": "required", "httpPutResponseHopLimit": 1}
    assert template["blockDeviceMappings"] == [
        {"deviceName": "/dev/xvda", "ebs": {"volumeType": "gp3", "volumeSize": 80, "encrypted": "true", "deleteOnTermination": "true"}}
    ]
    assert "userData" not in template and "keyName" not in template
    nodes = plan.get("aws:eks/nodeGroup:NodeGroup", "gpu-system").inputs
    assert nodes["scalingConfig"] == {"minSize": 3, "desiredSize": 3, "maxSize": 6}
    assert (nodes["instanceTypes"], nodes["amiType"], nodes["capacityType"]) == (["m7i.xlarge"], "AL2023_x86_64_STANDARD", "ON_DEMAND")
    assert nodes["launchTemplate"]["version"] == "1"
    assert "remoteAccess" not in nodes
    assert len(nodes["subnetIds"]) == 3 and all("network-private-" in s for s in nodes["subnetIds"])


def test_prod_admins_get_cluster_admin_through_access_entries(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    entry = plan.get("aws:eks/accessEntry:AccessEntry", "gpu-admin-123456789012-role/platform-admins").inputs
    association = plan.get("aws:eks/accessPolicyAssociation:AccessPolicyAssociation", "gpu-admin-123456789012-role/platform-admins").inputs
    assert entry["principalArn"] == "arn:aws:iam::123456789012:role/platform-admins"
    assert association["policyArn"] == "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
    assert association["accessScope"] == {"type": "cluster"}
    assert [r.name for r in plans["dev"].children("gpu") if r.type == "aws:eks/accessEntry:AccessEntry"] == ["gpu-viewer-123456789012-role/gip-dev-preview"], (
        "dev has no admins beyond the deployer, only the preview's viewer"
    )


def test_cluster_security_group_is_tagged_for_karpenter_discovery(plans: dict[str, Plan]) -> None:
    tag = plans["dev"].get("aws:ec2/tag:Tag", "gpu-karpenter-discovery").inputs
    cluster = plans["dev"].get(CLUSTER, "gpu-eks").outputs
    assert tag == {"resourceId": cluster["vpcConfig"]["clusterSecurityGroupId"], "key": "karpenter.sh/discovery", "value": "gip-dev"}


def test_kubernetes_provider_uses_exec_auth_and_is_secret(plans: dict[str, Plan]) -> None:
    provider = plans["dev"].get("pulumi:providers:kubernetes", "gpu-k8s").inputs
    assert provider["kubeconfig"] == "[secret]"


def test_device_plugin_runs_only_on_gpu_nodes_and_tolerates_the_gpu_taint(plans: dict[str, Plan]) -> None:
    plugin = plans["dev"].get("kubernetes:apps/v1:DaemonSet", "gpu-nvidia-device-plugin").inputs
    pod = plugin["spec"]["template"]["spec"]
    assert plugin["metadata"]["namespace"] == "kube-system"
    assert pod["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert [t["matchExpressions"][0]["key"] for t in terms] == ["karpenter.k8s.aws/instance-gpu-manufacturer", "nvidia.com/gpu.present"]
    assert pod["containers"][0]["image"] == "nvcr.io/nvidia/k8s-device-plugin:v0.17.1"
    assert pod["containers"][0]["securityContext"] == {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def test_volumes_have_a_driver_and_an_encrypted_default_class(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    addon = plan.get("aws:eks/addon:Addon", "gpu-aws-ebs-csi-driver").inputs
    role = plan.get(ROLE, "gpu-ebs-csi")
    assert addon["serviceAccountRoleArn"] == role.outputs["arn"]
    assert "system:serviceaccount:kube-system:ebs-csi-controller-sa" in role.inputs["assumeRolePolicy"]
    assert plan.get(ATTACHMENT, "gpu-ebs-csi").inputs["policyArn"] == "arn:aws:iam::aws:policy/service-role/AmazonEBSCSIDriverPolicy"
    storage_class = plan.get("kubernetes:storage.k8s.io/v1:StorageClass", "gpu-gp3").inputs
    assert (storage_class["metadata"]["name"], storage_class["provisioner"]) == ("gp3", "ebs.csi.aws.com")
    assert storage_class["parameters"] == {"type": "gp3", "encrypted": "true", "fsType": "ext4"}
    assert storage_class["metadata"]["annotations"] == {"storageclass.kubernetes.io/is-default-class": "true"}
    assert storage_class["volumeBindingMode"] == "WaitForFirstConsumer"


def test_vpc_cni_enforces_network_policies(plans: dict[str, Plan]) -> None:
    addon = plans["prod"].get("aws:eks/addon:Addon", "gpu-vpc-cni").inputs
    assert json.loads(addon["configurationValues"]) == {"enableNetworkPolicy": "true"}


def test_the_device_plugins_checkov_exceptions_carry_their_reasons(plans: dict[str, Plan]) -> None:
    annotations = plans["prod"].get("kubernetes:apps/v1:DaemonSet", "gpu-nvidia-device-plugin").inputs["metadata"]["annotations"]
    checks = {value.split("=", 1)[0]: value.split("=", 1)[1] for value in annotations.values()}
    assert sorted(checks) == ["CKV_K8S_22", "CKV_K8S_23", "CKV_K8S_8", "CKV_K8S_9"]
    assert all(len(reason) > 30 for reason in checks.values())
