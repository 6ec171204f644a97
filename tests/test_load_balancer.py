"""LoadBalancer component: exact resources, HTTPS-only listeners, target group, security groups, controller, binding."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from gpu_inference_platform.components.load_balancer import ELB_LOG_DELIVERY_ACCOUNTS
from gpu_inference_platform.preview.harness import Plan
from gpu_inference_platform.program.regions import REGION_AVAILABILITY_ZONES
from tests.conftest import config_issues

SG_IN = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def test_children_are_exact(plans: dict[str, Plan]) -> None:
    logs = [
        ("aws:s3/bucket:Bucket", "alb-access-logs"),
        ("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", "alb-access-logs-public-access"),
        ("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "alb-access-logs-ownership"),
        ("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "alb-access-logs-encryption"),
        ("aws:s3/bucketVersioning:BucketVersioning", "alb-access-logs-versioning"),
        ("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "alb-access-logs-lifecycle"),
        ("aws:s3/bucketPolicy:BucketPolicy", "alb-access-logs-policy"),
    ]
    assert Counter((r.type, r.name) for r in plans["dev"].children("alb")) == Counter(
        [
            *logs,
            ("aws:ec2/securityGroup:SecurityGroup", "alb-alb"),
            (SG_IN, "alb-alb-443-203.0.113.0/24"),
            (SG_IN, "alb-alb-80-203.0.113.0/24"),
            ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "alb-alb-to-triton"),
            (SG_IN, "alb-pods-from-alb"),
            ("aws:lb/loadBalancer:LoadBalancer", "alb"),
            ("aws:lb/targetGroup:TargetGroup", "alb-triton"),
            ("aws:lb/listener:Listener", "alb-https"),
            ("aws:lb/listenerRule:ListenerRule", "alb-ready"),
            ("aws:lb/listenerRule:ListenerRule", "alb-model-minilm_embed"),
            ("aws:wafv2/webAcl:WebAcl", "alb"),
            ("aws:wafv2/webAclAssociation:WebAclAssociation", "alb"),
            ("aws:lb/listener:Listener", "alb-http"),
            ("aws:iam/role:Role", "alb-controller"),
            ("aws:iam/rolePolicy:RolePolicy", "alb-controller"),
            ("kubernetes:helm.sh/v3:Release", "alb-controller"),
            ("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding", "alb-triton"),
            ("aws:lb/targetGroup:TargetGroup", "alb-llm"),
            ("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding", "alb-llm"),
            ("aws:lb/listenerRule:ListenerRule", "alb-model-smollm2_generate"),
            ("aws:lb/listenerRule:ListenerRule", "alb-model-smollm2_generate-versions"),
        ]
    )


def test_alb_is_hardened(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    alb = plan.get("aws:lb/loadBalancer:LoadBalancer", "alb").inputs
    assert (alb["loadBalancerType"], alb["internal"], alb["dropInvalidHeaderFields"], alb["desyncMitigationMode"]) == ("application", False, True, "defensive")
    assert alb["enableDeletionProtection"] is True
    assert plans["dev"].get("aws:lb/loadBalancer:LoadBalancer", "alb").inputs["enableDeletionProtection"] is False
    assert alb["accessLogs"] == {"bucket": plan.get("aws:s3/bucket:Bucket", "alb-access-logs").outputs["bucket"], "enabled": True, "prefix": "alb"}
    assert all(s.startswith("network-public-") for s in alb["subnets"])
    staging = plans["staging"].get("aws:lb/loadBalancer:LoadBalancer", "alb").inputs
    assert staging["internal"] is True and all(s.startswith("network-private-") for s in staging["subnets"])


def test_https_only_with_modern_tls_and_only_the_public_model_forwarded(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    https = plan.get("aws:lb/listener:Listener", "alb-https").inputs
    assert (https["port"], https["protocol"], https["sslPolicy"]) == (443, "HTTPS", "ELBSecurityPolicy-TLS13-1-2-2021-06")
    assert https["certificateArn"] == "arn:aws:acm:us-west-2:123456789012:certificate/0b1d2c3e-3333-4a5b-8c9d-000000000003"
    assert https["defaultActions"][0]["fixedResponse"]["statusCode"] == "404"
    http = plan.get("aws:lb/listener:Listener", "alb-http").inputs
    assert http["defaultActions"] == [{"type": "redirect", "redirect": {"port": "443", "protocol": "HTTPS", "statusCode": "HTTP_301"}}]
    forward = [{"type": "forward", "targetGroupArn": plan.get("aws:lb/targetGroup:TargetGroup", "alb-triton").outputs["arn"]}]
    rules = {r.name: (r.inputs["conditions"], r.inputs["actions"]) for r in plan.of_type("aws:lb/listenerRule:ListenerRule")}
    to_llm = [{"type": "forward", "targetGroupArn": plan.get("aws:lb/targetGroup:TargetGroup", "alb-llm").outputs["arn"]}]
    embed, llm = "/v2/models/minilm_embed", "/v2/models/smollm2_generate"
    assert rules == {
        "alb-ready": ([{"pathPattern": {"values": ["/v2/health/ready"]}}], forward),
        "alb-model-minilm_embed": (
            [{"pathPattern": {"values": [f"{embed}/infer", f"{embed}/ready", f"{embed}/versions/*/infer", f"{embed}/versions/*/ready"]}}],
            forward,
        ),
        "alb-model-smollm2_generate": ([{"pathPattern": {"values": [f"{llm}/generate", f"{llm}/generate_stream", f"{llm}/ready"]}}], to_llm),
        "alb-model-smollm2_generate-versions": (
            [{"pathPattern": {"values": [f"{llm}/versions/*/generate", f"{llm}/versions/*/generate_stream", f"{llm}/versions/*/ready"]}}],
            to_llm,
        ),
    }, "each public model to its own group's target group"


def test_the_waf_takes_its_limits_from_the_model_declarations(plans: dict[str, Plan]) -> None:
    for stack, rate in (("dev", 6000), ("prod", 6000)):
        acl = plans[stack].get("aws:wafv2/webAcl:WebAcl", "alb").inputs
        body, per_ip = acl["rules"]
        assert body["statement"]["sizeConstraintStatement"]["size"] == 8192, "models.yaml: minilm_embed max_request_bytes"
        assert per_ip["statement"]["rateBasedStatement"]["limit"] == rate


def test_target_group_balances_on_outstanding_requests_and_checks_readiness(plans: dict[str, Plan]) -> None:
    group = plans["prod"].get("aws:lb/targetGroup:TargetGroup", "alb-triton").inputs
    assert (group["targetType"], group["port"], group["loadBalancingAlgorithmType"], group["deregistrationDelay"]) == (
        "ip",
        8000,
        "least_outstanding_requests",
        15,
    )
    assert group["healthCheck"] == {
        "path": "/v2/health/ready",
        "port": "traffic-port",
        "protocol": "HTTP",
        "matcher": "200",
        "interval": 10,
        "timeout": 5,
        "healthyThreshold": 2,
        "unhealthyThreshold": 2,
    }


def test_security_groups_open_only_what_is_needed(plans: dict[str, Plan]) -> None:
    plan = plans["staging"]
    rules = {r.name: r.inputs for r in plan.children("alb") if r.type == SG_IN}
    assert {n: (r["cidrIpv4"], r["fromPort"]) for n, r in rules.items() if n.startswith("alb-alb-")} == {
        "alb-alb-443-10.41.0.0/16": ("10.41.0.0/16", 443),
        "alb-alb-443-10.0.0.0/8": ("10.0.0.0/8", 443),
        "alb-alb-80-10.41.0.0/16": ("10.41.0.0/16", 80),
        "alb-alb-80-10.0.0.0/8": ("10.0.0.0/8", 80),
    }
    assert all(r["description"] for r in rules.values())
    pods = rules["alb-pods-from-alb"]
    assert (pods["fromPort"], pods["toPort"], pods["securityGroupId"]) == (
        8000,
        8000,
        plan.get("aws:eks/cluster:Cluster", "gpu-eks").outputs["vpcConfig"]["clusterSecurityGroupId"],
    )
    egress = plan.get("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "alb-alb-to-triton").inputs
    assert (egress["cidrIpv4"], egress["fromPort"], egress["toPort"]) == ("10.41.0.0/16", 8000, 8000)
    ports = {r["fromPort"] for r in rules.values()} | {egress["fromPort"]}
    assert 8002 not in ports, "the metrics port is never reachable from the load balancer"


def test_access_log_bucket_accepts_only_elb_delivery_over_tls(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    arn = plan.get("aws:s3/bucket:Bucket", "alb-access-logs").outputs["arn"]
    delivery, tls = json.loads(plan.get("aws:s3/bucketPolicy:BucketPolicy", "alb-access-logs-policy").inputs["policy"])["Statement"]
    assert (delivery["Principal"], delivery["Resource"]) == ({"AWS": "arn:aws:iam::797873946194:root"}, f"{arn}/alb/AWSLogs/123456789012/*")
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    encryption = plan.get("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", "alb-access-logs-encryption").inputs
    assert encryption["rules"][0]["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}, "ALB log delivery supports SSE-S3 only"
    lifecycle = plan.get("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration", "alb-access-logs-lifecycle").inputs["rules"][0]
    assert lifecycle["expiration"] == {"days": 365}


def test_controller_only_binds_targets_of_this_group(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    group_arns = sorted(plan.get("aws:lb/targetGroup:TargetGroup", f"alb-{group}").outputs["arn"] for group in ("triton", "llm"))
    statements = {s["Sid"]: s for s in json.loads(plan.get("aws:iam/rolePolicy:RolePolicy", "alb-controller").inputs["policy"])["Statement"]}
    assert statements["BindTritonTargets"]["Resource"] == group_arns
    assert all(a.split(":")[1].startswith("Describe") for a in statements["ReadLoadBalancing"]["Action"])
    release = plan.get("kubernetes:helm.sh/v3:Release", "alb-controller").inputs
    assert (release["chart"], release["version"], release["repositoryOpts"]) == (
        "aws-load-balancer-controller",
        "1.13.0",
        {"repo": "https://aws.github.io/eks-charts"},
    )
    assert release["values"]["enableServiceMutatorWebhook"] is False
    binding = plan.get("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding", "alb-triton").inputs
    assert binding["spec"] == {
        "serviceRef": {"name": "triton", "port": 8000},
        "targetGroupARN": plan.get("aws:lb/targetGroup:TargetGroup", "alb-triton").outputs["arn"],
        "targetType": "ip",
    }
    assert binding["metadata"]["namespace"] == "triton"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            {"certificateArn": "my-cert"},
            "gpu-inference-platform:loadBalancer.certificateArn = 'my-cert': String should match pattern "
            "'^arn:aws[a-z-]*:acm:[a-z0-9-]+:\\d{12}:certificate/[0-9a-f-]+$'",
        ),
        ({"scheme": "public"}, "gpu-inference-platform:loadBalancer.scheme = 'public': Input should be 'internet-facing' or 'internal'"),
        ({"allowedCidrs": []}, "gpu-inference-platform:loadBalancer.allowedCidrs = []: List should have at least 1 item after validation, not 0"),
    ],
)
def test_load_balancer_config_rules(mutate: dict[str, Any], expected: str) -> None:
    assert expected in config_issues("dev", lambda raw: raw["loadBalancer"].update(mutate))


def test_every_supported_region_has_an_elb_log_delivery_account() -> None:
    assert set(ELB_LOG_DELIVERY_ACCOUNTS) == set(REGION_AVAILABILITY_ZONES)
