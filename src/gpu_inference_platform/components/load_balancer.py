"""LoadBalancer: a Pulumi-managed ALB in front of Triton, bound to its pods by the AWS Load Balancer Controller.

HTTPS only (HTTP just redirects), TLS 1.2+, invalid headers dropped, access logs, an IP
target group with least-outstanding-requests and /v2/health/ready checks. Only the server's
readiness and the inference and readiness paths of the public models are forwarded, so
internal models (a tokenizer, an encoder) are unreachable from outside; the metrics port is
never a target. A WAF web ACL refuses bodies over the models' declared size and rate-limits
each client IP. The controller only registers pod IPs (TargetGroupBinding); it creates no
load balancers.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws
import pulumi_kubernetes as k8s

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.cluster_ref import ClusterRef
from gpu_inference_platform.components.constants import LOAD_BALANCER_CONTROLLER_CHART, SYSTEM_NODE_SELECTOR, TRITON_HTTP_PORT, TRITON_READY_PATH
from gpu_inference_platform.components.iam import AccountContext, Statement, policy_document, service_account_role
from gpu_inference_platform.components.s3 import PrivateBucket, private_bucket
from gpu_inference_platform.components.security_groups import tcp_ingress_from_group
from gpu_inference_platform.components.validation import OPEN_CIDRS, ConfigIssue, KeyPath, args_key, check_args, check_cidr, check_ip_family

LBC_SERVICE_ACCOUNT = "aws-load-balancer-controller"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"
MODEL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
"""A Triton model name that is also a literal ALB path segment (no `*` or `?` wildcards, no `/`)."""
BACKEND_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,18}[a-z0-9])?$")
MAX_DEREGISTRATION_DELAY_S = 3600
MAX_PUBLIC_MODELS = 50
"""One listener rule per public model; an ALB listener holds at most 100 rules."""
WAF_BODY_INSPECTION_LIMIT = 8192
"""Bytes of an ALB request body AWS WAF inspects; a size rule can only refuse bodies below it."""
CERTIFICATE_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]+$")
CONTROLLER_READ_ACTIONS = (
    *(f"ec2:Describe{what}" for what in ("AccountAttributes", "Addresses", "AvailabilityZones", "InternetGateways", "Vpcs", "VpcPeeringConnections")),
    *(f"ec2:Describe{what}" for what in ("Subnets", "SecurityGroups", "Instances", "NetworkInterfaces", "Tags", "RouteTables")),
    *(
        f"elasticloadbalancing:Describe{what}"
        for what in (
            "LoadBalancers",
            "LoadBalancerAttributes",
            "Listeners",
            "ListenerCertificates",
            "SSLPolicies",
            "Rules",
            "TargetGroups",
            "TargetGroupAttributes",
            "TargetHealth",
            "Tags",
            "TrustStores",
            "ListenerAttributes",
            "CapacityReservation",
        )
    ),
)
"""The read calls of the controller's upstream policy (v2.13.0) it may make in TargetGroupBinding mode (policy/references/)."""
ELB_LOG_DELIVERY_ACCOUNTS = {
    "us-east-1": "127311923021",
    "us-east-2": "033677994240",
    "us-west-2": "797873946194",
    "eu-west-1": "156460612806",
    "eu-central-1": "054676820928",
    "ap-northeast-1": "582318560864",
    "ap-southeast-2": "783225319266",
}
"""Elastic Load Balancing accounts that deliver access logs, per region (AWS documentation)."""


def model_paths(model: str) -> list[str]:
    """ALB path patterns of one model's inference and readiness, any version (four of the five values a condition allows)."""
    return [f"/v2/models/{model}/{verb}" for verb in ("infer", "ready")] + [f"/v2/models/{model}/versions/*/{verb}" for verb in ("infer", "ready")]


GENERATION_VERBS = ("generate", "generate_stream", "ready")
"""Triton's generate extension (JSON and server-sent events) and readiness: what a generation model's clients call."""


def generation_paths(model: str) -> list[list[str]]:
    """ALB path patterns of one generation model, as two conditions (a condition allows five values): unversioned, then any version."""
    return [[f"/v2/models/{model}/{verb}" for verb in GENERATION_VERBS], [f"/v2/models/{model}/versions/*/{verb}" for verb in GENERATION_VERBS]]


READY_RULE_PRIORITY = 10
MODEL_RULE_PRIORITIES = range(20, 50_000)
"""Listener-rule priorities of the model routes (ALB allows 1-50000). The routes' paths are disjoint, so only uniqueness matters."""


