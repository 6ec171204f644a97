"""P24-P27: IAM policies, the serving role, IRSA trust and KMS keys."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator, Mapping
from typing import Any

from gpu_inference_platform.policy.checks.kubernetes import SERVICE_ACCOUNT
from gpu_inference_platform.policy.model import Finding, Policy, Resource, Settings, Severity, Stack
from gpu_inference_platform.policy.values import AWS_ACCESS_KEY_ID, allows, as_list, mapping, principals, statement_label, statements
from gpu_inference_platform.policy.workloads import WORKLOAD_TYPES, containers, namespace, object_name, pod_spec, serving_containers

IAM_POLICY = "aws:iam/policy:Policy"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
USER_POLICY = "aws:iam/userPolicy:UserPolicy"
GROUP_POLICY = "aws:iam/groupPolicy:GroupPolicy"
ACCESS_KEY = "aws:iam/accessKey:AccessKey"
KMS_KEY = "aws:kms/key:Key"
SECRET = "kubernetes:core/v1:Secret"
STATIC_KEY_NAMES = re.compile(r"^aws_(access_key_id|secret_access_key)$", re.IGNORECASE)
POLICY_DOCUMENT_TYPES = (IAM_POLICY, ROLE_POLICY, USER_POLICY, GROUP_POLICY)


def _documents(resource: Resource) -> list[Any]:
    """The policy documents a resource carries (a Role's inline policies included)."""
    if resource.type == ROLE:
        return [mapping(p).get("policy") for p in as_list(resource.props.get("inlinePolicies"))]
    return [resource.props.get("policy")]


def _matches(action: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in patterns)


def _least_privilege(resource: Resource, settings: Settings) -> Iterator[str]:
    unrestrictable = list(settings["wildcardResourceActions"])
    for document in _documents(resource):
        for index, statement in enumerate(statements(document)):
            if not allows(statement):
                continue
            label = statement_label(statement, index)
            if "NotAction" in statement:
                yield f"statement {label} allows everything except NotAction"
            actions = [str(a) for a in as_list(statement.get("Action"))]
            for action in actions:
                if action == "*":
                    yield f'statement {label} allows every action ("*")'
                elif action.endswith(":*"):
                    yield f'statement {label} allows every {action.split(":")[0]} action ("{action}")'
            if "*" in as_list(statement.get("Resource")) or "NotResource" in statement:
                restrictable = [a for a in actions if a != "*" and not a.endswith(":*") and not _matches(a, unrestrictable)]
                if restrictable:
                    yield f'statement {label} allows {", ".join(restrictable)} on every resource ("*")'


def _serving_roles(stack: Stack) -> list[Resource]:
    """IAM roles that the service accounts of Triton pods assume through IRSA."""
    accounts = {
        (namespace(w.props), str(pod_spec(w.type, w.props).get("serviceAccountName") or "default"))
        for w in stack.of_type(*WORKLOAD_TYPES)
        if serving_containers(pod_spec(w.type, w.props))
    }
    roles: dict[str, Resource] = {}
    for account in stack.of_type(SERVICE_ACCOUNT):
        if (namespace(account.props), object_name(account.props)) in accounts:
            roles.update({r.urn: r for r in stack.referenced(account, "metadata", ROLE)})
    return list(roles.values())


def _role_documents(stack: Stack, role: Resource) -> Iterator[tuple[str, Any]]:
    """(where, document) for every policy the role holds; managed policies outside the stack yield (arn, None)."""
    for inline in stack.referencing(role, ROLE_POLICY, "role"):
        yield f"inline policy {inline.name}", inline.props.get("policy")
    for document in _documents(role):
        yield "inline policy", document
    for attachment in stack.referencing(role, ROLE_POLICY_ATTACHMENT, "role"):
        managed = stack.referenced(attachment, "policyArn", IAM_POLICY)
        for policy in managed:
            yield f"policy {policy.name}", policy.props.get("policy")
        if not managed:
            yield str(attachment.props.get("policyArn")), None
    for arn in as_list(role.props.get("managedPolicyArns")):
        yield str(arn), None


def _object_prefix(resource: str) -> str:
    """The key prefix of an S3 object ARN (`arn:aws:s3:::bucket/models/abc/*` -> `models/abc/`)."""
    key = resource.split(":::", 1)[-1].partition("/")[2]
    return key.rstrip("*")


def _statement_problems(role: Resource, where: str, statement: Mapping[str, Any], allowed: list[str]) -> Iterator[str]:
    actions = [str(a) for a in as_list(statement.get("Action"))]
    for action in actions:
        if not _matches(action, allowed):
            yield f"serving role {role.name} may {action} ({where}; allowed: {', '.join(allowed)})"
    for resource in [str(r) for r in as_list(statement.get("Resource"))]:
        if resource.startswith("arn:aws:s3:::") and "/" in resource and not _object_prefix(resource).strip("/"):
            yield f"serving role {role.name} reads the whole bucket ({resource}), not its model prefix"
    if "s3:ListBucket" in actions and "s3:prefix" not in mapping(mapping(statement.get("Condition")).get("StringLike")):
        yield f"serving role {role.name} lists the whole bucket (no s3:prefix condition)"


def _read_only_serving(stack: Stack, settings: Settings) -> Iterator[Finding]:
    allowed = list(settings["allowedActions"])
    for role in _serving_roles(stack):
        for where, document in _role_documents(stack, role):
            if document is None:
                yield Finding(role, f"serving role {role.name} has managed policy {where} (only reads of its model prefix are allowed)")
            for statement in filter(allows, statements(document)):
                for message in _statement_problems(role, where, statement, allowed):
                    yield Finding(role, message)


def _web_identity_problems(statement: Mapping[str, Any], label: str) -> Iterator[str]:
    conditions = mapping(statement.get("Condition"))
    exact, loose = mapping(conditions.get("StringEquals")), mapping(conditions.get("StringLike"))
    subjects = [str(v) for k, v in exact.items() if k.endswith(":sub") for v in as_list(v)]
    wildcard = [str(v) for k, v in loose.items() if k.endswith(":sub") for v in as_list(v)]
    if wildcard:
        yield f"trust statement {label} lets any service account matching {wildcard[0]} assume the role"
    elif len(subjects) != 1 or not subjects[0].startswith("system:serviceaccount:") or subjects[0].count(":") != 3:
        yield f"trust statement {label} is not scoped to exactly one service account (StringEquals <issuer>:sub)"
    if not any(k.endswith(":aud") and as_list(v) == ["sts.amazonaws.com"] for k, v in exact.items()):
        yield f"trust statement {label} has no <issuer>:aud = sts.amazonaws.com condition"


def _container_keys(resource: Resource) -> Iterator[str]:
    for container in containers(pod_spec(resource.type, resource.props)):
        for variable in as_list(container.get("env")):
            name = str(mapping(variable).get("name", ""))
            if STATIC_KEY_NAMES.match(name):
                yield f"container {container.get('name')} sets {name} (static AWS keys)"


def _no_static_keys(resource: Resource, _: Settings) -> Iterator[str]:
    if resource.type == ACCESS_KEY:
        yield "static IAM access key (use IRSA for pods and OIDC for CI)"
    elif resource.type == SECRET:
        data = {**mapping(resource.props.get("data")), **mapping(resource.props.get("stringData"))}
        for key, value in data.items():
            if STATIC_KEY_NAMES.match(str(key)) or AWS_ACCESS_KEY_ID.search(str(value)):
                yield f"secret holds AWS credentials (key {key})"
    elif resource.type == ROLE:
        for index, statement in enumerate(statements(resource.props.get("assumeRolePolicy"))):
            if allows(statement) and any("oidc-provider/" in p for p in principals(statement, "Federated")):
                yield from _web_identity_problems(statement, statement_label(statement, index))
    else:
        yield from _container_keys(resource)


def _kms_keys(key: Resource, _: Settings) -> Iterator[str]:
    symmetric = key.props.get("customerMasterKeySpec", key.props.get("keySpec", "SYMMETRIC_DEFAULT")) == "SYMMETRIC_DEFAULT"
    if symmetric and key.props.get("enableKeyRotation") is not True:
        yield "key rotation is off"
    for index, statement in enumerate(statements(key.props.get("policy"))):
        if allows(statement) and "*" in principals(statement, "AWS"):
            yield f'key policy statement {statement_label(statement, index)} allows any principal ("*")'


SOURCE_CONTEXT_SERVICES = (
    "budgets.amazonaws.com",
    "events.amazonaws.com",
    "vpc-flow-logs.amazonaws.com",
    "costalerts.amazonaws.com",
    "cloudwatch.amazonaws.com",
)
"""Service principals that act on behalf of any account: a grant to them names whose (aws:SourceAccount/SourceArn)."""
SERVICE_GRANTS = {
    ROLE: "assumeRolePolicy",
    "aws:sqs/queuePolicy:QueuePolicy": "policy",
    "aws:sns/topicPolicy:TopicPolicy": "policy",
    "aws:s3/bucketPolicy:BucketPolicy": "policy",
}
"""Resource -> the property holding a document that grants to principals."""
SOURCE_CONTEXT_KEYS = ("aws:sourceaccount", "aws:sourcearn")


def _confused_deputy(resource: Resource, _: Settings) -> Iterator[str]:
    for index, statement in enumerate(statements(resource.props.get(SERVICE_GRANTS[resource.type]))):
        services = [s for s in principals(statement, "Service") if s in SOURCE_CONTEXT_SERVICES]
        keys = {key.lower() for block in mapping(statement.get("Condition")).values() for key in mapping(block)}
        if allows(statement) and services and not keys & set(SOURCE_CONTEXT_KEYS):
            yield (
                f"statement {statement_label(statement, index)} lets {', '.join(services)} act for any account "
                "(add an aws:SourceAccount or aws:SourceArn condition)"
            )


POLICIES = [
    Policy(
        "P24",
        "p24-iam-least-privilege",
        'IAM policies grant no "*" or service-wide actions, and "*" resources only to actions that cannot be scoped.',
        Severity.CRITICAL,
        "Name the actions and the ARNs they act on; use conditions (resource tags) where ARNs are not known in advance.",
        "CKV_AWS_62, CKV_AWS_63, CKV_AWS_355",
        (*POLICY_DOCUMENT_TYPES, ROLE),
        check_resource=_least_privilege,
        settings={
            "wildcardResourceActions": ["*:Describe*", "pricing:GetProducts", "sts:GetCallerIdentity", "cloudwatch:PutMetricData", "iam:ListInstanceProfiles"]
        },
    ),
    Policy(
        "P25",
        "p25-serving-role-read-only",
        "The role Triton pods assume only reads (Get/List) its own model prefix; no Put or Delete.",
        Severity.HIGH,
        "Attach only ModelRepository.read_policy (Get on models/<tree-hash>/*, List with an s3:prefix condition, kms:Decrypt via S3).",
        "CKV_AWS_290",
        check_stack=_read_only_serving,
        settings={"allowedActions": ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket", "kms:Decrypt"]},
    ),
    Policy(
        "P26",
        "p26-irsa-scoped-no-static-keys",
        "IRSA trust is scoped to one namespace/service account with the STS audience; there are no static AWS keys anywhere.",
        Severity.HIGH,
        "Use components.iam.irsa_trust_policy; never create access keys or put AWS keys in Secrets or env.",
        "EKS Best Practices (IAM), CKV_AWS_60, CKV_AWS_61, CKV_K8S_35",
        (ROLE, ACCESS_KEY, SECRET, *WORKLOAD_TYPES),
        check_resource=_no_static_keys,
    ),
    Policy(
        "P27",
        "p27-kms-rotation-no-wildcard",
        "Customer KMS keys rotate and their policies name no wildcard principal.",
        Severity.HIGH,
        "Set enableKeyRotation: true; grant the account root and named services, with conditions.",
        "CKV_AWS_7, CKV_AWS_33",
        (KMS_KEY,),
        check_resource=_kms_keys,
    ),
    Policy(
        "P30",
        "p30-service-confused-deputy",
        "Grants to AWS service principals (role trust, queue, topic and bucket policies) are scoped to this account or the exact source.",
        Severity.HIGH,
        "Add Condition aws:SourceAccount (or aws:SourceArn of the rule, budget or log group) to the statement.",
        "AWS IAM user guide: the confused deputy problem",
        tuple(SERVICE_GRANTS),
        check_resource=_confused_deputy,
    ),
]
