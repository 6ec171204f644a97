"""W01-W07: wiring. Every cross-reference of the plan resolves to something that will exist on a live cluster.

Schemas cannot see these: a Service URL the chart never renders, a StorageClass with no
driver, an HPA metric no adapter serves, an alert routed to nobody, a controller whose IAM
lacks what its pinned version calls, GPU limits with no room for an engine build, a load
balancer that routes models the repository keeps internal. Each
finding names both ends of the broken reference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from gpu_inference_platform.ops.modelbuild.catalog import STACK_TARGET, read_public_models
from gpu_inference_platform.ops.modelbuild.spec import MODEL_REPO
from gpu_inference_platform.policy.charts import Release, release_of, rendered_services
from gpu_inference_platform.policy.checks.capacity import HELM_RELEASE
from gpu_inference_platform.policy.checks.load_balancer import LISTENER, LISTENER_RULE
from gpu_inference_platform.policy.iam_coverage import applicable, load_reference, substitute, uncovered
from gpu_inference_platform.policy.model import Finding, Policy, Resource, Settings, Severity, Stack
from gpu_inference_platform.policy.values import as_list, mapping, statements
from gpu_inference_platform.policy.workloads import CAPACITY_TYPE_LABEL as CAPACITY_TYPE
from gpu_inference_platform.policy.workloads import GPU_RESOURCE, capacity_type, containers, pod_spec

SERVICE = "kubernetes:core/v1:Service"
STORAGE_CLASS = "kubernetes:storage.k8s.io/v1:StorageClass"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
SERVICE_MONITOR = "kubernetes:monitoring.coreos.com/v1:ServiceMonitor"
NODE_POOL = "kubernetes:karpenter.sh/v1:NodePool"
NODE_CLASS = "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
JOB = "kubernetes:batch/v1:Job"
ADDON = "aws:eks/addon:Addon"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
TOPIC = "aws:sns/topic:Topic"
NAME_LABEL = "app.kubernetes.io/name"
PROVISIONER_ADDONS = {"ebs.csi.aws.com": "aws-ebs-csi-driver", "efs.csi.aws.com": "aws-efs-csi-driver"}
"""CSI provisioner -> the EKS add-on that installs its driver."""
EBS_CSI_POLICY = "policy/service-role/AmazonEBSCSIDriverPolicy"
SERVER_READY_PATH = "/v2/health/ready"
MODEL_ROUTE = re.compile(r"^/v2/models/(?P<model>[^/*?]+)(?:/versions/(?:\*|\d+))?/(?P<endpoint>infer|ready|generate|generate_stream)$")
"""A forwarded path that names exactly one model: one of its endpoints, any or one version."""
ENDPOINTS = {"embedding": ("infer", "ready"), "generation": ("generate", "generate_stream", "ready")}
"""The endpoints a public model of each kind is served on; the first is the one clients cannot do without."""
SERVICE_HOST = re.compile(r"(?<![\w.-])([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.svc(?:\.cluster\.local)?\b")
OIDC_PROVIDER = re.compile(r"^arn:(?P<partition>[^:]+):iam::(?P<account>\d{12}):oidc-provider/oidc\.eks\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/")
MATCHER = re.compile(r'^\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"?([^"]*?)"?\s*$')
CHART_DEFAULT_ALERTMANAGER_CONFIG: dict[str, Any] = {
    "route": {"receiver": "null", "routes": [{"receiver": "null", "matchers": ['alertname = "Watchdog"']}]},
    "receivers": [{"name": "null"}],
}
"""kube-prometheus-stack 65.1.1 values.yaml `alertmanager.config`: everything ends at the `null` receiver."""


# ---------------------------------------------------------------- plan helpers


def _kubernetes_objects(stack: Stack) -> list[Resource]:
    return [r for r in stack.resources if r.type.startswith("kubernetes:") and r.type != HELM_RELEASE and not r.type.startswith("pulumi:")]


def _releases(stack: Stack) -> list[tuple[Resource, Release]]:
    return [(r, release_of(r.props)) for r in stack.of_type(HELM_RELEASE)]


def _leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of every leaf below `value`."""
    if isinstance(value, Mapping):
        for key, child in value.items():
            yield from _leaves(child, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from _leaves(child, f"{path}[{index}]")
    else:
        yield path, value


def _metadata(resource: Resource) -> tuple[str, str]:
    metadata = mapping(resource.props.get("metadata"))
    return str(metadata.get("namespace", "default")), str(metadata.get("name", ""))


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's values merge: maps merge key by key, everything else (lists included) is replaced."""
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _deep_merge(mapping(base.get(key)), value) if isinstance(value, Mapping) and isinstance(base.get(key), Mapping) else value
    return merged


# ---------------------------------------------------------------- W01 Service references


def _service_references(stack: Stack, _settings: Settings) -> Iterator[Finding]:
    services = {_metadata(s) for s in stack.of_type(SERVICE)}
    for _, release in _releases(stack):
        services |= rendered_services(release)
    for resource in [*_kubernetes_objects(stack), *stack.of_type(HELM_RELEASE)]:
        for path, value in _leaves(resource.props):
            for match in SERVICE_HOST.finditer(str(value)) if isinstance(value, str) else ():
                name, namespace = match.group(1), match.group(2)
                if (namespace, name) not in services:
                    there = sorted(n for ns, n in services if ns == namespace) or ["none"]
                    yield Finding(
                        resource,
                        f"{path} refers to {match.group(0)}, but no Service {namespace}/{name} is rendered (Services in {namespace}: {', '.join(there)})",
                    )


# ---------------------------------------------------------------- W02 storage classes


def _storage_classes(stack: Stack, _: Settings) -> Iterator[Finding]:
    classes = {_metadata(c)[1]: c for c in stack.of_type(STORAGE_CLASS)}
    addons = {str(a.props.get("addonName")) for a in stack.of_type(ADDON)}
    for resource in [*_kubernetes_objects(stack), *stack.of_type(HELM_RELEASE)]:
        for path, value in _leaves(resource.props):
            if not path.endswith("storageClassName") or not value:
                continue
            storage_class = classes.get(str(value))
            if storage_class is None:
                yield Finding(
                    resource,
                    f"{path} = {value}: no StorageClass {value} is planned, so the claim stays Pending (planned: {', '.join(sorted(classes)) or 'none'})",
                )
                continue
            provisioner = str(storage_class.props.get("provisioner"))
            driver = PROVISIONER_ADDONS.get(provisioner)
            if driver is not None and driver not in addons:
                yield Finding(resource, f"{path} = {value}: StorageClass {value} provisions with {provisioner}, but no {driver} add-on is planned")


# ---------------------------------------------------------------- W03 HPA metrics


def _adapter_metrics(release: Release) -> set[str]:
    rules = mapping(release.values.get("rules"))
    return {str(mapping(rule.get("name")).get("as") or mapping(rule.get("name")).get("matches")) for rule in map(mapping, as_list(rules.get("custom")))}


def _hpa_metrics(stack: Stack, _: Settings) -> Iterator[Finding]:
    adapters = [(resource, release) for resource, release in _releases(stack) if release.chart_name == "prometheus-adapter"]
    served = {metric: resource.name for resource, release in adapters for metric in _adapter_metrics(release)}
    for hpa in stack.of_type(HPA):
        for metric in map(mapping, as_list(mapping(hpa.props.get("spec")).get("metrics"))):
            kind = str(metric.get("type", ""))
            if kind == "Resource":
                continue
            name = str(mapping(mapping(metric.get(kind[:1].lower() + kind[1:])).get("metric")).get("name"))
            if not adapters:
                yield Finding(hpa, f"metric {name} ({kind}) needs a custom-metrics adapter, and none is planned")
            elif name not in served:
                offered = ", ".join(sorted(served)) or "nothing"
                yield Finding(hpa, f"metric {name} ({kind}) is served by no rule of {', '.join(r.name for r, _ in adapters)} (it serves: {offered})")


# ---------------------------------------------------------------- W04 alerts: a source and a receiver


def _selects(monitor: Resource, app: str, namespace: str | None = None) -> bool:
    selector = mapping(mapping(mapping(monitor.props.get("spec")).get("selector")).get("matchLabels"))
    return selector.get(NAME_LABEL) == app and (namespace is None or _metadata(monitor)[0] == namespace)


def _chart_enabled(stack: Stack, chart: str, *keys: str) -> bool:
    """Whether a release of `chart` has the values flag at `keys` on (an absent flag counts as on: the charts' default)."""
    for _, release in _releases(stack):
        if release.chart_name == chart:
            node: Mapping[str, Any] = release.values
            for key in keys[:-1]:
                node = mapping(node.get(key))
            if node.get(keys[-1], True) is not False:
                return True
    return False


METRIC_SOURCES: dict[str, tuple[str, Callable[[Stack], bool]]] = {
    "karpenter_": (
        "Karpenter (a ServiceMonitor on its kube-system Service)",
        lambda s: any(_selects(m, "karpenter", "kube-system") for m in s.of_type(SERVICE_MONITOR)),
    ),
    "nv_inference_": ("Triton (a ServiceMonitor on its Service)", lambda s: any(_selects(m, "triton") for m in s.of_type(SERVICE_MONITOR))),
    "DCGM_FI_": ("the DCGM exporter (its chart's ServiceMonitor)", lambda s: _chart_enabled(s, "dcgm-exporter", "serviceMonitor", "enabled")),
    "kube_": ("kube-state-metrics (kube-prometheus-stack)", lambda s: _chart_enabled(s, "kube-prometheus-stack", "kubeStateMetrics", "enabled")),
}
"""Metric prefix -> what must be scraped for an alert on it to ever fire."""


def _matches(matcher: str, labels: Mapping[str, str]) -> bool:
    parsed = MATCHER.match(matcher)
    if parsed is None:
        return False
    key, operator, expected = parsed.groups()
    value = labels.get(key, "")
    return {
        "=": value == expected,
        "!=": value != expected,
        "=~": re.fullmatch(expected, value) is not None,
        "!~": re.fullmatch(expected, value) is None,
    }[operator]


def _receiver(route: Mapping[str, Any], labels: Mapping[str, str]) -> str:
    """The receiver Alertmanager's routing tree picks for `labels` (first matching child, depth first)."""
    for child in map(mapping, as_list(route.get("routes"))):
        matchers = [*as_list(child.get("matchers")), *(f'{k} = "{v}"' for k, v in mapping(child.get("match")).items())]
        if all(_matches(str(m), labels) for m in matchers):
            return _receiver({"receiver": route.get("receiver"), **child}, labels)
    return str(route.get("receiver"))


def _alerts(stack: Stack) -> Iterator[tuple[Resource, Mapping[str, Any]]]:
    for rule in stack.of_type(PROMETHEUS_RULE):
        for group in map(mapping, as_list(mapping(rule.props.get("spec")).get("groups"))):
            for alert in map(mapping, as_list(group.get("rules"))):
                if alert.get("alert"):
                    yield rule, alert


def _publishes_to_topic(stack: Stack, resource: Resource) -> bool:
    """Whether a role the release's values name may publish to SNS."""
    for role in stack.referenced(resource, "values", ROLE):
        for policy in stack.referencing(role, ROLE_POLICY, "role"):
            if any("sns:publish" in [str(a).lower() for a in as_list(s.get("Action"))] for s in statements(policy.props.get("policy"))):
                return True
    return False


def _alert_delivery(stack: Stack, _: Settings) -> Iterator[Finding]:
    alerts = list(_alerts(stack))
    stacks = [(r, release) for r, release in _releases(stack) if release.chart_name == "kube-prometheus-stack"]
    for rule, alert in alerts:
        for prefix, (what, scraped) in METRIC_SOURCES.items():
            if prefix in str(alert.get("expr")) and not scraped(stack):
                yield Finding(rule, f"alert {alert['alert']} reads {prefix}* metrics, but nothing scrapes {what}: it can never fire")
    if alerts and not stacks:
        yield Finding(alerts[0][0], "alert rules are planned but no kube-prometheus-stack (Alertmanager) is: alerts reach no one")
    for resource, release in stacks:
        alertmanager = mapping(release.values.get("alertmanager"))
        if alertmanager.get("enabled") is False:
            yield Finding(resource, "Alertmanager is disabled: alerts reach no one")
            continue
        config = _deep_merge(CHART_DEFAULT_ALERTMANAGER_CONFIG, mapping(alertmanager.get("config")))
        receivers = {str(r.get("name")): r for r in map(mapping, as_list(config.get("receivers")))}
        for rule, alert in alerts:
            labels = {"alertname": str(alert["alert"]), **{str(k): str(v) for k, v in mapping(alert.get("labels")).items()}}
            name = _receiver(mapping(config.get("route")), labels)
            receiver = receivers.get(name, {})
            if not any(key.endswith("_configs") and as_list(value) for key, value in receiver.items()):
                yield Finding(rule, f"alert {alert['alert']} routes to receiver {name!r} of {resource.name}, which delivers nowhere")
        sns = [c for r in receivers.values() for c in map(mapping, as_list(r.get("sns_configs")))]
        if sns and not stack.referenced(resource, "values", TOPIC):
            yield Finding(resource, f"an SNS receiver publishes to {sns[0].get('topic_arn')}, which is no topic of this stack")
        if sns and not _publishes_to_topic(stack, resource):
            yield Finding(resource, "an SNS receiver has no IRSA role allowed to sns:Publish (Alertmanager's service account annotation)")


# ---------------------------------------------------------------- W05 controller IAM vs upstream


def _karpenter_scope(stack: Stack, release: Release, role: Resource) -> dict[str, str] | None:
    trusted = (str(p) for s in statements(role.props.get("assumeRolePolicy")) for p in as_list(mapping(s.get("Principal")).get("Federated")))
    found = OIDC_PROVIDER.search(next(trusted, ""))
    settings = mapping(release.values.get("settings"))
    node_roles = [mapping(c.props.get("spec")).get("role") for c in stack.of_type(NODE_CLASS)]
    if found is None or not node_roles:
        return None
    partition, account, region = found["partition"], found["account"], found["region"]
    return {
        "Partition": partition,
        "Region": region,
        "AccountId": account,
        "ClusterName": str(settings.get("clusterName")),
        "InterruptionQueueArn": f"arn:{partition}:sqs:{region}:{account}:{settings.get('interruptionQueue')}",
        "NodeRoleArn": f"arn:{partition}:iam::{account}:role/{node_roles[0]}",
    }


CONTROLLERS = {"karpenter": "Karpenter", "aws-load-balancer-controller": "the AWS Load Balancer Controller"}
"""Charts whose controller role is compared with the vendored upstream reference policy of the pinned chart version."""


def _controller_iam(stack: Stack, _: Settings) -> Iterator[Finding]:
    for resource, release in _releases(stack):
        controller = CONTROLLERS.get(release.chart_name)
        if controller is None:
            continue
        reference = load_reference(release.chart_name, release.version)
        if reference is None:
            yield Finding(
                resource,
                f"no upstream reference policy is vendored for {controller} {release.version} (policy/references/{release.chart_name}-{release.version}.json)",
            )
            continue
        for role in stack.referenced(resource, "values", ROLE):
            policies = stack.referencing(role, ROLE_POLICY, "role")
            ours = [s for p in policies for s in statements(p.props.get("policy"))]
            scope = _karpenter_scope(stack, release, role) if release.chart_name == "karpenter" else {}
            if scope is None:
                continue
            for missing in uncovered((substitute(s, scope) for s in applicable(reference)), ours):
                yield Finding(
                    policies[0] if policies else role,
                    f"{controller} {release.version} upstream grant {missing} is not given to its controller role {role.name}",
                )
    for addon in stack.of_type(ADDON):
        if addon.props.get("addonName") != "aws-ebs-csi-driver":
            continue
        roles = stack.referenced(addon, "serviceAccountRoleArn", ROLE)
        attached = [str(a.props.get("policyArn")) for role in roles for a in stack.referencing(role, ATTACHMENT, "role")]
        if not any(arn.endswith(EBS_CSI_POLICY) for arn in attached):
            yield Finding(addon, f"the EBS CSI driver's role ({', '.join(r.name for r in roles) or 'none'}) lacks the AWS-managed AmazonEBSCSIDriverPolicy")


# ---------------------------------------------------------------- W06 GPU headroom


def _gpus_per_pod(resource: Resource) -> int:
    limits = (mapping(mapping(c.get("resources")).get("limits")) for c in containers(pod_spec(resource.type, resource.props), init=True))
    return max((int(float(str(limit.get(GPU_RESOURCE, 0)))) for limit in limits), default=0)


def _peak_replicas(stack: Stack, deployment: Resource) -> int:
    name = _metadata(deployment)[1]
    for hpa in stack.of_type(HPA):
        spec = mapping(hpa.props.get("spec"))
        if mapping(spec.get("scaleTargetRef")).get("name") == name and _metadata(hpa)[0] == _metadata(deployment)[0]:
            return int(spec.get("maxReplicas", 1))
    return int(mapping(deployment.props.get("spec")).get("replicas", 1))


def _pool_capacity(pool: Resource) -> tuple[str, int]:
    spec = mapping(pool.props.get("spec"))
    requirements = as_list(mapping(mapping(mapping(spec.get("template")).get("spec"))).get("requirements"))
    capacity = next((str(as_list(r.get("values"))[0]) for r in map(mapping, requirements) if r.get("key") == CAPACITY_TYPE), "any")
    return capacity, int(float(str(mapping(spec.get("limits")).get(GPU_RESOURCE, 0))))


def _gpu_headroom(stack: Stack, _: Settings) -> Iterator[Finding]:
    pools = {pool.name: _pool_capacity(pool) for pool in stack.of_type(NODE_POOL)}
    if not pools:
        return
    demand: dict[str, list[tuple[Resource, int]]] = {}
    for deployment in stack.of_type(DEPLOYMENT):
        gpus = _gpus_per_pod(deployment) * _peak_replicas(stack, deployment)
        if gpus:
            pinned, required = capacity_type(pod_spec(deployment.type, deployment.props))
            capacity = pinned if required else "any"
            demand.setdefault(capacity, []).append((deployment, gpus))
    for capacity, workloads in demand.items():
        limit = sum(gpus for kind, gpus in pools.values() if capacity in (kind, "any"))
        needed = sum(gpus for _, gpus in workloads)
        if limit < needed:
            names = ", ".join(r.name for r, _ in workloads)
            yield Finding(workloads[0][0], f"{names} need {needed} GPUs on {capacity} nodes at peak, but the {capacity} NodePools allow {limit}")
    total, serving = sum(gpus for _, gpus in pools.values()), sum(g for workloads in demand.values() for _, g in workloads)
    for job in stack.of_type(JOB):
        gpus = _gpus_per_pod(job)
        if gpus and total < serving + gpus:
            yield Finding(
                job, f"engine build needs {gpus} GPU, but the NodePools' limits ({total} GPUs: {', '.join(pools)}) are all taken by serving at peak ({serving})"
            )


# ---------------------------------------------------------------- W07 public models only


def _project_root() -> Path:
    """The nearest folder at or above the working directory with a Pulumi.yaml (CrossGuard runs packs from their own folder)."""
    here = Path.cwd().resolve()
    return next((folder for folder in (here, *here.parents) if (folder / "Pulumi.yaml").is_file()), here)


def _public_models(settings: Settings) -> dict[str, str] | str:
    """The public models the repository declares for the gpu target, by name -> kind, or why they cannot be read."""
    repository = _project_root() / str(settings["modelRepository"])
    try:
        return {name: model.kind for name, model in read_public_models(STACK_TARGET, repository).items()}
    except (OSError, yaml.YAMLError, TypeError, AttributeError, ValueError) as error:
        return f"cannot read the public models from {repository} (models.yaml, generators.yaml): {error}"


def _forwards(actions: object) -> bool:
    return any(mapping(action).get("type") == "forward" for action in as_list(actions))


def _paths(rule: Resource) -> list[str] | None:
    """The rule's path patterns, or None when no condition limits the path (it forwards every path)."""
    patterns = [mapping(mapping(condition).get("pathPattern")) for condition in as_list(rule.props.get("conditions"))]
    values = [str(value) for pattern in patterns if pattern for value in as_list(pattern.get("values"))]
    return values if any(patterns) else None


def _public_routes(stack: Stack, settings: Settings) -> Iterator[Finding]:
    listeners = [listener for listener in stack.of_type(LISTENER) if _forwards(listener.props.get("defaultActions"))]
    rules = [rule for rule in stack.of_type(LISTENER_RULE) if _forwards(rule.props.get("actions"))]
    if not listeners and not rules:
        return
    public = _public_models(settings)
    if isinstance(public, str):
        yield Finding((listeners or rules)[0], public)
        return
    for listener in listeners:
        yield Finding(listener, "the default action forwards every path, so internal models are reachable (answer 404 by default, forward by rule)")
    routed: set[str] = set()
    for rule in rules:
        paths = _paths(rule)
        if paths is None:
            yield Finding(rule, "forwards every path (no path-pattern condition), so internal models are reachable")
            continue
        for path in paths:
            route = MODEL_ROUTE.match(path)
            endpoints = ENDPOINTS[public[route["model"]]] if route and route["model"] in public else ()
            if route and route["endpoint"] in endpoints:
                if route["endpoint"] == endpoints[0]:
                    routed.add(route["model"])
            elif path != SERVER_READY_PATH:
                listed = ", ".join(sorted(public)) or "none"
                why = (
                    f"{route['model']} is not public in models.yaml or generators.yaml (public: {listed})"
                    if route and not endpoints
                    else f"{route['model']} is served on {', '.join(endpoints)} only"
                    if route
                    else "it is not one model's infer, generate or ready path"
                )
                yield Finding(rule, f"forwards {path}, but {why}")
    for model in sorted(public.keys() - routed):
        yield Finding(rules[0] if rules else None, f"public model {model} has no forwarded {ENDPOINTS[public[model]][0]} path, so clients cannot reach it")


POLICIES = (
    Policy(
        "W01",
        "w01-service-references",
        "Every in-cluster Service a value refers to (`<name>.<namespace>.svc`) is rendered by a component or by a chart under its naming.",
        Severity.HIGH,
        "Derive in-cluster URLs from the one definition of the chart's naming (set fullnameOverride) instead of writing them by hand.",
        "chart templates at the pinned versions",
        check_stack=_service_references,
    ),
    Policy(
        "W02",
        "w02-storage-classes",
        "Every storageClassName names a planned StorageClass whose CSI driver is installed.",
        Severity.HIGH,
        "Create the StorageClass (GpuCluster: gp3 on the EBS CSI add-on) and name it, or install the driver its provisioner needs.",
        "EKS user guide: EBS CSI driver",
        check_stack=_storage_classes,
    ),
    Policy(
        "W03",
        "w03-hpa-metrics",
        "Every custom or external metric an HPA scales on is served by a rule of the planned metrics adapter.",
        Severity.HIGH,
        "Add a prometheus-adapter rule whose `name.as` is the HPA's metric, or fix the metric name.",
        "prometheus-adapter config walkthrough",
        check_stack=_hpa_metrics,
    ),
    Policy(
        "W04",
        "w04-alert-delivery",
        "Every alert reads metrics something scrapes, and Alertmanager routes it to a receiver that delivers (SNS with an IRSA role, e-mail, ...).",
        Severity.HIGH,
        "Route alerts to the stack's alert topic (Monitoring does) and scrape what the rules read (ServiceMonitors).",
        "kube-prometheus-stack values (alertmanager.config)",
        check_stack=_alert_delivery,
    ),
    Policy(
        "W05",
        "w05-controller-iam",
        "Each controller's IAM covers the upstream reference policy of its pinned version (Karpenter; the EBS CSI driver's managed policy).",
        Severity.HIGH,
        "Grant what the vendored reference grants (policy/references/), or pin a version whose reference is vendored.",
        "karpenter-provider-aws getting-started CloudFormation; AmazonEBSCSIDriverPolicy",
        check_stack=_controller_iam,
    ),
    Policy(
        "W06",
        "w06-gpu-headroom",
        "NodePool GPU limits cover serving at peak (per capacity type) and leave a GPU for an engine-build Job.",
        Severity.HIGH,
        "Raise the pool's gpuLimit (fleet.*.gpuLimit) or lower maxSpotReplicas.",
        "Karpenter NodePool limits",
        check_stack=_gpu_headroom,
    ),
    Policy(
        "W07",
        "w07-public-models-only",
        "The load balancer forwards only the server's readiness and the infer and ready paths of the models the repository marks public.",
        Severity.HIGH,
        "Route each public model by name (LoadBalancerArgs.public_models); keep tokenizers and encoders internal (public: false in models.yaml).",
        "model_repo/models.yaml; Triton HTTP/REST endpoints (KServe v2)",
        check_stack=_public_routes,
        settings={"modelRepository": str(MODEL_REPO)},
    ),
)
