"""K01-K04, K07: namespaces, pod security, service accounts, resources and images."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gpu_inference_platform.policy.checks.capacity import HELM_RELEASE
from gpu_inference_platform.policy.checks.cluster import NODE_CLASS
from gpu_inference_platform.policy.model import Finding, Policy, Resource, Settings, Severity, Stack
from gpu_inference_platform.policy.values import as_list, mapping
from gpu_inference_platform.policy.workloads import DAEMON_SET, GPU_RESOURCE, WORKLOAD_TYPES, containers, namespace, object_name, pod_spec

NAMESPACE = "kubernetes:core/v1:Namespace"
SERVICE_ACCOUNT = "kubernetes:core/v1:ServiceAccount"
POD_SECURITY_MODES = ("enforce", "audit", "warn")
EXEMPTION_ANNOTATION = "gpuinfra.io/pod-security-exemption"
API_ACCESS_ANNOTATION = "gpuinfra.io/kube-api-access"
HOST_NAMESPACES = ("hostNetwork", "hostPID", "hostIPC")
SAFE_SECCOMP = ("RuntimeDefault", "Localhost")


def _pod_security(resource: Resource, _: Settings) -> Iterator[str]:
    if resource.type == HELM_RELEASE:
        if resource.props.get("createNamespace"):
            yield f"Helm creates namespace {resource.props.get('namespace')} without Pod Security labels"
        return
    metadata = mapping(resource.props.get("metadata"))
    labels = mapping(metadata.get("labels"))
    if mapping(metadata.get("annotations")).get(EXEMPTION_ANNOTATION):
        return
    for mode in POD_SECURITY_MODES:
        level = labels.get(f"pod-security.kubernetes.io/{mode}")
        if level != "restricted":
            yield f"pod-security.kubernetes.io/{mode} is {level or 'not set'} (required: restricted, or a {EXEMPTION_ANNOTATION} reason)"


def _container_security(container: Mapping[str, Any], pod_context: Mapping[str, Any]) -> Iterator[str]:
    context = mapping(container.get("securityContext"))
    name = container.get("name")
    if context.get("runAsNonRoot", pod_context.get("runAsNonRoot")) is not True:
        yield f"container {name} may run as root (runAsNonRoot is not true)"
    if context.get("privileged") is True:
        yield f"container {name} is privileged"
    if context.get("allowPrivilegeEscalation") is not False:
        yield f"container {name} allows privilege escalation"
    if "ALL" not in as_list(mapping(context.get("capabilities")).get("drop")):
        yield f"container {name} does not drop ALL capabilities"
    seccomp = mapping(context.get("seccompProfile") or pod_context.get("seccompProfile")).get("type")
    if seccomp not in SAFE_SECCOMP:
        yield f"container {name} has no RuntimeDefault seccomp profile"
    if context.get("readOnlyRootFilesystem") is not True:
        yield f"container {name} has a writable root filesystem"


def _pod_hardening(resource: Resource, _: Settings) -> Iterator[str]:
    spec = pod_spec(resource.type, resource.props)
    for field in HOST_NAMESPACES:
        if spec.get(field) is True:
            yield f"pod shares the host's namespace ({field})"
    for container in containers(spec):
        yield from _container_security(container, mapping(spec.get("securityContext")))


def _service_accounts(stack: Stack, _: Settings) -> Iterator[Finding]:
    accounts = {(namespace(a.props), object_name(a.props)): a for a in stack.of_type(SERVICE_ACCOUNT)}
    for workload in stack.of_type(*WORKLOAD_TYPES):
        where = namespace(workload.props)
        if where in (None, "default"):
            yield Finding(workload, "workload runs in the default namespace")
        spec = pod_spec(workload.type, workload.props)
        account_name = str(spec.get("serviceAccountName") or "default")
        account = accounts.get((where, account_name))
        automount = spec.get("automountServiceAccountToken", account.props.get("automountServiceAccountToken") if account else None)
        if automount is False:
            continue
        if account_name == "default":
            yield Finding(workload, "pod uses the default service account with its token mounted")
            continue
        annotations = mapping(mapping(account.props.get("metadata")).get("annotations")) if account else {}
        if not annotations.get(API_ACCESS_ANNOTATION):  # IRSA needs no API token: its web-identity token is a volume of its own
            yield Finding(workload, f"pod mounts a token of service account {account_name} it does not need (set automountServiceAccountToken: false)")


def _container_resources(container: Mapping[str, Any], require_cpu_limit: bool) -> Iterator[str]:
    resources = mapping(container.get("resources"))
    requests, limits = mapping(resources.get("requests")), mapping(resources.get("limits"))
    name = container.get("name")
    for kind, values, key in (("request", requests, "cpu"), ("request", requests, "memory"), ("limit", limits, "memory")):
        if key not in values:
            yield f"container {name} has no {key} {kind}"
    if require_cpu_limit and "cpu" not in limits:
        yield f"container {name} has no cpu limit"
    if GPU_RESOURCE in requests and GPU_RESOURCE not in limits:
        yield f"container {name} requests {GPU_RESOURCE} without a limit"


def _tolerates_gpu_taint(spec: Mapping[str, Any]) -> bool:
    return any(mapping(t).get("key") == GPU_RESOURCE for t in as_list(spec.get("tolerations")))


def _resources(resource: Resource, settings: Settings) -> Iterator[str]:
    spec = pod_spec(resource.type, resource.props)
    for container in containers(spec):
        yield from _container_resources(container, bool(settings["requireCpuLimit"]))
    gpu_limited = any(GPU_RESOURCE in mapping(mapping(c.get("resources")).get("limits")) for c in containers(spec))
    if resource.type != DAEMON_SET and _tolerates_gpu_taint(spec) and not gpu_limited:
        yield f"pod tolerates the {GPU_RESOURCE} taint but no container has an {GPU_RESOURCE} limit"


def _image_problem(image: str) -> str | None:
    if "@sha256:" in image:
        return None
    repository, _, tag = image.rpartition(":")
    if not repository or "/" in tag:
        return "has no tag"
    return "uses :latest" if tag == "latest" else None


def _pinned(resource: Resource, _: Settings) -> Iterator[str]:
    if resource.type == HELM_RELEASE:
        if not resource.props.get("version"):
            yield f"chart {resource.props.get('chart')} is not pinned to a version"
    elif resource.type == NODE_CLASS:
        for term in as_list(mapping(resource.props.get("spec")).get("amiSelectorTerms")):
            alias = str(mapping(term).get("alias", ""))
            if alias.endswith("@latest"):
                yield f"node image alias {alias} floats to each new AMI (pin a version, e.g. {alias.partition('@')[0]}@v20260714)"
    else:
        for container in containers(pod_spec(resource.type, resource.props)):
            problem = _image_problem(str(container.get("image", "")))
            if problem:
                yield f"container {container.get('name')} image {container.get('image')} {problem}"


NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
ADDON = "aws:eks/addon:Addon"


def _denies_by_default(policy: Resource) -> bool:
    spec = mapping(policy.props.get("spec"))
    selects_all = not mapping(spec.get("podSelector")).get("matchLabels") and not mapping(spec.get("podSelector")).get("matchExpressions")
    return selects_all and {"Ingress", "Egress"} <= set(as_list(spec.get("policyTypes"))) and not spec.get("ingress") and not spec.get("egress")


def _network_policies(stack: Stack, _: Settings) -> Iterator[Finding]:
    denied = {namespace(p.props) for p in stack.of_type(NETWORK_POLICY) if _denies_by_default(p)}
    for workload in stack.of_type(*WORKLOAD_TYPES):
        where = namespace(workload.props)
        if where not in denied and where != "kube-system":
            yield Finding(workload, f"namespace {where} has no default-deny NetworkPolicy: any pod may reach these pods, and they any address")
    cni = [a for a in stack.of_type(ADDON) if a.props.get("addonName") == "vpc-cni"]
    for addon in cni:
        values = str(addon.props.get("configurationValues") or "")
        if '"enableNetworkPolicy": "true"' not in values:
            yield Finding(addon, "the vpc-cni add-on does not enable its network policy agent: NetworkPolicies are not enforced")


POLICIES = [
    Policy(
        "K01",
        "k01-namespace-pod-security",
        "Namespaces enforce, audit and warn on the restricted Pod Security Standard; an exempt namespace (the GPU exporter) "
        f"says why in the {EXEMPTION_ANNOTATION} annotation.",
        Severity.HIGH,
        "Label namespaces with components.pods.RESTRICTED_POD_SECURITY; do not let Helm create namespaces.",
        "EKS Best Practices (pod security), Pod Security Standards",
        (NAMESPACE, HELM_RELEASE),
        check_resource=_pod_security,
    ),
    Policy(
        "K02",
        "k02-pod-hardening",
        "Pods run non-root with no privilege escalation, ALL capabilities dropped, seccomp RuntimeDefault, no host namespaces and a read-only root filesystem.",
        Severity.HIGH,
        "Use components.pods.RESTRICTED_POD_CONTEXT and RESTRICTED_CONTAINER_CONTEXT; mount emptyDirs where the image writes. "
        "Node agents that need root (device plugins) are waived by name with a reason.",
        "CKV_K8S_16-23, CKV_K8S_28, CKV_K8S_37, CIS 4.2",
        WORKLOAD_TYPES,
        check_resource=_pod_hardening,
    ),
    Policy(
        "K03",
        "k03-service-accounts",
        "Workloads run outside the default namespace under a dedicated service account, and mount its token only when "
        f"they call the Kubernetes API (the {API_ACCESS_ANNOTATION} annotation); IRSA needs no API token.",
        Severity.MEDIUM,
        "Create a ServiceAccount per workload; set automountServiceAccountToken: false where the pod does not call the API.",
        "CKV_K8S_38, CKV_K8S_41, CKV_K8S_21",
        check_stack=_service_accounts,
    ),
    Policy(
        "K04",
        "k04-container-resources",
        f"Containers request cpu and memory and have memory (and cpu) limits; GPU containers limit {GPU_RESOURCE}; "
        "pods that tolerate the GPU taint hold a GPU.",
        Severity.HIGH,
        f"Set resources.requests/limits on every container, {GPU_RESOURCE} in limits for GPU work.",
        "CKV_K8S_10, CKV_K8S_11, CKV_K8S_12, CKV_K8S_13",
        WORKLOAD_TYPES,
        check_resource=_resources,
        settings={"requireCpuLimit": True},
    ),
    Policy(
        "K07",
        "k07-pinned-images",
        "Container images, Helm charts and node images are pinned to a version or digest, never latest.",
        Severity.MEDIUM,
        "Use image:tag (or @sha256 digests), a chart version, and fleet.amiAlias: al2023@vYYYYMMDD.",
        "CKV_K8S_14, CKV_K8S_43",
        (*WORKLOAD_TYPES, HELM_RELEASE, NODE_CLASS),
        check_resource=_pinned,
    ),
    Policy(
        "K10",
        "k10-network-policies",
        "Every namespace of the platform's workloads denies traffic by default (explicit allows only), and the CNI enforces NetworkPolicies.",
        Severity.HIGH,
        "Add a default-deny NetworkPolicy per namespace with explicit allows (components do), and set enableNetworkPolicy on the vpc-cni add-on.",
        "EKS best practices: network security; CKV_K8S (NetworkPolicy)",
        check_stack=_network_policies,
    ),
]
