"""K05, K06, K08, K09: how Triton is probed, replicated, locked down and given shared memory."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gpu_inference_platform.policy.checks.load_balancer import LISTENER_RULE, TARGET_GROUP
from gpu_inference_platform.policy.model import Finding, Policy, Resource, Settings, Severity, Stack
from gpu_inference_platform.policy.values import as_list, gib, mapping, quantity, shown
from gpu_inference_platform.policy.workloads import WORKLOAD_TYPES, containers, flag, namespace, pod_labels, pod_spec, serving_containers

DEPLOYMENT = "kubernetes:apps/v1:Deployment"
DISRUPTION_BUDGET = "kubernetes:policy/v1:PodDisruptionBudget"
TARGET_GROUP_BINDING = "kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding"
LIVE, READY = "/v2/health/live", "/v2/health/ready"
ZONE_KEY = "topology.kubernetes.io/zone"
DEFAULT_METRICS_PORT = 8002
SHM_PATH = "/dev/shm"
RESTRICTED_API_FLAGS = ("--http-restricted-api", "--grpc-restricted-protocol")


def _probe_path(container: Mapping[str, Any], probe: str) -> Any:
    return mapping(mapping(container.get(probe)).get("httpGet")).get("path")


def _startup_budget_s(container: Mapping[str, Any]) -> int:
    probe = mapping(container.get("startupProbe"))
    return int(probe.get("initialDelaySeconds", 0)) + int(probe.get("failureThreshold", 3)) * int(probe.get("periodSeconds", 10))


def _probes(resource: Resource, settings: Settings) -> Iterator[str]:
    for container in serving_containers(pod_spec(resource.type, resource.props)):
        name = container.get("name")
        for probe, path in (("livenessProbe", LIVE), ("readinessProbe", READY), ("startupProbe", READY)):
            if _probe_path(container, probe) != path:
                yield f"container {name} has no {probe} on {path}"
        budget, load_time = _startup_budget_s(container), int(settings["modelLoadTimeS"])
        if _probe_path(container, "startupProbe") == READY and budget < load_time:
            yield f"container {name} startup probe allows {budget} s, less than the model load time ({load_time} s)"


def _selects(budget: Resource, deployment: Resource) -> bool:
    selector = mapping(mapping(mapping(budget.props.get("spec")).get("selector")).get("matchLabels"))
    labels = pod_labels(deployment.type, deployment.props)
    return namespace(budget.props) == namespace(deployment.props) and bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _budget_problem(budget: Resource, replicas: int) -> str | None:
    spec = mapping(budget.props.get("spec"))
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if isinstance(min_available, (int, float)) and min_available >= replicas:
        return f"PodDisruptionBudget {budget.name} can never be satisfied (minAvailable {shown(min_available)} of {replicas} replicas): node drains stall"
    if min_available == "100%" or max_unavailable in (0, "0%"):
        return f"PodDisruptionBudget {budget.name} allows no disruption: node drains stall"
    return None


def _replicas(deployment: Resource) -> int:
    return int(mapping(deployment.props.get("spec")).get("replicas", 1))


def _high_availability(stack: Stack, settings: Settings) -> Iterator[Finding]:
    if not settings["production"]:
        return
    minimum = int(settings["minReplicas"])
    deployments = stack.of_type(DEPLOYMENT)
    covered: set[str] = set()
    for budget in stack.of_type(DISRUPTION_BUDGET):
        members = [d for d in deployments if _selects(budget, d)]
        if not members:
            continue
        covered.update(d.urn for d in members)
        total = sum(_replicas(d) for d in members)
        if total < minimum:
            names = ", ".join(d.name for d in members)
            yield Finding(members[0], f"{names} run {total} replicas in total (production needs >= {minimum})")
        problem = _budget_problem(budget, total)
        if problem:
            yield Finding(budget, problem)
    for deployment in deployments:
        if deployment.urn not in covered:
            yield Finding(deployment, f"no PodDisruptionBudget selects deployment {deployment.name}")
            if _replicas(deployment) < minimum:
                yield Finding(deployment, f"{deployment.name} run {_replicas(deployment)} replicas in total (production needs >= {minimum})")
        spread = as_list(pod_spec(deployment.type, deployment.props).get("topologySpreadConstraints"))
        if not any(mapping(c).get("topologyKey") == ZONE_KEY for c in spread):
            yield Finding(deployment, f"deployment {deployment.name} has no zone topology spread ({ZONE_KEY})")


def _argument_problems(container: Mapping[str, Any]) -> Iterator[str]:
    name = container.get("name")
    mode = flag(container, "--model-control-mode")
    restricted = any("model-repository" in (flag(container, f) or "") for f in RESTRICTED_API_FLAGS)
    if mode != "none" and not (mode == "explicit" and restricted):
        yield f"container {name} runs --model-control-mode={mode or 'not set'} (required: none, or explicit with the model-repository API restricted)"
    for required in ("--exit-on-error", "--strict-readiness"):
        if flag(container, required) not in ("", "true"):
            yield f"container {name} does not set {required}=true"
    if flag(container, "--disable-auto-complete-config") is None:
        yield f"container {name} does not set --disable-auto-complete-config"


def _metrics_ports(stack: Stack) -> set[int]:
    return {
        int(flag(c, "--metrics-port") or DEFAULT_METRICS_PORT) for w in stack.of_type(*WORKLOAD_TYPES) for c in serving_containers(pod_spec(w.type, w.props))
    }


def _metrics_exposure(stack: Stack) -> Iterator[Finding]:
    ports = _metrics_ports(stack)
    for group in stack.of_type(TARGET_GROUP):
        if group.props.get("port") in ports:
            yield Finding(group, f"target group forwards to Triton's metrics port {shown(group.props.get('port'))}")
    for rule in stack.of_type(LISTENER_RULE):
        paths = [str(p) for c in as_list(rule.props.get("conditions")) for p in as_list(mapping(mapping(c).get("pathPattern")).get("values"))]
        if any("metrics" in p or p in ("*", "/*") for p in paths):
            yield Finding(rule, f"listener rule forwards {', '.join(paths)}, which includes Triton's /metrics")
    for binding in stack.of_type(TARGET_GROUP_BINDING):
        port = mapping(mapping(binding.props.get("spec")).get("serviceRef")).get("port")
        if port == "metrics" or port in ports:
            yield Finding(binding, f"target group binding sends load-balancer traffic to service port {shown(port)}")


def _locked_down(stack: Stack, settings: Settings) -> Iterator[Finding]:
    if settings["production"]:
        for workload in stack.of_type(*WORKLOAD_TYPES):
            for container in serving_containers(pod_spec(workload.type, workload.props)):
                for message in _argument_problems(container):
                    yield Finding(workload, message)
    yield from _metrics_exposure(stack)


def _shared_memory(resource: Resource, settings: Settings) -> Iterator[str]:
    spec = pod_spec(resource.type, resource.props)
    volumes = {mapping(v).get("name"): mapping(v) for v in as_list(spec.get("volumes"))}
    serving = {id(c) for c in serving_containers(spec)}
    headroom = float(settings["headroomGi"]) * 2**30
    for container in containers(spec):
        mounts = [mapping(m) for m in as_list(container.get("volumeMounts")) if mapping(m).get("mountPath") == SHM_PATH]
        name = container.get("name")
        if not mounts:
            if id(container) in serving:
                yield f"container {name} has no {SHM_PATH} volume (the 64 MiB default breaks the Python backend)"
            continue
        empty_dir = mapping(volumes.get(mounts[0].get("name"), {}).get("emptyDir"))
        size = quantity(empty_dir.get("sizeLimit"))
        if empty_dir.get("medium") != "Memory" or size is None:
            yield f"{SHM_PATH} of container {name} is not a Memory emptyDir with a sizeLimit"
            continue
        limit = quantity(mapping(mapping(container.get("resources")).get("limits")).get("memory"))
        if limit is None or limit - size < headroom:
            shown = gib(limit) if limit is not None else "not set"
            yield f"container {name} memory limit {shown} leaves less than {gib(headroom)} beside its {gib(size)} {SHM_PATH}"


def _percent(value: Any) -> float | None:
    return float(str(value).rstrip("%")) if isinstance(value, str) and value.endswith("%") else None


def _protects_nothing(budget: Resource, replicas: int) -> str | None:
    spec = mapping(budget.props.get("spec"))
    min_available, max_unavailable = spec.get("minAvailable"), spec.get("maxUnavailable")
    if min_available in (0, "0%") or (
        max_unavailable is not None and ((_percent(max_unavailable) or 0) >= 100 or (isinstance(max_unavailable, int) and max_unavailable >= replicas))
    ):
        return f"PodDisruptionBudget {budget.name} lets a drain take every replica at once ({shown(min_available or max_unavailable)} of {replicas})"
    return None


def _disruption_budgets(stack: Stack, _: Settings) -> Iterator[Finding]:
    budgets = stack.of_type(DISRUPTION_BUDGET)
    serving = [d for d in stack.of_type(DEPLOYMENT) if serving_containers(pod_spec(d.type, d.props))]
    for deployment in serving:
        covering = [b for b in budgets if _selects(b, deployment)]
        if not covering:
            yield Finding(deployment, "no PodDisruptionBudget covers this serving Deployment: a node drain may evict every replica at once")
        replicas = sum(_replicas(d) for d in serving if any(_selects(b, d) for b in covering))
        for budget in covering:
            problem = _protects_nothing(budget, replicas)
            if problem:
                yield Finding(deployment, problem)


def _graceful_drain(resource: Resource, _: Settings) -> Iterator[str]:
    spec = pod_spec(resource.type, resource.props)
    grace = int(spec.get("terminationGracePeriodSeconds", 30))
    for container in serving_containers(spec):
        command = as_list(mapping(mapping(mapping(container.get("lifecycle")).get("preStop")).get("exec")).get("command"))
        if not command:
            yield f"container {container.get('name')} has no preStop hook: Triton stops accepting before the load balancer stops sending"
            continue
        sleep = int(command[-1]) if command[0] == "sleep" and str(command[-1]).isdigit() else 0
        exit_timeout = int(flag(container, "--exit-timeout-secs") or 30)
        if grace < sleep + exit_timeout:
            yield f"grace period {grace} s is shorter than preStop ({sleep} s) + --exit-timeout-secs ({exit_timeout} s): in-flight requests are killed"


POLICIES = [
    Policy(
        "K05",
        "k05-triton-probes",
        f"Triton containers have liveness on {LIVE}, readiness and startup on {READY}, and a startup budget >= the model load time.",
        Severity.HIGH,
        "Use TritonServer's probes; raise startupProbe.failureThreshold when models load slowly (set modelLoadTimeS for the pack).",
        "CKV_K8S_8, CKV_K8S_9",
        WORKLOAD_TYPES,
        check_resource=_probes,
        settings={"modelLoadTimeS": 120},
    ),
    Policy(
        "K06",
        "k06-production-availability",
        "In production, deployments run >= 3 replicas in total, a satisfiable PodDisruptionBudget covers them, and they spread over zones.",
        Severity.HIGH,
        "Set serving.floorReplicas >= 3 in production; keep TritonServer's PDB (maxUnavailable 1) and zone spread.",
        "Pulumi compliance-policies (minimum replicas)",
        check_stack=_high_availability,
        settings={"production": False, "minReplicas": 3},
    ),
    Policy(
        "K08",
        "k08-triton-locked-down",
        "In production Triton runs with --model-control-mode=none (or explicit with the model-repository API restricted), "
        "--exit-on-error, --strict-readiness and --disable-auto-complete-config; its metrics port is never behind the load balancer.",
        Severity.CRITICAL,
        "Use TritonServer's arguments; forward only inference and readiness paths to the HTTP port.",
        "Triton deployment guide (secure deployment)",
        check_stack=_locked_down,
        settings={"production": False},
    ),
    Policy(
        "K09",
        "k09-shared-memory",
        f"{SHM_PATH} is a Memory emptyDir with a size limit, and the container's memory limit leaves room beside it.",
        Severity.MEDIUM,
        "Mount an emptyDir {medium: Memory, sizeLimit} at /dev/shm; raise the memory limit to at least sizeLimit + headroomGi.",
        "triton-inference-server#4869, kubernetes#28272",
        WORKLOAD_TYPES,
        check_resource=_shared_memory,
        settings={"headroomGi": 1},
    ),
    Policy(
        "K11",
        "k11-disruption-budgets",
        "Every serving Deployment is covered by a PodDisruptionBudget that keeps at least one replica through a drain.",
        Severity.HIGH,
        "Give each serving Deployment a PDB with maxUnavailable below its replicas (TritonServer: maxUnavailable 1).",
        "Kubernetes: specifying a disruption budget",
        check_stack=_disruption_budgets,
    ),
    Policy(
        "K12",
        "k12-graceful-drain",
        "Triton pods sleep in preStop before they are signalled, and their grace period covers preStop plus --exit-timeout-secs.",
        Severity.HIGH,
        "Set a preStop sleep longer than the ALB's deregistration delay and terminationGracePeriodSeconds >= preStop + exit timeout.",
        "Triton deploy guide; ALB deregistration delay",
        WORKLOAD_TYPES,
        check_resource=_graceful_drain,
    ),
]
