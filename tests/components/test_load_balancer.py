"""LoadBalancer built alone: rules keyed by client range, only public models routed, a WAF from the declared limits, and Args that refuse what would fail at deploy."""

from __future__ import annotations

import json

from gpu_inference_platform import LoadBalancer, LoadBalancerArgs
from gpu_inference_platform.components.load_balancer import LoadBalancerBackend, stable_priority
from tests.components.alone import ACCOUNT, CLUSTER, build_alone, errors

CERTIFICATE = "arn:aws:acm:us-east-1:123456789012:certificate/0b1d2c3e-1111-4a5b-8c9d-000000000001"


def _embedder(models: list[str]) -> LoadBalancerBackend:
    return LoadBalancerBackend("triton", namespace="embed", service="embed", models=models)


LLM = LoadBalancerBackend("llm", namespace="llm", service="llm", generation_models=["chat"], deregistration_delay_s=45)


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
        "backends": [_embedder(["embed_b", "embed_a"])],
        "max_request_bytes": 4096,
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


def test_only_the_public_models_and_server_readiness_are_forwarded() -> None:
    plan = build_alone(lambda: LoadBalancer("edge", _args()))
    rules = {
        r.name: (r.inputs["priority"], [c["pathPattern"]["values"] for c in r.inputs["conditions"]], [a["type"] for a in r.inputs["actions"]])
        for r in plan.of_type("aws:lb/listenerRule:ListenerRule")
    }
    assert rules == {
        "edge-ready": (10, [["/v2/health/ready"]], ["forward"]),
        "edge-model-embed_a": (
            41651,
            [["/v2/models/embed_a/infer", "/v2/models/embed_a/ready", "/v2/models/embed_a/versions/*/infer", "/v2/models/embed_a/versions/*/ready"]],
            ["forward"],
        ),
        "edge-model-embed_b": (
            320,
            [["/v2/models/embed_b/infer", "/v2/models/embed_b/ready", "/v2/models/embed_b/versions/*/infer", "/v2/models/embed_b/versions/*/ready"]],
            ["forward"],
        ),
    }
    assert plan.get("aws:lb/listenerRule:ListenerRule", "edge-ready").aliases
    https = plan.get("aws:lb/listener:Listener", "edge-https").inputs
    assert [a["type"] for a in https["defaultActions"]] == ["fixed-response"]


def test_the_waf_refuses_oversized_bodies_and_rate_limits_each_client_ip() -> None:
    plan = build_alone(lambda: LoadBalancer("edge", _args(requests_per_5_min_per_ip=1200)))
    acl = plan.get("aws:wafv2/webAcl:WebAcl", "edge").inputs
    assert (acl["scope"], acl["defaultAction"]) == ("REGIONAL", {"allow": {}})
    body, rate = acl["rules"]
    assert (body["name"], body["priority"], body["action"]) == ("body-size", 0, {"block": {}})
    size = body["statement"]["sizeConstraintStatement"]
    assert (size["comparisonOperator"], size["size"], size["fieldToMatch"]) == ("GT", 4096, {"body": {"oversizeHandling": "MATCH"}})
    assert (rate["name"], rate["priority"], rate["action"]) == ("rate-per-ip", 1, {"block": {}})
    assert rate["statement"]["rateBasedStatement"] == {"limit": 1200, "aggregateKeyType": "IP", "evaluationWindowSec": 300}
    association = plan.get("aws:wafv2/webAclAssociation:WebAclAssociation", "edge").inputs
    assert association == {
        "resourceArn": plan.get("aws:lb/loadBalancer:LoadBalancer", "edge").outputs["arn"],
        "webAclArn": plan.get("aws:wafv2/webAcl:WebAcl", "edge").outputs["arn"],
    }
    (root,) = plan.roots()
    assert root.registered_outputs["web_acl_arn"] == plan.get("aws:wafv2/webAcl:WebAcl", "edge").outputs["arn"]


def test_args_refuse_a_certificate_from_another_region() -> None:
    assert errors(lambda: _args(region="eu-west-1")) == [
        f"LoadBalancerArgs.certificate_arn = '{CERTIFICATE}': the certificate is in us-east-1; an ALB can only use one from its own region (eu-west-1)"
    ]


def test_args_refuse_wildcard_or_missing_models_and_limits_the_waf_cannot_enforce() -> None:
    assert errors(lambda: _args(backends=[_embedder([])], max_request_bytes=65536, requests_per_5_min_per_ip=5)) == [
        "LoadBalancerArgs.public_models = []: list the models clients may call (the ensembles); internal models must stay unreachable",
        "LoadBalancerArgs.max_request_bytes = 65536: between 1 and 8192 (AWS WAF inspects at most that much of a body)",
        "LoadBalancerArgs.requests_per_5_min_per_ip = 5: between 10 and 2000000000 (AWS WAF rate-based rule limits)",
    ]
    assert errors(lambda: _args(backends=[_embedder(["*", "embed/../encoder", "embed"]), LoadBalancerBackend("llm", "llm", "llm", ["embed"])])) == [
        "LoadBalancerArgs.public_models[0] = '*': not a model name: letters, digits, '_', '.', '-' (no wildcards or '/')",
        "LoadBalancerArgs.public_models[1] = 'embed/../encoder': not a model name: letters, digits, '_', '.', '-' (no wildcards or '/')",
        "LoadBalancerArgs.public_models = ['*', 'embed/../encoder', 'embed', 'embed']: names must be distinct (each is one listener rule)",
    ]


