"""A spot-first GPU fleet with an on-demand fallback for an EKS cluster this program does not manage.

pip install -r requirements.txt && pulumi up -s example
"""

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from gpu_inference_platform import AccountContext, GpuPoolArgs, SpotFleet, SpotFleetArgs
from gpu_inference_platform.components.cluster_ref import existing_cluster

config = pulumi.Config()
region = pulumi.Config("aws").require("region")
zones = config.require_object("availabilityZones")
gpu_limit = config.require_int("gpuLimit")

cluster = existing_cluster(config.require("clusterName"), region)
provider = k8s.Provider("cluster", kubeconfig=cluster.kubeconfig)
account = AccountContext(account_id=aws.get_caller_identity_output().account_id, partition=aws.get_partition_output().partition, region=region)

fleet = SpotFleet(
    "gpu-fleet",
    SpotFleetArgs(
        cluster=cluster.ref,
        account=account,
        pools=[
            GpuPoolArgs("spot", ["g5.xlarge", "g6.xlarge", "g6e.xlarge"], zones, gpu_limit=gpu_limit, weight=100, termination_grace_period_s=110),
            GpuPoolArgs("on-demand", ["g6.xlarge"], zones, gpu_limit=2, weight=10, termination_grace_period_s=300),
        ],
        instance_tags={"team": "ml-platform", "cost-center": "ml"},
    ),
    pulumi.ResourceOptions(providers=[provider]),
)

pulumi.export("nodePools", fleet.node_pool_names)
pulumi.export("computeCapabilities", fleet.compute_capabilities)
pulumi.export("maxGpuHoursPerMonth", fleet.max_gpu_hours_per_month)
pulumi.export("controllerRoleName", fleet.controller_role_name)
