"""Every policy of the pack: a compliant stack passes it, and each kind of violation gives its exact message.

The compliant stack is the committed prod plan (the real program under mocks) with the waived
findings fixed and a WAF added; each case mutates copies of its resources, in the style of
pulumi-policy-aws tests.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from gpu_inference_platform.components.model_manifest import load_manifest
from gpu_inference_platform.policy.config import load_pack_config
from gpu_inference_platform.policy.model import Policy, Resource, Severity, Stack
from gpu_inference_platform.policy.registry import POLICIES, POLICIES_BY_NAME
from gpu_inference_platform.preview.guardrails import plan_resources, policy_config_path
from gpu_inference_platform.preview.harness import Plan
from tests.conftest import ROOT

EKS = "aws:eks/cluster:Cluster"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
SUBNET = "aws:ec2/subnet:Subnet"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
EVENT_RULE = "aws:cloudwatch/eventRule:EventRule"
RELEASE = "kubernetes:helm.sh/v3:Release"
SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
VPC = "aws:ec2/vpc:Vpc"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
DEFAULT_SG = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
LISTENER = "aws:lb/listener:Listener"
LISTENER_RULE = "aws:lb/listenerRule:ListenerRule"
LB = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"
WAF = "aws:wafv2/webAclAssociation:WebAclAssociation"
BUCKET = "aws:s3/bucket:Bucket"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
IAM_POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
KMS = "aws:kms/key:Key"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
BUDGET = "aws:budgets/budget:Budget"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
NAMESPACE = "kubernetes:core/v1:Namespace"
SECRET = "kubernetes:core/v1:Secret"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DAEMON_SET = "kubernetes:apps/v1:DaemonSet"
JOB = "kubernetes:batch/v1:Job"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
BINDING = "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"
QUEUE_POLICY = "aws:sqs/queuePolicy:QueuePolicy"
COST_ALLOCATION_TAG = "aws:costexplorer/costAllocationTag:CostAllocationTag"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

Edit = Callable[[dict[str, Any]], None]
PROD_ENGINE_JOB = f"models-trt-{load_manifest(ROOT / 'build/models/prod').short_hash}-cc86"
"""The prod build's first engine Job (named by the build's tree hash)."""


def put(path: str, value: Any) -> Edit:
    """Set a dotted property path (`spec.template.spec.containers.0.image`)."""

    def edit(props: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = props
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return edit


def drop(path: str) -> Edit:
    """Remove a dotted property path."""

    def edit(props: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = props
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[last]

    return edit


def put_json(path: str, change: Callable[[dict[str, Any]], None]) -> Edit:
    """Edit a property holding a JSON document (IAM policies)."""

    def edit(props: dict[str, Any]) -> None:
        document = json.loads(props[path])
        change(document)
        props[path] = json.dumps(document)

    return edit


def statement(index: int, **values: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        document["Statement"][index].update(values)

    return change


def with_edits(stack: Stack, edits: list[tuple[str, str, Edit]]) -> Stack:
    resources = []
    for original in stack.resources:
        mine = [e for t, n, e in edits if (t, n) == (original.type, original.name)]
        props = copy.deepcopy(dict(original.props))
        for edit in mine:
            edit(props)
        resources.append(replace(original, props=props) if mine else original)
    assert {(t, n) for t, n, _ in edits} <= {(r.type, r.name) for r in resources}, "every edited resource exists"
    return Stack(resources)


def without(stack: Stack, type_token: str, name: str) -> Stack:
    kept = [r for r in stack.resources if (r.type, r.name) != (type_token, name)]
    assert len(kept) == len(stack.resources) - 1
    return Stack(kept)


def one(stack: Stack, type_token: str, name: str) -> Resource:
    return next(r for r in stack.resources if (r.type, r.name) == (type_token, name))


@pytest.fixture(scope="module")
def prod_settings() -> dict[str, Mapping[str, Any]]:
    return {name: s.settings for name, s in load_pack_config(policy_config_path("prod")).items()}


@pytest.fixture(scope="module")
def compliant(plans: dict[str, Plan]) -> Stack:
    """The prod plan with its waived findings fixed and a pinned node image."""
    stack = with_edits(
        plan_resources(plans["prod"]),
        [
            (
                SSE,
                "alb-access-logs-encryption",
                put("rules.0.applyServerSideEncryptionByDefault", {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": "arn:aws:kms:us-west-2:123456789012:key/logs"}),
            ),
            (DAEMON_SET, "gpu-nvidia-device-plugin", put("spec.template.spec.containers.0.securityContext.runAsNonRoot", True)),
            (DAEMON_SET, "gpu-nvidia-device-plugin", put("spec.template.spec.containers.0.securityContext.readOnlyRootFilesystem", True)),
            (NODE_CLASS, "gpu-fleet-gpu", put("spec.amiSelectorTerms", [{"alias": "al2023@v20260714"}])),
        ],
    )
    return stack


CRITICAL, HIGH, MEDIUM = Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM
CHECKLIST_SEVERITY = {
    **dict.fromkeys(["P03", "P04", "P09", "P12", "P14", "P20", "P24", "K08"], CRITICAL),
    **dict.fromkeys(["P01", "P02", "P05", "P06", "P07", "P08", "P11", "P15", "P19", "P21", "P23", "P25", "P26", "P27", "P29"], HIGH),
    **dict.fromkeys(["K01", "K02", "K04", "K05", "K06"], HIGH),
    **dict.fromkeys(["P30", "P31", "P32", "K10", "K11", "K12"], HIGH),
    **dict.fromkeys(["W01", "W02", "W03", "W04", "W05", "W06", "W07", "W08", "W09"], HIGH),
    **dict.fromkeys(["P10", "P13", "P16", "P17", "P18", "P22", "P28", "K03", "K07", "K09"], MEDIUM),
}
"""Severity of each row of policy-checks.md, of the checks added for issue 12 (P30-P32, K10) and of the wiring checks (W)."""


def test_the_pack_has_every_checklist_row_as_its_own_policy() -> None:
    codes = [p.code for p in POLICIES]
    assert codes == [f"P{i:02d}" for i in range(1, 33)] + [f"K{i:02d}" for i in range(1, 13)] + [f"W{i:02d}" for i in range(1, 10)]
    assert len(POLICIES_BY_NAME) == 53
    assert {p.code: p.severity for p in POLICIES} == CHECKLIST_SEVERITY
    assert sorted(Counter(p.severity.value for p in POLICIES).items()) == [("critical", 8), ("high", 35), ("medium", 10)]
    for policy in POLICIES:
        assert policy.name.startswith(policy.code.lower() + "-")
        assert policy.description and policy.remediation and policy.sources
        assert (policy.check_resource is None) != (policy.check_stack is None)
        assert policy.default_enforcement.value == ("mandatory" if policy.severity in (Severity.CRITICAL, Severity.HIGH) else "advisory")


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.code)
def test_compliant_stack_passes(policy: Policy, compliant: Stack, prod_settings: dict[str, Mapping[str, Any]]) -> None:
    assert policy.check(compliant, prod_settings[policy.name]) == []


@dataclass
class Case:
    code: str
    edits: list[tuple[str, str, Edit]]
    expected: list[tuple[str | None, str]]
    removed: list[tuple[str, str]] = field(default_factory=list)
    settings: Mapping[str, Any] = field(default_factory=dict)


TRITON = "spec.template.spec.containers.0"
DEVICE_PLUGIN = "spec.template.spec.containers.0"
ALB_LOGS_BUCKET_MESSAGE = "default encryption is AES256 (required: aws:kms with a customer key)"

CASES = [
    Case(
        "P01",
        [(EKS, "gpu-eks", put("enabledClusterLogTypes", ["api", "authenticator"]))],
        [("gpu-eks", "control-plane log types not enabled: audit, controllerManager, scheduler")],
    ),
    Case("P02", [(EKS, "gpu-eks", drop("encryptionConfig"))], [("gpu-eks", 'secrets are not envelope-encrypted (encryptionConfig.resources lacks "secrets")')]),
    Case(
        "P02",
        [(EKS, "gpu-eks", drop("encryptionConfig.provider"))],
        [("gpu-eks", "encryptionConfig.provider.keyArn is not set (a customer KMS key is required)")],
    ),
    Case(
        "P03",
        [(EKS, "gpu-eks", drop("vpcConfig.endpointPublicAccess")), (EKS, "gpu-eks", put("vpcConfig.endpointPrivateAccess", False))],
        [
            ("gpu-eks", "production cluster has a public API endpoint (vpcConfig.endpointPublicAccess is not false)"),
            ("gpu-eks", "production cluster has no private API endpoint (vpcConfig.endpointPrivateAccess is not true)"),
        ],
    ),
    Case("P03", [(EKS, "gpu-eks", put("vpcConfig.endpointPublicAccess", True))], [], settings={"production": False}),
    Case(
        "P04",
        [(EKS, "gpu-eks", put("vpcConfig.endpointPublicAccess", True))],
        [("gpu-eks", "public endpoint open to the internet: vpcConfig.publicAccessCidrs is not set (EKS defaults to 0.0.0.0/0)")],
    ),
    Case(
        "P04",
        [(EKS, "gpu-eks", put("vpcConfig.endpointPublicAccess", True)), (EKS, "gpu-eks", put("vpcConfig.publicAccessCidrs", ["203.0.113.0/24", "::/0"]))],
        [("gpu-eks", "public endpoint open to the internet: vpcConfig.publicAccessCidrs contains ::/0")],
    ),
    Case(
        "P04",
        [
            (EKS, "gpu-eks", put("vpcConfig.endpointPublicAccess", True)),
            (EKS, "gpu-eks", put("vpcConfig.publicAccessCidrs", ["0.0.0.0/1", "128.0.0.0/1"])),
        ],
        [
            ("gpu-eks", "public endpoint open to the internet: vpcConfig.publicAccessCidrs contains 0.0.0.0/1"),
            ("gpu-eks", "public endpoint open to the internet: vpcConfig.publicAccessCidrs contains 128.0.0.0/1"),
        ],
    ),
    Case("P05", [(NODE_GROUP, "gpu-system", put("remoteAccess", {"ec2SshKey": "ops"}))], [("gpu-system", "node group allows SSH (remoteAccess is set)")]),
    Case(
        "P05",
        [(SUBNET, "network-public-us-west-2b", put("mapPublicIpOnLaunch", True))],
        [("network-public-us-west-2b", "subnet assigns public IPs on launch (mapPublicIpOnLaunch is true)")],
    ),
    Case(
        "P06",
        [(LAUNCH_TEMPLATE, "gpu-system-nodes", put("metadataOptions.httpTokens", "optional"))],
        [("gpu-system-nodes", "IMDSv1 allowed: metadataOptions.httpTokens is optional (required: required)")],
    ),
    Case(
        "P06",
        [(LAUNCH_TEMPLATE, "gpu-system-nodes", drop("metadataOptions"))],
        [("gpu-system-nodes", "IMDSv1 allowed: metadataOptions.httpTokens is not set (required: required)")],
    ),
    Case(
        "P06",
        [(NODE_CLASS, "gpu-fleet-gpu", put("spec.metadataOptions.httpTokens", "optional"))],
        [("gpu-fleet-gpu", "IMDSv1 allowed: metadataOptions.httpTokens is optional (required: required)")],
    ),
    Case("P06", [(NODE_CLASS, "gpu-fleet-gpu", drop("spec.metadataOptions"))], []),
    Case(
        "P07",
        [(LAUNCH_TEMPLATE, "gpu-system-nodes", put("metadataOptions.httpPutResponseHopLimit", 2))],
        [("gpu-system-nodes", "pods can reach the node's credentials: metadataOptions.httpPutResponseHopLimit is 2 (required: 1)")],
    ),
    Case(
        "P07",
        [(LAUNCH_TEMPLATE, "gpu-system-nodes", drop("metadataOptions.httpPutResponseHopLimit"))],
        [("gpu-system-nodes", "metadataOptions.httpPutResponseHopLimit is not set (the EKS AMI default is 2; required: 1)")],
    ),
    Case(
        "P07",
        [(NODE_CLASS, "gpu-fleet-gpu", put("spec.metadataOptions.httpPutResponseHopLimit", 3))],
        [("gpu-fleet-gpu", "pods can reach the node's credentials: metadataOptions.httpPutResponseHopLimit is 3 (required: 1)")],
    ),
    Case(
        "P08",
        [(LAUNCH_TEMPLATE, "gpu-system-nodes", put("blockDeviceMappings.0.ebs.encrypted", "false"))],
        [("gpu-system-nodes", "EBS volume /dev/xvda is not encrypted")],
    ),
    Case(
        "P08",
        [(LAUNCH_TEMPLATE, "gpu-system-nodes", drop("blockDeviceMappings"))],
        [("gpu-system-nodes", "no block device mapping: the root volume's encryption is left to the AMI")],
    ),
    Case(
        "P08",
        [(LAUNCH_TEMPLATE, "gpu-system-nodes", put("networkInterfaces", [{"associatePublicIpAddress": "true"}]))],
        [("gpu-system-nodes", "instances get a public IP address")],
    ),
    Case(
        "P08",
        [
            (NODE_CLASS, "gpu-fleet-gpu", put("spec.associatePublicIPAddress", True)),
            (NODE_CLASS, "gpu-fleet-gpu", put("spec.blockDeviceMappings.0.ebs.encrypted", False)),
        ],
        [("gpu-fleet-gpu", "EBS volume /dev/xvda is not encrypted"), ("gpu-fleet-gpu", "instances get a public IP address")],
    ),
    Case(
        "P09",
        [(LAUNCH_TEMPLATE, "gpu-system-nodes", put("userData", "IyEvYmluL2Jhc2gKZXhwb3J0IEFXU19BQ0NFU1NfS0VZX0lEPUFLSUFJT1NGT0ROTjdFWEFNUExFCg=="))],
        [("gpu-system-nodes", "user data contains credentials: an AWS access key id")],
    ),
    Case(
        "P09",
        [(NODE_CLASS, "gpu-fleet-gpu", put("spec.userData", "[default]\naws_secret_access_key = x\naws_session_token = y"))],
        [("gpu-fleet-gpu", "user data contains credentials: aws_secret_access_key"), ("gpu-fleet-gpu", "user data contains credentials: aws_session_token")],
    ),
    Case(
        "P10",
        [
            (NODE_POOL, "gpu-fleet-spot", put("spec.template.spec.requirements.1.values", ["g5.xlarge", "g5.2xlarge"])),
            (NODE_POOL, "gpu-fleet-spot", put("spec.template.spec.requirements.2.values", ["us-west-2a"])),
        ],
        [
            ("gpu-fleet-spot", "spot capacity draws on one instance family (g5); use >= 2"),
            ("gpu-fleet-spot", "spot capacity is pinned to one availability zone (us-west-2a); use >= 2"),
        ],
    ),
    Case("P10", [(NODE_POOL, "gpu-fleet-on-demand", put("spec.template.spec.requirements.1.values", ["g5.xlarge"]))], []),
    Case(
        "P11",
        [(EVENT_RULE, "gpu-fleet-spot-interruption", put("eventPattern", '{"source": ["aws.ec2"], "detail-type": ["EC2 Instance Launch"]}'))],
        [("gpu-fleet-spot", "no EventBridge rule delivers 'EC2 Spot Instance Interruption Warning' to an SQS queue")],
    ),
    Case(
        "P11",
        [(RELEASE, "gpu-fleet-karpenter", drop("values.settings.interruptionQueue"))],
        [("gpu-fleet-karpenter", "Karpenter has no settings.interruptionQueue: spot nodes are not drained before reclaim")],
    ),
    Case("P11", [], [("gpu-fleet-spot", "no Karpenter release consumes an interruption queue")], removed=[(RELEASE, "gpu-fleet-karpenter")]),
    Case("P12", [(SG, "alb-alb", put("description", "Managed by Pulumi"))], [("alb-alb", "security group has no description")]),
    Case(
        "P12",
        [
            (INGRESS, "alb-alb-443-0.0.0.0/0", put("fromPort", 8002)),
            (INGRESS, "alb-alb-443-0.0.0.0/0", put("toPort", 8002)),
            (INGRESS, "alb-alb-443-0.0.0.0/0", put("cidrIpv4", "0.0.0.0/1")),
        ],
        [("alb-alb-443-0.0.0.0/0", "ingress rule opens port 8002 to 0.0.0.0/1 (only listener ports [80, 443] may be public)")],
    ),
    Case(
        "P12",
        [(INGRESS, "alb-alb-443-0.0.0.0/0", put("fromPort", 22)), (INGRESS, "alb-alb-443-0.0.0.0/0", put("toPort", 443))],
        [
            ("alb-alb-443-0.0.0.0/0", "ingress rule allows SSH (port 22)"),
            ("alb-alb-443-0.0.0.0/0", "ingress rule opens port 22-443 to 0.0.0.0/0 (only listener ports [80, 443] may be public)"),
        ],
    ),
    Case(
        "P12",
        [(INGRESS, "alb-alb-443-0.0.0.0/0", put("ipProtocol", "-1")), (INGRESS, "alb-alb-443-0.0.0.0/0", drop("description"))],
        [
            ("alb-alb-443-0.0.0.0/0", "ingress rule allows SSH (port 22)"),
            ("alb-alb-443-0.0.0.0/0", "ingress rule allows RDP (port 3389)"),
            ("alb-alb-443-0.0.0.0/0", "ingress rule opens port 0-65535 to 0.0.0.0/0 (only listener ports [80, 443] may be public)"),
            ("alb-alb-443-0.0.0.0/0", "ingress rule has no description"),
        ],
    ),
    Case(
        "P12",
        [(SG, "alb-alb", put("ingress", [{"fromPort": 8000, "toPort": 8000, "protocol": "tcp", "cidrBlocks": ["0.0.0.0/0"], "description": "triton"}]))],
        [("alb-alb", "ingress rule #1 opens port 8000 to 0.0.0.0/0 (only listener ports [80, 443] may be public)")],
    ),
    Case("P13", [], [("network-vpc", "VPC has no flow logs")], removed=[(FLOW_LOG, "network-flow-logs")]),
    Case(
        "P13",
        [],
        [("network-vpc", "VPC's default security group is not managed (AWS's default allows all traffic within the group)")],
        removed=[(DEFAULT_SG, "network-default-sg")],
    ),
    Case(
        "P13",
        [(DEFAULT_SG, "network-default-sg", put("egress", [{"protocol": "-1", "cidrBlocks": ["0.0.0.0/0"]}]))],
        [("network-default-sg", "default security group has rules (it must deny all)")],
    ),
    Case(
        "P14",
        [(LISTENER, "alb-http", put("defaultActions", [{"type": "forward", "targetGroupArn": "tg"}]))],
        [("alb-http", "HTTP listener on port 80 does not only redirect to HTTPS")],
    ),
    Case(
        "P14",
        [(LISTENER_RULE, "alb-ready", put("listenerArn", "http")), (LISTENER, "alb-https", put("protocol", "TCP"))],
        [("alb-https", "listener protocol TCP is not encrypted (use HTTPS or TLS)")],
    ),
    Case("P15", [(LISTENER, "alb-https", drop("sslPolicy"))], [("alb-https", "sslPolicy is not set (the default ELBSecurityPolicy-2016-08 accepts TLS 1.0)")]),
    Case(
        "P15",
        [(LISTENER, "alb-https", put("sslPolicy", "ELBSecurityPolicy-TLS13-1-0-2021-06"))],
        [("alb-https", "sslPolicy ELBSecurityPolicy-TLS13-1-0-2021-06 accepts TLS below 1.2")],
    ),
    Case("P15", [(LISTENER, "alb-https", put("sslPolicy", "ELBSecurityPolicy-FS-1-2-Res-2020-10"))], []),
    Case(
        "P16",
        [(LB, "alb", put("dropInvalidHeaderFields", False)), (LB, "alb", put("desyncMitigationMode", "monitor"))],
        [("alb", "dropInvalidHeaderFields is not true"), ("alb", "desyncMitigationMode is monitor (allowed: defensive, strictest)")],
    ),
    Case(
        "P17",
        [(LB, "alb", put("accessLogs.enabled", False)), (LB, "alb", put("enableDeletionProtection", False))],
        [("alb", "access logs are off"), ("alb", "production load balancer has no deletion protection")],
    ),
    Case("P17", [(LB, "alb", put("enableDeletionProtection", False))], [], settings={"production": False}),
    Case("P18", [], [("alb", "internet-facing load balancer has no WAF web ACL")], removed=[(WAF, "alb")]),
    Case("P18", [(LB, "alb", put("internal", True))], [], removed=[(WAF, "alb")]),
    Case("P19", [(TARGET_GROUP, "alb-triton", put("healthCheck.path", "/"))], [("alb-triton", "health check path is / (required: /v2/health/ready)")]),
    Case("P19", [(TARGET_GROUP, "alb-triton", put("healthCheck.enabled", False))], [("alb-triton", "health check is disabled")]),
    Case(
        "P20",
        [(PAB, "models-bucket-public-access", put("blockPublicPolicy", False)), (PAB, "models-bucket-public-access", put("restrictPublicBuckets", False))],
        [("models-bucket", "public access block leaves blockPublicPolicy, restrictPublicBuckets off")],
    ),
    Case("P20", [], [("alb-access-logs", "bucket has no public access block")], removed=[(PAB, "alb-access-logs-public-access")]),
    Case(
        "P21",
        [(SSE, "models-bucket-encryption", put("rules.0.applyServerSideEncryptionByDefault", {"sseAlgorithm": "AES256"}))],
        [("models-bucket", ALB_LOGS_BUCKET_MESSAGE)],
    ),
    Case(
        "P21",
        [(SSE, "models-bucket-encryption", drop("rules.0.applyServerSideEncryptionByDefault.kmsMasterKeyId"))],
        [("models-bucket", "default encryption uses the AWS managed key (set kmsMasterKeyId to a customer key)")],
    ),
    Case("P21", [], [("models-bucket", "bucket has no default encryption configuration")], removed=[(SSE, "models-bucket-encryption")]),
    Case(
        "P22", [(VERSIONING, "models-bucket-versioning", put("versioningConfiguration.status", "Suspended"))], [("models-bucket", "versioning is not enabled")]
    ),
    Case(
        "P23",
        [(BUCKET_POLICY, "models-bucket-policy", put_json("policy", statement(0, Condition={"Bool": {"aws:SecureTransport": "true"}})))],
        [("models-bucket", "no bucket policy statement denies s3:* to any principal when aws:SecureTransport is false")],
    ),
    Case(
        "P24",
        [(IAM_POLICY, "models-read", put_json("policy", statement(0, Action="*")))],
        [("models-read", 'statement ReadModelObjects allows every action ("*")')],
    ),
    Case(
        "P24",
        [(ROLE_POLICY, "alb-controller", put_json("policy", statement(1, Action=["elasticloadbalancing:*", "iam:PassRole"], Resource="*")))],
        [
            ("alb-controller", 'statement BindTritonTargets allows every elasticloadbalancing action ("elasticloadbalancing:*")'),
            ("alb-controller", 'statement BindTritonTargets allows iam:PassRole on every resource ("*")'),
        ],
    ),
    Case(
        "P24",
        [(ROLE_POLICY, "network-flow-logs", put_json("policy", statement(0, NotAction="iam:*")))],
        [("network-flow-logs", "statement #1 allows everything except NotAction")],
    ),
    Case(
        "P25",
        [(IAM_POLICY, "models-read", put_json("policy", statement(0, Action=["s3:GetObject", "s3:PutObject", "s3:DeleteObject"])))],
        [
            (group, f"serving role {group} may s3:{action} (policy models-read; allowed: s3:GetObject, s3:GetObjectVersion, s3:ListBucket, kms:Decrypt)")
            for group in ("llm", "triton")
            for action in ("PutObject", "DeleteObject")
        ],
    ),
    Case(
        "P25",
        [(IAM_POLICY, "models-read", put_json("policy", statement(0, Resource="arn:aws:s3:::models-bucket-fba82833/*")))],
        [(group, f"serving role {group} reads the whole bucket (arn:aws:s3:::models-bucket-fba82833/*), not its model prefix") for group in ("llm", "triton")],
    ),
    Case(
        "P25",
        [(IAM_POLICY, "models-read", put_json("policy", statement(1, Condition={})))],
        [(group, f"serving role {group} lists the whole bucket (no s3:prefix condition)") for group in ("llm", "triton")],
    ),
    Case(
        "P25",
        [(ROLE, "triton", put("managedPolicyArns", ["arn:aws:iam::aws:policy/AmazonS3FullAccess"]))],
        [("triton", "serving role triton has managed policy arn:aws:iam::aws:policy/AmazonS3FullAccess (only reads of its model prefix are allowed)")],
    ),
    Case(
        "P26",
        [
            (
                ROLE,
                "triton",
                put_json(
                    "assumeRolePolicy", statement(0, Condition={"StringLike": {"oidc.eks.us-west-2.amazonaws.com/id/X:sub": "system:serviceaccount:*:*"}})
                ),
            )
        ],
        [
            ("triton", "trust statement #1 lets any service account matching system:serviceaccount:*:* assume the role"),
            ("triton", "trust statement #1 has no <issuer>:aud = sts.amazonaws.com condition"),
        ],
    ),
    Case(
        "P26",
        [
            (
                ROLE,
                "triton",
                put_json("assumeRolePolicy", statement(0, Condition={"StringEquals": {"oidc.eks.us-west-2.amazonaws.com/id/X:aud": "sts.amazonaws.com"}})),
            )
        ],
        [("triton", "trust statement #1 is not scoped to exactly one service account (StringEquals <issuer>:sub)")],
    ),
    Case(
        "P26",
        [(SECRET, "monitoring-grafana-admin", put("stringData.aws_secret_access_key", "x"))],
        [("monitoring-grafana-admin", "secret holds AWS credentials (key aws_secret_access_key)")],
    ),
    Case(
        "P26",
        [(DEPLOYMENT, "triton-spot", put(f"{TRITON}.env", [{"name": "AWS_ACCESS_KEY_ID", "value": "AKIAIOSFODNN7EXAMPLE"}]))],
        [("triton-spot", "container triton sets AWS_ACCESS_KEY_ID (static AWS keys)")],
    ),
    Case(
        "P27",
        [(KMS, "gpu-secrets", put("enableKeyRotation", False)), (KMS, "gpu-secrets", put_json("policy", statement(0, Principal={"AWS": "*"})))],
        [("gpu-secrets", "key rotation is off"), ("gpu-secrets", 'key policy statement AccountAdministration allows any principal ("*")')],
    ),
    Case(
        "P28",
        [(LOG_GROUP, "gpu-control-plane", put("retentionInDays", 30)), (LOG_GROUP, "network-flow-logs", drop("kmsKeyId"))],
        [("gpu-control-plane", "retention is 30 days (production keeps >= 365)"), ("network-flow-logs", "log group is not encrypted with a KMS key")],
    ),
    Case(
        "P28", [(LOG_GROUP, "gpu-control-plane", drop("retentionInDays"))], [("gpu-control-plane", "retention is not set (logs are kept, and billed, forever)")]
    ),
    Case("P28", [(LOG_GROUP, "gpu-control-plane", put("retentionInDays", 30))], [], settings={"production": False}),
    Case("P29", [], [(None, "no budget watches this stack's spend")], removed=[(BUDGET, "budget")]),
    Case(
        "P29",
        [(BUDGET, "budget", put("notifications", []))],
        [("budget", "budget has no ACTUAL notification"), ("budget", "budget has no FORECASTED notification")],
    ),
    Case(
        "P29",
        [(TOPIC_POLICY, "budget-alerts", put_json("policy", statement(0, Condition={})))],
        [("budget", "topic budget-alerts does not let budgets.amazonaws.com publish (with an aws:SourceAccount condition): alerts are dropped")],
    ),
    Case(
        "P29",
        [],
        [("budget", "topic budget-alerts has no subscriber")],
        removed=[(SUBSCRIPTION, "budget-email-ml-platform-oncall@example.com"), (SUBSCRIPTION, "budget-email-finops@example.com")],
    ),
    Case(
        "K01",
        [(NAMESPACE, "triton", put("metadata.labels", {"pod-security.kubernetes.io/enforce": "baseline"}))],
        [
            ("triton", "pod-security.kubernetes.io/enforce is baseline (required: restricted, or a gpuinfra.io/pod-security-exemption reason)"),
            ("triton", "pod-security.kubernetes.io/audit is not set (required: restricted, or a gpuinfra.io/pod-security-exemption reason)"),
            ("triton", "pod-security.kubernetes.io/warn is not set (required: restricted, or a gpuinfra.io/pod-security-exemption reason)"),
        ],
    ),
    Case(
        "K01",
        [(NAMESPACE, "monitoring-gpu", put("metadata.annotations", {})), (RELEASE, "monitoring-adapter", put("createNamespace", True))],
        [
            ("monitoring-gpu", "pod-security.kubernetes.io/enforce is privileged (required: restricted, or a gpuinfra.io/pod-security-exemption reason)"),
            ("monitoring-gpu", "pod-security.kubernetes.io/audit is not set (required: restricted, or a gpuinfra.io/pod-security-exemption reason)"),
            ("monitoring-gpu", "pod-security.kubernetes.io/warn is privileged (required: restricted, or a gpuinfra.io/pod-security-exemption reason)"),
            ("monitoring-adapter", "Helm creates namespace monitoring without Pod Security labels"),
        ],
    ),
    Case(
        "K02",
        [
            (DEPLOYMENT, "triton-floor", drop("spec.template.spec.securityContext.runAsNonRoot")),
            (DEPLOYMENT, "triton-floor", drop("spec.template.spec.securityContext.seccompProfile")),
            (DEPLOYMENT, "triton-floor", put("spec.template.spec.hostNetwork", True)),
            (DEPLOYMENT, "triton-floor", put(f"{TRITON}.securityContext", {"privileged": True, "readOnlyRootFilesystem": True})),
        ],
        [
            ("triton-floor", "pod shares the host's namespace (hostNetwork)"),
            ("triton-floor", "container fetch-models may run as root (runAsNonRoot is not true)"),
            ("triton-floor", "container fetch-models has no RuntimeDefault seccomp profile"),
            ("triton-floor", "container verify-models may run as root (runAsNonRoot is not true)"),
            ("triton-floor", "container verify-models has no RuntimeDefault seccomp profile"),
            ("triton-floor", "container triton may run as root (runAsNonRoot is not true)"),
            ("triton-floor", "container triton is privileged"),
            ("triton-floor", "container triton allows privilege escalation"),
            ("triton-floor", "container triton does not drop ALL capabilities"),
            ("triton-floor", "container triton has no RuntimeDefault seccomp profile"),
        ],
    ),
    Case(
        "K02",
        [(DAEMON_SET, "gpu-nvidia-device-plugin", put(f"{DEVICE_PLUGIN}.securityContext.readOnlyRootFilesystem", False))],
        [("gpu-nvidia-device-plugin", "container nvidia-device-plugin has a writable root filesystem")],
    ),
    Case(
        "K03",
        [
            (DEPLOYMENT, "triton-spot", drop("metadata.namespace")),
            (DEPLOYMENT, "triton-spot", drop("spec.template.spec.automountServiceAccountToken")),
            (DEPLOYMENT, "triton-floor", drop("spec.template.spec.serviceAccountName")),
            (DEPLOYMENT, "triton-floor", drop("spec.template.spec.automountServiceAccountToken")),
        ],
        [
            ("triton-floor", "pod uses the default service account with its token mounted"),
            ("triton-spot", "workload runs in the default namespace"),
            ("triton-spot", "pod mounts a token of service account triton it does not need (set automountServiceAccountToken: false)"),
        ],
    ),
    Case(
        "K03",
        [
            (DEPLOYMENT, "triton-floor", drop("spec.template.spec.automountServiceAccountToken")),
            (DEPLOYMENT, "triton-spot", drop("spec.template.spec.automountServiceAccountToken")),
        ],
        [
            ("triton-floor", "pod mounts a token of service account triton it does not need (set automountServiceAccountToken: false)"),
            ("triton-spot", "pod mounts a token of service account triton it does not need (set automountServiceAccountToken: false)"),
        ],
    ),
    Case(
        "K03",
        [(DAEMON_SET, "gpu-nvidia-device-plugin", put("spec.template.spec.automountServiceAccountToken", True))],
        [("gpu-nvidia-device-plugin", "pod uses the default service account with its token mounted")],
    ),
    Case(
        "K04",
        [(DEPLOYMENT, "triton-spot", put(f"{TRITON}.resources", {"requests": {"nvidia.com/gpu": 1}}))],
        [
            ("triton-spot", "container triton has no cpu request"),
            ("triton-spot", "container triton has no memory request"),
            ("triton-spot", "container triton has no memory limit"),
            ("triton-spot", "container triton has no cpu limit"),
            ("triton-spot", "container triton requests nvidia.com/gpu without a limit"),
            ("triton-spot", "pod tolerates the nvidia.com/gpu taint but no container has an nvidia.com/gpu limit"),
        ],
    ),
    Case("K04", [(DEPLOYMENT, "triton-spot", drop(f"{TRITON}.resources.limits.cpu"))], [], settings={"requireCpuLimit": False}),
    Case(
        "K05",
        [(DEPLOYMENT, "triton-floor", drop(f"{TRITON}.livenessProbe")), (DEPLOYMENT, "triton-floor", put(f"{TRITON}.startupProbe.failureThreshold", 6))],
        [
            ("triton-floor", "container triton has no livenessProbe on /v2/health/live"),
            ("triton-floor", "container triton startup probe allows 60 s, less than the model load time (120 s)"),
        ],
    ),
    Case(
        "K05",
        [
            (DEPLOYMENT, "triton-floor", put(f"{TRITON}.readinessProbe.httpGet.path", "/v2/health/live")),
            (DEPLOYMENT, "triton-floor", drop(f"{TRITON}.startupProbe")),
        ],
        [
            ("triton-floor", "container triton has no readinessProbe on /v2/health/ready"),
            ("triton-floor", "container triton has no startupProbe on /v2/health/ready"),
        ],
    ),
    Case(
        "K06",
        [
            (DEPLOYMENT, "triton-floor", put("spec.replicas", 1)),
            (PDB, "triton", put("spec", {"minAvailable": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": "triton"}}})),
        ],
        [
            ("triton-floor", "triton-floor, triton-spot run 2 replicas in total (production needs >= 3)"),
            ("triton", "PodDisruptionBudget triton can never be satisfied (minAvailable 2 of 2 replicas): node drains stall"),
        ],
    ),
    Case(
        "K06",
        [(PDB, "triton", put("spec.maxUnavailable", 0)), (DEPLOYMENT, "triton-spot", put("spec.template.spec.topologySpreadConstraints", []))],
        [
            ("triton", "PodDisruptionBudget triton allows no disruption: node drains stall"),
            ("triton-spot", "deployment triton-spot has no zone topology spread (topology.kubernetes.io/zone)"),
        ],
    ),
    Case(
        "K06",
        [],
        [
            ("triton-floor", "no PodDisruptionBudget selects deployment triton-floor"),
            ("triton-spot", "no PodDisruptionBudget selects deployment triton-spot"),
            ("triton-spot", "triton-spot run 1 replicas in total (production needs >= 3)"),
        ],
        removed=[(PDB, "triton")],
    ),
    Case("K06", [(DEPLOYMENT, "triton-floor", put("spec.replicas", 1))], [], settings={"production": False}),
    Case(
        "K07",
        [
            (DEPLOYMENT, "triton-spot", put(f"{TRITON}.image", "nvcr.io/nvidia/tritonserver:latest")),
            (JOB, PROD_ENGINE_JOB, put("spec.template.spec.containers.0.image", "localhost:5000/aws-cli")),
            (RELEASE, "monitoring-adapter", drop("version")),
            (NODE_CLASS, "gpu-fleet-gpu", put("spec.amiSelectorTerms", [{"alias": "al2023@latest"}])),
        ],
        [
            ("triton-spot", "container triton image nvcr.io/nvidia/tritonserver:latest uses :latest"),
            (PROD_ENGINE_JOB, "container upload-plan image localhost:5000/aws-cli has no tag"),
            ("monitoring-adapter", "chart prometheus-adapter is not pinned to a version"),
            ("gpu-fleet-gpu", "node image alias al2023@latest floats to each new AMI (pin a version, e.g. al2023@v20260714)"),
        ],
    ),
    Case("K07", [(DEPLOYMENT, "triton-spot", put(f"{TRITON}.image", "nvcr.io/nvidia/tritonserver@sha256:" + "a" * 64))], []),
    Case(
        "K08",
        [
            (DEPLOYMENT, "triton-floor", put(f"{TRITON}.args", ["--model-repository=/models", "--model-control-mode=poll", "--strict-readiness=false"])),
            (TARGET_GROUP, "alb-triton", put("port", 8002)),
            (LISTENER_RULE, "alb-ready", put("conditions.0.pathPattern.values", ["/*"])),
            (BINDING, "alb-triton", put("spec.serviceRef.port", "metrics")),
        ],
        [
            ("triton-floor", "container triton runs --model-control-mode=poll (required: none, or explicit with the model-repository API restricted)"),
            ("triton-floor", "container triton does not set --exit-on-error=true"),
            ("triton-floor", "container triton does not set --strict-readiness=true"),
            ("triton-floor", "container triton does not set --disable-auto-complete-config"),
            ("alb-triton", "target group forwards to Triton's metrics port 8002"),
            ("alb-ready", "listener rule forwards /*, which includes Triton's /metrics"),
            ("alb-triton", "target group binding sends load-balancer traffic to service port metrics"),
        ],
    ),
    Case(
        "K08",
        [
            (DEPLOYMENT, "triton-floor", put(f"{TRITON}.args.1", "--model-control-mode=explicit")),
            (DEPLOYMENT, "triton-spot", put(f"{TRITON}.args.1", "--model-control-mode=explicit")),
        ],
        [
            ("triton-floor", "container triton runs --model-control-mode=explicit (required: none, or explicit with the model-repository API restricted)"),
            ("triton-spot", "container triton runs --model-control-mode=explicit (required: none, or explicit with the model-repository API restricted)"),
        ],
    ),
    Case(
        "K08",
        [
            (DEPLOYMENT, "triton-floor", put(f"{TRITON}.args.1", "--model-control-mode=explicit")),
            (DEPLOYMENT, "triton-floor", put(f"{TRITON}.args.11", "--http-restricted-api=model-repository:admin-key=s3cret")),
        ],
        [],
    ),
    Case("K08", [(DEPLOYMENT, "triton-floor", put(f"{TRITON}.args.1", "--model-control-mode=poll"))], [], settings={"production": False}),
    Case(
        "K09",
        [(DEPLOYMENT, "triton-spot", put("spec.template.spec.volumes.2.emptyDir", {"medium": "Memory"}))],
        [("triton-spot", "/dev/shm of container triton is not a Memory emptyDir with a sizeLimit")],
    ),
    Case(
        "K09",
        [(DEPLOYMENT, "triton-spot", put(f"{TRITON}.resources.limits.memory", "1536Mi"))],
        [("triton-spot", "container triton memory limit 1.5Gi leaves less than 1Gi beside its 1Gi /dev/shm")],
    ),
    Case(
        "K09",
        [(DEPLOYMENT, "triton-spot", put(f"{TRITON}.volumeMounts", [{"mountPath": "/models", "name": "models"}]))],
        [("triton-spot", "container triton has no /dev/shm volume (the 64 MiB default breaks the Python backend)")],
    ),
    Case(
        "P30",
        [(ROLE, "budget-action", put_json("assumeRolePolicy", statement(0, Condition={})))],
        [("budget-action", "statement #1 lets budgets.amazonaws.com act for any account (add an aws:SourceAccount or aws:SourceArn condition)")],
    ),
    Case(
        "P30",
        [(QUEUE_POLICY, "gpu-fleet-interruptions", put_json("policy", statement(0, Condition={})))],
        [
            (
                "gpu-fleet-interruptions",
                "statement EventBridgeDelivers lets events.amazonaws.com act for any account (add an aws:SourceAccount or aws:SourceArn condition)",
            )
        ],
    ),
    Case(
        "P31",
        [],
        [("budget", "budget counts spend tagged 'stack', but that cost-allocation tag is not activated: it sees $0 and never acts")],
        removed=[(COST_ALLOCATION_TAG, "budget-tag-stack")],
    ),
    Case(
        "P32",
        [(DEPLOYMENT, "triton-floor", put("spec.template.spec.initContainers.0.command", ["aws", "s3", "cp", "/models/x", "s3://b/x", "--sse", "aws:kms"]))],
        [
            (
                "triton-floor",
                "container fetch-models uploads with --sse aws:kms and no --sse-kms-key-id: the AWS-managed key, which readers of the bucket cannot use",
            )
        ],
    ),
    Case(
        "K11",
        [(PDB, "triton", put("spec.maxUnavailable", "100%"))],
        [
            ("triton-floor", "PodDisruptionBudget triton lets a drain take every replica at once (100% of 4)"),
            ("triton-spot", "PodDisruptionBudget triton lets a drain take every replica at once (100% of 4)"),
        ],
    ),
    Case(
        "K11",
        [],
        [
            ("triton-floor", "no PodDisruptionBudget covers this serving Deployment: a node drain may evict every replica at once"),
            ("triton-spot", "no PodDisruptionBudget covers this serving Deployment: a node drain may evict every replica at once"),
        ],
        removed=[(PDB, "triton")],
    ),
    Case(
        "K12",
        [(DEPLOYMENT, "triton-spot", drop(f"{TRITON}.lifecycle"))],
        [("triton-spot", "container triton has no preStop hook: Triton stops accepting before the load balancer stops sending")],
    ),
    Case(
        "K12",
        [(DEPLOYMENT, "triton-floor", put("spec.template.spec.terminationGracePeriodSeconds", 40))],
        [("triton-floor", "grace period 40 s is shorter than preStop (20 s) + --exit-timeout-secs (30 s): in-flight requests are killed")],
    ),
    Case(
        "K10",
        [],
        [
            ("triton-floor", "namespace triton has no default-deny NetworkPolicy: any pod may reach these pods, and they any address"),
            ("triton-spot", "namespace triton has no default-deny NetworkPolicy: any pod may reach these pods, and they any address"),
        ],
        removed=[(NETWORK_POLICY, "triton-default-deny")],
    ),
    Case(
        "K10",
        [("aws:eks/addon:Addon", "gpu-vpc-cni", drop("configurationValues"))],
        [("gpu-vpc-cni", "the vpc-cni add-on does not enable its network policy agent: NetworkPolicies are not enforced")],
    ),
]


def _case_id(case: Case) -> str:
    return f"{case.code}-{CASES.index(case)}"


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_violation_messages(case: Case, compliant: Stack, prod_settings: dict[str, Mapping[str, Any]]) -> None:
    policy = next(p for p in POLICIES if p.code == case.code)
    stack = with_edits(compliant, case.edits)
    for type_token, name in case.removed:
        stack = without(stack, type_token, name)
    findings = policy.check(stack, {**prod_settings[policy.name], **case.settings})
    assert [(f.resource.name if f.resource else None, f.message) for f in findings] == case.expected


def test_every_policy_has_a_violation_case() -> None:
    """The wiring checks (W) have theirs in tests/test_wiring.py, on the unmodified prod plan."""
    assert {c.code for c in CASES if c.expected} == {p.code for p in POLICIES if not p.code.startswith("W")}


def test_p05_node_group_in_a_public_subnet(compliant: Stack, prod_settings: dict[str, Mapping[str, Any]]) -> None:
    public = one(compliant, SUBNET, "network-public-us-west-2a")
    group = one(compliant, NODE_GROUP, "gpu-system")
    rewired = replace(group, dependencies={**group.dependencies, "subnetIds": [public.urn]})
    stack = Stack([r for r in compliant.resources if r is not group] + [rewired])
    findings = POLICIES_BY_NAME["p05-private-nodes-no-ssh"].check(stack, prod_settings["p05-private-nodes-no-ssh"])
    assert [(f.resource.name if f.resource else None, f.message) for f in findings] == [
        ("gpu-system", "node group launches into public subnet network-public-us-west-2a")
    ]
