"""LoadBalancer built alone: rules keyed by client range, wiring from the ClusterRef, and Args that refuse what would fail at deploy."""

from __future__ import annotations

from gpu_inference_platform import LoadBalancer, LoadBalancerArgs
from tests.components.alone import ACCOUNT, CLUSTER, build_alone, errors

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0b1d2c3e-1111-4a5b-8c9d-000000000001"


def _args(**changes: object) -> LoadBalancerArgs:
    settings: dict[str, object] = {
        "cluster": CLUSTER,
        "vpc_id": "vpc-0unit",
        "vpc_cidr": "10.8.0.0/16",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "account": ACCOUNT,
        "region": "us-east-1",
        "certificate_arn": CERTIFICATE,
        "allowed_cidrs": ["10.0.0.0/8", "192.168.0.0/16"],
        "triton_namespace": "embed",
        "triton_service": "embed",
    }
    return LoadBalancerArgs(**{**settings, **changes})  # type: ignore[arg-type]


def test_rules_are_keyed_by_range_and_the_defaults_are_internal_and_protected() -> None:
    plan = build_alone(lambda: LoadBalancer("edge", _args()))
    ingress = {r.name: (r.inputs.get("cidrIpv4"), r.inputs["fromPort"]) for r in plan.of_type("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")}
    assert ingress == {
        "edge-alb-443-10.0.0.0/8": ("10.0.0.0/8", 443),
        "edge-alb-443-192.168.0.0/16": ("192.168.0.0/16", 443),
        "edge-alb-80-10.0.0.0/8": ("10.0.0.0/8", 80),
        "edge-alb-80-192.168.0.0/16": ("192.168.0.0/16", 80),
        "edge-pods-from-alb": (None, 8000),
    }
    assert plan.get("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "edge-pods-from-alb").inputs["securityGroupId"] == CLUSTER.security_group_id
    alb = plan.get("aws:lb/loadBalancer:LoadBalancer", "edge").inputs
    assert (alb["internal"], alb["enableDeletionProtection"]) == (True, True)
    controller = plan.get("kubernetes:helm.sh/v3:Release", "edge-controller").inputs
    assert (controller["chart"], controller["version"], controller["values"]["clusterName"]) == ("aws-load-balancer-controller", "1.13.0", "unit")
    (root,) = plan.roots()
    assert root.registered_outputs["target_group_arn"] == plan.get("aws:lb/targetGroup:TargetGroup", "edge-triton").outputs["arn"]


def test_args_refuse_unknown_regions_bad_certificates_and_duplicate_ranges() -> None:
    assert errors(lambda: _args(region="mars-north-1", certificate_arn="my-cert", allowed_cidrs=["10.0.0.0/8", "10.0.0.0/8", "10.0.0.1/8"])) == [
        "LoadBalancerArgs.certificate_arn = 'my-cert': not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)",
        "LoadBalancerArgs.allowed_cidrs[2] = '10.0.0.1/8': host bits are set; did you mean 10.0.0.0/8?",
        "LoadBalancerArgs.allowed_cidrs = ['10.0.0.0/8', '10.0.0.0/8', '10.0.0.1/8']: ranges must be distinct (each is one security-group rule)",
        "LoadBalancerArgs.region = 'mars-north-1': no known log-delivery account; allowed: us-east-1, us-east-2, us-west-2, eu-west-1, eu-central-1, "
        "ap-northeast-1, ap-southeast-2",
    ]