def stable_priority(rule: str, taken: set[int]) -> int:
    """A priority derived from the rule's name, not its sorted position: adding a model never renumbers the others (whose
    in-place updates would collide, PriorityInUse). On a collision the next free priority is used."""
    span = MODEL_RULE_PRIORITIES
    offset = int(hashlib.sha256(rule.encode()).hexdigest(), 16) % len(span)
    while span[offset] in taken:
        offset = (offset + 1) % len(span)
    return span[offset]


@dataclass(frozen=True)
class LoadBalancerBackend:
    """One serving group behind the ALB: its own target group, bound to its Service, and the public models routed to it."""

    name: str
    """Target group and binding suffix (`<alb>-<name>`): the serving group's name."""
    namespace: str
    """Namespace of the group's Service (`TritonServer.namespace`)."""
    service: str
    """The Service whose pods become the group's targets (`TritonServer.service_name`)."""
    models: Sequence[str] = ()
    """Batch models (ensembles) clients may call: their infer and ready paths are forwarded."""
    generation_models: Sequence[str] = ()
    """Generation models clients may call: their generate, generate_stream and ready paths are forwarded."""
    deregistration_delay_s: int | None = None
    """Seconds a draining target keeps in-flight requests; at least the longest generation for an LLM group. Default: the ALB's."""

    @property
    def public_models(self) -> list[str]:
        """Every model routed to this backend."""
        return [*self.models, *self.generation_models]


def edge_issues(key: KeyPath, public_models: Sequence[str], max_request_bytes: int, requests_per_5_min_per_ip: int) -> Iterator[ConfigIssue]:
    """Public models are distinct literal names; the WAF's limits are ones it can enforce."""
    if not public_models:
        yield ConfigIssue(key("public_models"), [], "list the models clients may call (the ensembles); internal models must stay unreachable")
    if len(public_models) > MAX_PUBLIC_MODELS:
        yield ConfigIssue(key("public_models"), len(public_models), f"at most {MAX_PUBLIC_MODELS} (one listener rule each)")
    for i, model in enumerate(public_models):
        if not MODEL_NAME.match(model):
            yield ConfigIssue(key(f"public_models[{i}]"), model, "not a model name: letters, digits, '_', '.', '-' (no wildcards or '/')")
    if len(set(public_models)) != len(public_models):
        yield ConfigIssue(key("public_models"), list(public_models), "names must be distinct (each is one listener rule)")
    if not 1 <= max_request_bytes <= WAF_BODY_INSPECTION_LIMIT:
        limit = f"between 1 and {WAF_BODY_INSPECTION_LIMIT} (AWS WAF inspects at most that much of a body)"
        yield ConfigIssue(key("max_request_bytes"), max_request_bytes, limit)
    if not 10 <= requests_per_5_min_per_ip <= 2_000_000_000:
        yield ConfigIssue(key("requests_per_5_min_per_ip"), requests_per_5_min_per_ip, "between 10 and 2000000000 (AWS WAF rate-based rule limits)")


def load_balancer_issues(key: KeyPath, certificate_arn: str, allowed_cidrs: Sequence[str], region: str) -> Iterator[ConfigIssue]:
    """An ACM certificate ARN of the ALB's region and at least one distinct, well-formed client range."""
    if not CERTIFICATE_ARN.match(certificate_arn):
        yield ConfigIssue(key("certificate_arn"), certificate_arn, "not an ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)")
    elif (certificate_region := certificate_arn.split(":")[3]) != region:
        yield ConfigIssue(
            key("certificate_arn"), certificate_arn, f"the certificate is in {certificate_region}; an ALB can only use one from its own region ({region})"
        )
    if not allowed_cidrs:
        yield ConfigIssue(key("allowed_cidrs"), [], f"list the client ranges allowed to reach the load balancer (e.g. {OPEN_CIDRS[0]} for a public API)")
    for i, cidr in enumerate(allowed_cidrs):
        yield from check_cidr(key, f"allowed_cidrs[{i}]", cidr)
    yield from check_ip_family(key, "allowed_cidrs", allowed_cidrs, 4, "the ALB is IPv4 and its rules are cidr_ipv4")
    if len(set(allowed_cidrs)) != len(allowed_cidrs):
        yield ConfigIssue(key("allowed_cidrs"), list(allowed_cidrs), "ranges must be distinct (each is one security-group rule)")


