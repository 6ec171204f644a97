"""Triton (on-demand floor + elastic spot tier) behind an internal HTTPS ALB, on an EKS cluster this program does not manage.

The cluster needs GPU nodes labelled `karpenter.sh/capacity-type` (for example the
`spot-fleet-on-existing-cluster` example) and a published model build.

    pip install -r requirements.txt && pulumi up -s example
"""

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from gpu_inference_platform import AccountContext, LoadBalancer, LoadBalancerArgs, LoadBalancerBackend, TritonServer, TritonServerArgs
from gpu_inference_platform.components.cluster_ref import existing_cluster

config = pulumi.Config()
region = pulumi.Config("aws").require("region")
tree_hash = config.require("modelTreeHash")

cluster = existing_cluster(config.require("clusterName"), region)
in_cluster = pulumi.ResourceOptions(providers=[k8s.Provider("cluster", kubeconfig=cluster.kubeconfig)])
account = AccountContext(account_id=aws.get_caller_identity_output().account_id, partition=aws.get_partition_output().partition, region=region)

triton = TritonServer(
    "embeddings",
    TritonServerArgs(
        image="nvcr.io/nvidia/tritonserver:25.06-py3",
        model_bucket=config.require("modelBucket"),
        model_prefix=f"models/{tree_hash}/",
        model_tree_hash=tree_hash,
        model_read_policy_arn=config.require("modelReadPolicyArn"),
        cluster=cluster.ref,
        floor_capacity_type="on-demand",
        floor_replicas=1,
        min_spot_replicas=1,
        max_spot_replicas=4,
    ),
    in_cluster,
)
edge = LoadBalancer(
    "embeddings-alb",
    LoadBalancerArgs(
        cluster=cluster.ref,
        vpc_id=cluster.vpc_id,
        vpc_cidr=config.require("vpcCidr"),
        subnet_ids=config.require_object("privateSubnetIds"),
        account=account,
        region=region,
        certificate_arn=config.require("certificateArn"),
        allowed_cidrs=config.require_object("allowedCidrs"),
        backends=[LoadBalancerBackend("triton", namespace=triton.namespace, service=triton.service_name, models=["minilm_embed"])],
        max_request_bytes=8192,
    ),
    pulumi.ResourceOptions.merge(in_cluster, pulumi.ResourceOptions(depends_on=[triton])),
)

pulumi.export("endpoint", edge.dns_name)
pulumi.export("deployments", triton.deployment_names)