def test_each_serving_group_has_its_own_target_group_routes_and_drain() -> None:
    plan = build_alone(lambda: LoadBalancer("edge", _args(backends=[_embedder(["embed_a"]), LLM])))
    groups = {r.name: r for r in plan.of_type("aws:lb/targetGroup:TargetGroup")}
    assert {name: r.inputs["deregistrationDelay"] for name, r in groups.items()} == {"edge-triton": 15, "edge-llm": 45}
    arns = {name: r.outputs["arn"] for name, r in groups.items()}
    rules = {
        r.name: (r.inputs["priority"], r.inputs["conditions"][0]["pathPattern"]["values"], r.inputs["actions"][0]["targetGroupArn"])
        for r in plan.of_type("aws:lb/listenerRule:ListenerRule")
    }
    assert rules == {
        "edge-ready": (10, ["/v2/health/ready"], arns["edge-triton"]),
        "edge-model-chat": (43393, ["/v2/models/chat/generate", "/v2/models/chat/generate_stream", "/v2/models/chat/ready"], arns["edge-llm"]),
        "edge-model-chat-versions": (
            12798,
            ["/v2/models/chat/versions/*/generate", "/v2/models/chat/versions/*/generate_stream", "/v2/models/chat/versions/*/ready"],
            arns["edge-llm"],
        ),
        "edge-model-embed_a": (
            41651,
            ["/v2/models/embed_a/infer", "/v2/models/embed_a/ready", "/v2/models/embed_a/versions/*/infer", "/v2/models/embed_a/versions/*/ready"],
            arns["edge-triton"],
        ),
    }
    bindings = {r.name: (r.inputs["metadata"]["namespace"], r.inputs["spec"]) for r in plan.of_type("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding")}
    assert bindings == {
        "edge-triton": ("embed", {"serviceRef": {"name": "embed", "port": 8000}, "targetGroupARN": arns["edge-triton"], "targetType": "ip"}),
        "edge-llm": ("llm", {"serviceRef": {"name": "llm", "port": 8000}, "targetGroupARN": arns["edge-llm"], "targetType": "ip"}),
    }
    policy = json.loads(plan.get("aws:iam/rolePolicy:RolePolicy", "edge-controller").inputs["policy"])
    (bind,) = [s for s in policy["Statement"] if s["Sid"] == "BindTritonTargets"]
    assert bind["Resource"] == sorted(arns.values())
    (root,) = plan.roots()
    assert root.registered_outputs["target_group_arn_suffixes"] == {
        "triton": groups["edge-triton"].outputs["arnSuffix"],
        "llm": groups["edge-llm"].outputs["arnSuffix"],
    }


def test_args_refuse_clashing_or_malformed_backends() -> None:
    clash = LoadBalancerBackend("triton", "llm", "llm", generation_models=["chat"], deregistration_delay_s=4000)
    assert errors(lambda: _args(backends=[_embedder(["embed"]), clash, LoadBalancerBackend("Bad_Name", "x", "x", ["other"])])) == [
        "LoadBalancerArgs.backends = ['triton', 'triton', 'Bad_Name']: names must be distinct (each names a target group)",
        "LoadBalancerArgs.backends[1].deregistration_delay_s = 4000: allowed: 0..3600",
        "LoadBalancerArgs.backends[2].name = 'Bad_Name': lowercase letters, digits and '-', at most 20 characters",
    ]
    versions = LoadBalancerBackend("llm", "llm", "llm", generation_models=["chat"])
    assert errors(lambda: _args(backends=[_embedder(["chat-versions"]), versions])) == [
        "LoadBalancerArgs.backends[1].generation_models = 'chat': "
        "the listener rule of its versioned paths would take the name of model chat-versions's rule; rename one model",
    ]
    assert errors(lambda: _args(backends=[])) == [
        "LoadBalancerArgs.public_models = []: list the models clients may call (the ensembles); internal models must stay unreachable",
        "LoadBalancerArgs.backends = []: at least one serving group must be behind the load balancer",
    ]


def test_adding_a_model_that_sorts_first_renumbers_no_rule() -> None:
    """Priorities come from each rule's name: the in-place updates of a renumbering would collide (PriorityInUse)."""

    def priorities(models: list[str]) -> dict[str, int]:
        plan = build_alone(lambda: LoadBalancer("edge", _args(backends=[_embedder(models)])))
        return {r.name: r.inputs["priority"] for r in plan.of_type("aws:lb/listenerRule:ListenerRule")}

    before, after = priorities(["embed_b"]), priorities(["aaa_first", "embed_b"])
    assert before == {"edge-ready": 10, "edge-model-embed_b": 320}
    assert {name: after[name] for name in before} == before and set(after) == {*before, "edge-model-aaa_first"}
    assert stable_priority("edge-model-embed_b", {320}) == 321, "a collision takes the next free priority"