@dataclass(frozen=True)
class LoadBalancerArgs:
    """Settings and wiring of the ALB."""

    cluster: ClusterRef
    """The cluster Triton runs in (controller IRSA, pod security group)."""
    vpc_id: pulumi.Input[str]
    """VPC of the cluster."""
    vpc_cidr: str
    """Its range: the ALB may only reach Triton's port inside it."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Public subnets for an internet-facing ALB, private ones for an internal ALB."""
    account: AccountContext
    """Account, partition and region (log delivery grant)."""
    region: str
    """Region of the ALB; must have an Elastic Load Balancing log-delivery account (`ELB_LOG_DELIVERY_ACCOUNTS`)."""
    certificate_arn: str
    """ACM certificate of the HTTPS listener (same region)."""
    allowed_cidrs: Sequence[str]
    """Client ranges allowed on 443 (and 80, which only redirects); one security-group rule each."""
    backends: Sequence[LoadBalancerBackend]
    """The serving groups, each with its target group; the first also answers the server readiness path."""
    max_request_bytes: int
    """Largest request body the WAF lets through (the models' declared `max_request_bytes`, at most 8192)."""
    requests_per_5_min_per_ip: int = 6000
    """Requests one client IP may send in any 5 minutes before the WAF blocks it (AWS WAF rate-based rule)."""
    scheme: Literal["internet-facing", "internal"] = "internal"
    """`internal` (default) or `internet-facing`."""
    deletion_protection: bool = True
    """Refuse to delete the ALB (turn off for throwaway stacks)."""
    force_destroy_access_logs: bool = False
    """`pulumi destroy` deletes the access-log bucket with its logs (throwaway stacks); otherwise it must be emptied first."""
    deregistration_delay_s: int = 15
    """Seconds a draining target keeps in-flight requests; Triton's preStop sleep must exceed it."""
    idle_timeout_s: int = 60
    """Idle connection timeout of the ALB."""
    access_log_retention_days: int = 90
    """Days access logs are kept."""
    lbc_chart_version: str = LOAD_BALANCER_CONTROLLER_CHART.version
    """AWS Load Balancer Controller chart version."""

    def __post_init__(self) -> None:
        key = args_key("LoadBalancerArgs")
        issues = [
            *load_balancer_issues(key, self.certificate_arn, self.allowed_cidrs, self.region),
            *edge_issues(key, self.public_models, self.max_request_bytes, self.requests_per_5_min_per_ip),
            *backend_issues(key, self.backends),
        ]
        if self.region not in ELB_LOG_DELIVERY_ACCOUNTS:
            issues.append(ConfigIssue(key("region"), self.region, f"no known log-delivery account; allowed: {', '.join(ELB_LOG_DELIVERY_ACCOUNTS)}"))
        check_args(self, issues)

    @property
    def public_models(self) -> list[str]:
        """Every model routed, over all backends."""
        return [model for backend in self.backends for model in backend.public_models]


def backend_issues(key: KeyPath, backends: Sequence[LoadBalancerBackend]) -> Iterator[ConfigIssue]:
    """At least one backend; distinct names that are DNS labels; drain delays within the ALB's range; distinct rule names."""
    if not backends:
        yield ConfigIssue(key("backends"), [], "at least one serving group must be behind the load balancer")
    names = [backend.name for backend in backends]
    if len(set(names)) != len(names):
        yield ConfigIssue(key("backends"), names, "names must be distinct (each names a target group)")
    routed = {model for backend in backends for model in backend.public_models}
    for i, backend in enumerate(backends):
        if not BACKEND_NAME.match(backend.name):
            yield ConfigIssue(key(f"backends[{i}].name"), backend.name, "lowercase letters, digits and '-', at most 20 characters")
        for model in backend.generation_models:
            if f"{model}-versions" in routed:
                message = f"the listener rule of its versioned paths would take the name of model {model}-versions's rule; rename one model"
                yield ConfigIssue(key(f"backends[{i}].generation_models"), model, message)
        delay = backend.deregistration_delay_s
        if delay is not None and not 0 <= delay <= MAX_DEREGISTRATION_DELAY_S:
            yield ConfigIssue(key(f"backends[{i}].deregistration_delay_s"), delay, f"allowed: 0..{MAX_DEREGISTRATION_DELAY_S}")


