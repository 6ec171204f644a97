"""P14-P19: the load balancer in front of Triton."""

from __future__ import annotations

import re
from collections.abc import Iterator

from gpu_inference_platform.policy.model import Finding, Policy, Resource, Settings, Severity, Stack
from gpu_inference_platform.policy.values import as_list, is_true, mapping, shown

LOAD_BALANCER = "aws:lb/loadBalancer:LoadBalancer"
LISTENER = "aws:lb/listener:Listener"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
WAF_ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
ENCRYPTED_PROTOCOLS = ("HTTPS", "TLS")
ALLOWED_DESYNC_MODES = ("defensive", "strictest")
TLS12_POLICY = re.compile(r"^ELBSecurityPolicy-(TLS13-1-[23]|TLS-1-[23]|FS-1-2)-")


def _redirects_to_https(actions: object) -> bool:
    actions = as_list(actions)
    return bool(actions) and all(mapping(a).get("type") == "redirect" and mapping(mapping(a).get("redirect")).get("protocol") == "HTTPS" for a in actions)


def _https_only(stack: Stack, _: Settings) -> Iterator[Finding]:
    for listener in stack.of_type(LISTENER):
        protocol = listener.props.get("protocol", "HTTP")
        if protocol == "HTTP":
            if not _redirects_to_https(listener.props.get("defaultActions")):
                yield Finding(listener, f"HTTP listener on port {shown(listener.props.get('port'))} does not only redirect to HTTPS")
            for rule in stack.referencing(listener, LISTENER_RULE, "listenerArn"):
                if not _redirects_to_https(rule.props.get("actions")):
                    yield Finding(rule, "rule on an HTTP listener serves traffic instead of redirecting to HTTPS")
        elif protocol not in ENCRYPTED_PROTOCOLS:
            yield Finding(listener, f"listener protocol {protocol} is not encrypted (use HTTPS or TLS)")


def _tls_policy(listener: Resource, _: Settings) -> Iterator[str]:
    if listener.props.get("protocol") not in ENCRYPTED_PROTOCOLS:
        return
    policy = listener.props.get("sslPolicy")
    if not policy:
        yield "sslPolicy is not set (the default ELBSecurityPolicy-2016-08 accepts TLS 1.0)"
    elif not TLS12_POLICY.match(str(policy)):
        yield f"sslPolicy {policy} accepts TLS below 1.2"


def _is_application(balancer: Resource) -> bool:
    return bool(balancer.props.get("loadBalancerType", "application") == "application")


def _header_hygiene(balancer: Resource, _: Settings) -> Iterator[str]:
    if not _is_application(balancer):
        return
    if not is_true(balancer.props.get("dropInvalidHeaderFields")):
        yield "dropInvalidHeaderFields is not true"
    mode = balancer.props.get("desyncMitigationMode")
    if mode is not None and mode not in ALLOWED_DESYNC_MODES:
        yield f"desyncMitigationMode is {mode} (allowed: {', '.join(ALLOWED_DESYNC_MODES)})"


def _logs_and_protection(balancer: Resource, settings: Settings) -> Iterator[str]:
    logs = mapping(balancer.props.get("accessLogs"))
    if not (is_true(logs.get("enabled")) and logs.get("bucket")):
        yield "access logs are off"
    if settings["production"] and not is_true(balancer.props.get("enableDeletionProtection")):
        yield "production load balancer has no deletion protection"


def _waf(stack: Stack, _: Settings) -> Iterator[Finding]:
    for balancer in stack.of_type(LOAD_BALANCER):
        if _is_application(balancer) and not is_true(balancer.props.get("internal")) and not stack.referencing(balancer, WAF_ASSOCIATION, "resourceArn"):
            yield Finding(balancer, "internet-facing load balancer has no WAF web ACL")


def _health_check(group: Resource, settings: Settings) -> Iterator[str]:
    if group.props.get("protocol", "HTTP") not in ("HTTP", "HTTPS"):
        return
    check = mapping(group.props.get("healthCheck"))
    if check.get("enabled") is False:
        yield "health check is disabled"
    elif check.get("path") != settings["path"]:
        yield f"health check path is {check.get('path') or 'not set'} (required: {settings['path']})"


POLICIES = [
    Policy(
        "P14",
        "p14-https-only",
        "Listeners speak HTTPS (or TLS); an HTTP listener and its rules may only redirect to HTTPS.",
        Severity.CRITICAL,
        "Serve on an HTTPS listener with an ACM certificate; make port 80 a 301 redirect to HTTPS.",
        "CKV_AWS_2, CKV2_AWS_20, pulumi-policy-aws",
        check_stack=_https_only,
    ),
    Policy(
        "P15",
        "p15-tls12-policy",
        "HTTPS/TLS listeners use a security policy that accepts only TLS 1.2 or newer.",
        Severity.HIGH,
        "Set sslPolicy to ELBSecurityPolicy-TLS13-1-2-2021-06 (LoadBalancer's default).",
        "CKV_AWS_103, AVD-AWS-0047",
        (LISTENER,),
        check_resource=_tls_policy,
    ),
    Policy(
        "P16",
        "p16-alb-header-hygiene",
        "Application load balancers drop invalid header fields and mitigate desync defensively or strictly.",
        Severity.MEDIUM,
        "Set dropInvalidHeaderFields: true and desyncMitigationMode: defensive (or strictest).",
        "CKV_AWS_131, CKV_AWS_328",
        (LOAD_BALANCER,),
        check_resource=_header_hygiene,
    ),
    Policy(
        "P17",
        "p17-alb-access-logs-deletion-protection",
        "Load balancers write access logs; production load balancers have deletion protection.",
        Severity.MEDIUM,
        "Set accessLogs {enabled: true, bucket}; set enableDeletionProtection: true in production.",
        "CKV_AWS_91, CKV_AWS_150",
        (LOAD_BALANCER,),
        check_resource=_logs_and_protection,
        settings={"production": False},
    ),
    Policy(
        "P18",
        "p18-internet-alb-waf",
        "An internet-facing application load balancer is protected by a WAF web ACL (advisory).",
        Severity.MEDIUM,
        "Associate an aws.wafv2.WebAcl (AWS managed rule groups plus a rate limit) with the load balancer.",
        "CKV2_AWS_28",
        check_stack=_waf,
    ),
    Policy(
        "P19",
        "p19-target-group-health-check",
        "HTTP target groups check Triton's readiness endpoint.",
        Severity.HIGH,
        "Set healthCheck.path to /v2/health/ready so traffic reaches only pods with every model loaded.",
        "CKV_AWS_261",
        (TARGET_GROUP,),
        check_resource=_health_check,
        settings={"path": "/v2/health/ready"},
    ),
]