class LoadBalancer(PlatformComponent):
    """ALB, its logs bucket and security groups, a target group bound to Triton, and the controller that binds it."""

    dns_name: pulumi.Output[str]
    """DNS name of the ALB (point your record here)."""
    arn_suffix: pulumi.Output[str]
    """ALB ARN suffix (CloudWatch dimension)."""
    target_group_arn_suffix: pulumi.Output[str]
    """The first backend's target group ARN suffix (CloudWatch dimension)."""
    target_group_arn_suffixes: dict[str, pulumi.Output[str]]
    """Target group ARN suffix of every backend, by backend name (CloudWatch dimensions)."""
    arn: pulumi.Output[str]
    """ALB ARN."""
    web_acl_arn: pulumi.Output[str]
    """The WAF web ACL in front of the ALB (body size and per-IP rate)."""
    target_group_arn: pulumi.Output[str]
    """The first backend's target group (the controller binds each group's pods to its own)."""
    security_group_id: pulumi.Output[str]
    """Security group of the ALB."""
    load_balancer: aws.lb.LoadBalancer
    """The ALB resource."""

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("loadbalancer", "LoadBalancer", name, opts)
        logs = self._access_logs(name, args)
        security_group = self._security_groups(name, args)
        alb = aws.lb.LoadBalancer(
            name,
            load_balancer_type="application",
            internal=args.scheme == "internal",
            subnets=args.subnet_ids,
            security_groups=[security_group.id],
            drop_invalid_header_fields=True,
            desync_mitigation_mode="defensive",
            enable_deletion_protection=args.deletion_protection,
            idle_timeout=args.idle_timeout_s,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(bucket=logs.bucket.bucket, enabled=True, prefix=name),
            opts=self.child(depends_on=logs.guards),
        )
        target_groups = {backend.name: self._target_group(name, args, backend) for backend in args.backends}
        https = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=TLS_POLICY,
            certificate_arn=args.certificate_arn,
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="fixed-response",
                    fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
                        content_type="application/json", status_code="404", message_body='{"error":"not found"}'
                    ),
                )
            ],
            opts=self.child(),
        )
        self._routes(name, args, https, target_groups)
        aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect", redirect=aws.lb.ListenerDefaultActionRedirectArgs(port="443", protocol="HTTPS", status_code="HTTP_301")
                )
            ],
            opts=self.child(),
        )
        web_acl = self._web_acl(name, args, alb)
        controller = self._controller(name, args, list(target_groups.values()))
        for backend in args.backends:
            k8s.apiextensions.CustomResource(
                f"{name}-{backend.name}",
                api_version="elbv2.k8s.aws/v1beta1",
                kind="TargetGroupBinding",
                metadata={"name": f"{name}-{backend.name}", "namespace": backend.namespace},
                spec={
                    "serviceRef": {"name": backend.service, "port": TRITON_HTTP_PORT},
                    "targetGroupARN": target_groups[backend.name].arn,
                    "targetType": "ip",
                },
                opts=self.child(depends_on=[controller]),
            )
        first = target_groups[args.backends[0].name]
        self.load_balancer = alb
        self.dns_name = alb.dns_name
        self.arn = alb.arn
        self.web_acl_arn = web_acl.arn
        self.arn_suffix = alb.arn_suffix
        self.target_group_arn = first.arn
        self.target_group_arn_suffix = first.arn_suffix
        self.target_group_arn_suffixes = {backend: group.arn_suffix for backend, group in target_groups.items()}
        self.security_group_id = security_group.id
        self.register_outputs(self.public_outputs())

    def _target_group(self, name: str, args: LoadBalancerArgs, backend: LoadBalancerBackend) -> aws.lb.TargetGroup:
        """IP targets on Triton's HTTP port, least outstanding requests, readiness checks; drains for the backend's delay."""
        delay = backend.deregistration_delay_s if backend.deregistration_delay_s is not None else args.deregistration_delay_s
        return aws.lb.TargetGroup(
            f"{name}-{backend.name}",
            target_type="ip",
            port=TRITON_HTTP_PORT,
            protocol="HTTP",
            vpc_id=args.vpc_id,
            load_balancing_algorithm_type="least_outstanding_requests",
            deregistration_delay=delay,
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                path=TRITON_READY_PATH, port="traffic-port", protocol="HTTP", matcher="200", interval=10, timeout=5, healthy_threshold=2, unhealthy_threshold=2
            ),
            opts=self.child(),
        )

    def _routes(self, name: str, args: LoadBalancerArgs, https: aws.lb.Listener, target_groups: dict[str, aws.lb.TargetGroup]) -> None:
        """Forward the server's readiness (first backend) and each public model's paths to its backend; everything else gets the listener's 404."""

        def forward(rule: str, priority: int, paths: list[str], backend: str, aliases: list[pulumi.Alias] | None = None) -> None:
            aws.lb.ListenerRule(
                rule,
                listener_arn=https.arn,
                priority=priority,
                actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=target_groups[backend].arn)],
                conditions=[aws.lb.ListenerRuleConditionArgs(path_pattern=aws.lb.ListenerRuleConditionPathPatternArgs(values=paths))],
                opts=self.child(aliases=aliases),
            )

        # The alias is the rule's name when it forwarded every model's infer path (MIGRATIONS.md, 0.2.0).
        forward(f"{name}-ready", READY_RULE_PRIORITY, [TRITON_READY_PATH], args.backends[0].name, [pulumi.Alias(name=f"{name}-inference")])
        routes = [(model, f"{name}-model-{model}", model_paths(model), b.name) for b in args.backends for model in b.models]
        for b in args.backends:
            for model in b.generation_models:
                unversioned, versioned = generation_paths(model)
                routes += [(model, f"{name}-model-{model}", unversioned, b.name), (model, f"{name}-model-{model}-versions", versioned, b.name)]
        taken: set[int] = set()
        for _, rule, paths, backend in sorted(routes):
            priority = stable_priority(rule, taken)
            taken.add(priority)
            forward(rule, priority, paths, backend)

    def _web_acl(self, name: str, args: LoadBalancerArgs, alb: aws.lb.LoadBalancer) -> aws.wafv2.WebAcl:
        """Allow by default; block bodies over `max_request_bytes` and client IPs over the rate limit (both counted in CloudWatch)."""

        def visibility(metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
            return aws.wafv2.WebAclRuleVisibilityConfigArgs(cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True)

        block = aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs())
        body_size = aws.wafv2.WebAclRuleStatementArgs(
            size_constraint_statement=aws.wafv2.WebAclRuleStatementSizeConstraintStatementArgs(
                comparison_operator="GT",
                size=args.max_request_bytes,
                field_to_match=aws.wafv2.WebAclRuleStatementSizeConstraintStatementFieldToMatchArgs(
                    body=aws.wafv2.WebAclRuleStatementSizeConstraintStatementFieldToMatchBodyArgs(oversize_handling="MATCH")
                ),
                text_transformations=[aws.wafv2.WebAclRuleStatementSizeConstraintStatementTextTransformationArgs(priority=0, type="NONE")],
            )
        )
        per_ip = aws.wafv2.WebAclRuleStatementArgs(
            rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                limit=args.requests_per_5_min_per_ip, aggregate_key_type="IP", evaluation_window_sec=300
            )
        )
        web_acl = aws.wafv2.WebAcl(
            name,
            scope="REGIONAL",
            description=f"ALB {name}: request bodies up to {args.max_request_bytes} bytes, {args.requests_per_5_min_per_ip} requests per IP per 5 minutes",
            default_action=aws.wafv2.WebAclDefaultActionArgs(allow=aws.wafv2.WebAclDefaultActionAllowArgs()),
            rules=[
                aws.wafv2.WebAclRuleArgs(name="body-size", priority=0, action=block, statement=body_size, visibility_config=visibility(f"{name}-body-size")),
                aws.wafv2.WebAclRuleArgs(name="rate-per-ip", priority=1, action=block, statement=per_ip, visibility_config=visibility(f"{name}-rate-per-ip")),
            ],
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(cloudwatch_metrics_enabled=True, metric_name=name, sampled_requests_enabled=True),
            opts=self.child(),
        )
        aws.wafv2.WebAclAssociation(name, resource_arn=alb.arn, web_acl_arn=web_acl.arn, opts=self.child())
        return web_acl

    def _access_logs(self, name: str, args: LoadBalancerArgs) -> PrivateBucket:
        """A private bucket the regional Elastic Load Balancing account may write logs into, expiring them."""
        delivery = ELB_LOG_DELIVERY_ACCOUNTS[args.region]

        def log_delivery(bucket_arn: str) -> pulumi.Output[list[Statement]]:
            return pulumi.Output.all(args.account.account_id, args.account.partition).apply(
                lambda a: [
                    {
                        "Sid": "ElbLogDelivery",
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:{a[1]}:iam::{delivery}:root"},
                        "Action": "s3:PutObject",
                        "Resource": f"{bucket_arn}/{name}/AWSLogs/{a[0]}/*",
                    }
                ]
            )

        return private_bucket(
            f"{name}-access-logs",
            kms_key_arn=None,
            noncurrent_version_days=1,
            expire_after_days=args.access_log_retention_days,
            statements=log_delivery,
            force_destroy=args.force_destroy_access_logs,
            opts=self.child(),
        )

    def _security_groups(self, name: str, args: LoadBalancerArgs) -> aws.ec2.SecurityGroup:
        """ALB group: 443 (and 80 for the redirect) from the allowed CIDRs; out only to Triton's HTTP port. Pods accept it."""
        group = aws.ec2.SecurityGroup(f"{name}-alb", description=f"ALB {name}: HTTPS from allowed CIDRs to Triton", vpc_id=args.vpc_id, opts=self.child())
        for port in (443, 80):
            for index, cidr in enumerate(args.allowed_cidrs):
                # Keyed by range; the alias is the name these had when they were keyed by list position (MIGRATIONS.md, 0.2.0).
                aws.vpc.SecurityGroupIngressRule(
                    f"{name}-alb-{port}-{cidr}",
                    security_group_id=group.id,
                    cidr_ipv4=cidr,
                    ip_protocol="tcp",
                    from_port=port,
                    to_port=port,
                    description=f"{'HTTPS' if port == 443 else 'HTTP redirect'} from {cidr}",
                    opts=self.child(aliases=[pulumi.Alias(name=f"{name}-alb-{port}-{index}")]),
                )
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-alb-to-triton",
            security_group_id=group.id,
            cidr_ipv4=args.vpc_cidr,
            ip_protocol="tcp",
            from_port=TRITON_HTTP_PORT,
            to_port=TRITON_HTTP_PORT,
            description="Triton HTTP in the VPC",
            opts=self.child(),
        )
        tcp_ingress_from_group(
            f"{name}-pods-from-alb",
            into=args.cluster.security_group_id,
            source=group.id,
            port=TRITON_HTTP_PORT,
            description=f"Triton HTTP from ALB {name}",
            opts=self.child(),
        )
        return group

    def _controller(self, name: str, args: LoadBalancerArgs, target_groups: list[aws.lb.TargetGroup]) -> k8s.helm.v3.Release:
        """AWS Load Balancer Controller on the system nodes, allowed only to (de)register targets of these groups."""
        role = service_account_role(
            f"{name}-controller",
            oidc_provider_arn=args.cluster.oidc_provider_arn,
            oidc_issuer_url=args.cluster.oidc_issuer_url,
            namespace="kube-system",
            service_account=LBC_SERVICE_ACCOUNT,
            opts=self.child(),
        )
        policy = aws.iam.RolePolicy(
            f"{name}-controller",
            role=role.id,
            policy=pulumi.Output.all(*(group.arn for group in target_groups)).apply(
                lambda arns: policy_document(
                    [
                        {
                            "Sid": "ReadLoadBalancing",
                            "Effect": "Allow",
                            "Action": list(CONTROLLER_READ_ACTIONS),
                            "Resource": "*",
                        },
                        {
                            "Sid": "BindTritonTargets",
                            "Effect": "Allow",
                            "Action": ["elasticloadbalancing:RegisterTargets", "elasticloadbalancing:DeregisterTargets"],
                            "Resource": arns[0] if len(arns) == 1 else sorted(arns),
                        },
                    ]
                )
            ),
            opts=self.child(),
        )
        return k8s.helm.v3.Release(
            f"{name}-controller",
            name=LBC_SERVICE_ACCOUNT,
            chart=LOAD_BALANCER_CONTROLLER_CHART.chart,
            version=args.lbc_chart_version,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=LOAD_BALANCER_CONTROLLER_CHART.repository),
            namespace="kube-system",
            atomic=True,
            values={
                "clusterName": args.cluster.name,
                "region": args.region,
                "vpcId": args.vpc_id,
                "replicaCount": 2,
                "serviceAccount": {"name": LBC_SERVICE_ACCOUNT, "annotations": {"eks.amazonaws.com/role-arn": role.arn}},
                "nodeSelector": SYSTEM_NODE_SELECTOR,
                "enableServiceMutatorWebhook": False,
            },
            opts=self.child(depends_on=[policy]),
        )
