"""Monthly cost estimate of a planned stack: floor (always on), expected, and maximum (every limit reached).

Computed from the planned resources, priced from the one dated table in
`components/catalog.py`. Assumptions are labelled in the report: the spot discount,
load-balancer capacity units, and us-east-1 list prices for every region. Data
processing and transfer are not included.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from gpu_inference_platform.components.constants import CAPACITY_TYPE_LABEL, HOURS_PER_MONTH, INSTANCE_TYPE_LABEL
from gpu_inference_platform.components.instances import INSTANCE_TYPES, PRICED_REGION, SERVICE_PRICES
from gpu_inference_platform.policy.workloads import capacity_type, required_instance_types
from gpu_inference_platform.preview.harness import Plan, PlannedResource

SPOT_DISCOUNT_ASSUMPTION = 0.60
"""Assumed spot discount off on-demand. AWS quotes "up to 90%"; real discounts vary by type and zone."""
ALB_LCU_ASSUMPTION = {"floor": 0, "expected": 1, "maximum": 10}
"""Assumed load-balancer capacity units (LCU) in use."""
_GPU = "nvidia.com/gpu"


@dataclass(frozen=True)
class CostItem:
    """One line of the estimate, in USD per month."""

    name: str
    floor: float
    expected: float
    maximum: float
    basis: str


@dataclass(frozen=True)
class CostEstimate:
    """The itemised estimate and the budget it is compared with."""

    items: list[CostItem]
    region: str
    budget_usd: float | None
    assumptions: list[str] = field(default_factory=list)

    def total(self, column: str) -> float:
        """Sum of one column (`floor`, `expected` or `maximum`)."""
        return round(sum(float(getattr(item, column)) for item in self.items), 2)

    @property
    def floor_exceeds_budget(self) -> bool:
        """The always-on cost alone is over budget."""
        return self.budget_usd is not None and self.total("floor") > self.budget_usd

    def to_json(self) -> dict[str, Any]:
        """The `cost` section of the preview JSON."""
        return {
            "currency": "USD",
            "period": "month",
            "region": self.region,
            "items": [asdict(item) for item in self.items],
            "totals": {column: self.total(column) for column in ("floor", "expected", "maximum")},
            "budget": self.budget_usd,
            "assumptions": self.assumptions,
        }

    def lines(self) -> list[str]:
        """The human-readable report."""
        rows = [f"cost (USD/month; {'; '.join(self.assumptions)}):", f"  {'item':<52}{'floor':>10}{'expected':>10}{'maximum':>10}"]
        rows += [f"  {item.name:<52}{item.floor:>10.2f}{item.expected:>10.2f}{item.maximum:>10.2f}" for item in self.items]
        rows.append(f"  {'total':<52}{self.total('floor'):>10.2f}{self.total('expected'):>10.2f}{self.total('maximum'):>10.2f}")
        if self.budget_usd is not None:
            verdict = "FLOOR EXCEEDS BUDGET" if self.floor_exceeds_budget else "floor within budget"
            rows.append(
                f"  budget {self.budget_usd:.2f}: floor {self.total('floor') / self.budget_usd:.0%}, expected {self.total('expected') / self.budget_usd:.0%}, "
                f"maximum {self.total('maximum') / self.budget_usd:.0%} of budget ({verdict})"
            )
        return rows


def _monthly(usd_per_hour: float, count: float = 1) -> float:
    return round(usd_per_hour * count * HOURS_PER_MONTH, 2)


def _fixed(name: str, price_key: str, count: int) -> CostItem:
    cost = _monthly(SERVICE_PRICES[price_key].usd, count)
    return CostItem(name, cost, cost, cost, f"{count} x ${SERVICE_PRICES[price_key].usd}/{SERVICE_PRICES[price_key].unit}")


def _kubernetes(plan: Plan, kind: str) -> list[PlannedResource]:
    return [r for r in plan.kubernetes_objects() if r.inputs.get("kind") == kind]


def _requirement(pool: PlannedResource, key: str) -> list[str]:
    return next(r["values"] for r in pool.inputs["spec"]["template"]["spec"]["requirements"] if r["key"] == key)


def _gpu_hour_prices(instance_types: list[str], capacity: str) -> dict[str, float]:
    """USD per GPU-hour of each GPU instance type at this capacity type."""
    multiplier = 1 - SPOT_DISCOUNT_ASSUMPTION if capacity == "spot" else 1.0
    return {t: INSTANCE_TYPES[t].on_demand_usd_per_hour * multiplier / gpu.count for t in instance_types if (gpu := INSTANCE_TYPES[t].gpu)}


@dataclass(frozen=True)
class _GpuDemand:
    """The GPUs one Deployment asks of a capacity type at floor and expected load, and the instance types it may use (empty: any)."""

    capacity: str
    floor: float
    expected: float
    instance_types: frozenset[str]

    def hour_price(self, prices: dict[str, float]) -> float:
        """The cheapest GPU-hour of a pool this Deployment may land on."""
        usable = [price for instance, price in prices.items() if not self.instance_types or instance in self.instance_types]
        return min(usable or prices.values())


def _gpu_demands(plan: Plan) -> list[_GpuDemand]:
    """Each GPU Deployment's demand (scaled by its HPA: floor at its minimum, expected halfway to its maximum)."""
    autoscalers = {hpa.inputs["spec"]["scaleTargetRef"]["name"]: hpa.inputs["spec"] for hpa in _kubernetes(plan, "HorizontalPodAutoscaler")}
    demands = []
    for deployment in _kubernetes(plan, "Deployment"):
        pod = deployment.inputs["spec"]["template"]["spec"]
        gpus = sum(int(c.get("resources", {}).get("limits", {}).get(_GPU, 0)) for c in pod["containers"])
        capacity, _ = capacity_type(pod)  # the spot tier prefers spot: priced there (falling back to on-demand costs more)
        if not gpus or capacity == "any":
            continue
        scaling = autoscalers.get(deployment.inputs["metadata"]["name"])
        floor, expected = (
            (scaling["minReplicas"], (scaling["minReplicas"] + scaling["maxReplicas"]) / 2) if scaling else (deployment.inputs["spec"]["replicas"],) * 2
        )
        demands.append(_GpuDemand(capacity, floor * gpus, expected * gpus, required_instance_types(pod)))
    return demands


def _gpu_pools(plan: Plan) -> Iterator[CostItem]:
    demands = _gpu_demands(plan)
    for pool in _kubernetes(plan, "NodePool"):
        capacity = _requirement(pool, CAPACITY_TYPE_LABEL)[0]
        prices = _gpu_hour_prices(_requirement(pool, INSTANCE_TYPE_LABEL), capacity)
        limit = int(pool.inputs["spec"]["limits"][_GPU])
        priced = [(demand, demand.hour_price(prices)) for demand in demands if demand.capacity == capacity]
        paid = sorted({price for _, price in priced}) or [min(prices.values())]
        floor, expected = (sum(getattr(demand, column) for demand, _ in priced) for column in ("floor", "expected"))
        yield CostItem(
            f"GPU pool {pool.inputs['metadata']['name']} ({capacity})",
            _monthly(sum(demand.floor * price for demand, price in priced)),
            _monthly(sum(demand.expected * price for demand, price in priced)),
            _monthly(max(prices.values()), limit),
            f"floor {floor:g} / expected {expected:g} GPUs at ${' to $'.join(f'{price:.4f}' for price in paid)}/GPU-h "
            f"(each Deployment at the cheapest GPU it may use); maximum {limit} GPUs at ${max(prices.values()):.4f}/GPU-h",
        )


def _system_nodes(plan: Plan) -> Iterator[CostItem]:
    for group in plan.of_type("aws:eks/nodeGroup:NodeGroup"):
        instance = group.inputs["instanceTypes"][0]
        price = INSTANCE_TYPES[instance].on_demand_usd_per_hour
        scaling = group.inputs["scalingConfig"]
        yield CostItem(
            f"node group {group.name} ({instance})",
            _monthly(price, scaling["minSize"]),
            _monthly(price, scaling["desiredSize"]),
            _monthly(price, scaling["maxSize"]),
            f"{scaling['minSize']}/{scaling['desiredSize']}/{scaling['maxSize']} x ${price}/h",
        )


def _load_balancers(plan: Plan) -> Iterator[CostItem]:
    count = len(plan.of_type("aws:lb/loadBalancer:LoadBalancer"))
    if not count:
        return
    base, lcu = SERVICE_PRICES["alb"].usd, SERVICE_PRICES["alb_lcu"].usd
    floor, expected, maximum = (_monthly(base + lcu * ALB_LCU_ASSUMPTION[c], count) for c in ("floor", "expected", "maximum"))
    yield CostItem(f"application load balancer x{count}", floor, expected, maximum, f"${base}/h + ${lcu}/LCU-h, LCUs {ALB_LCU_ASSUMPTION}")


def estimate(plan: Plan, region: str) -> CostEstimate:
    """Itemised monthly cost of `plan`, compared with its budget (if it has one)."""
    alarms = len(plan.of_type("aws:cloudwatch/metricAlarm:MetricAlarm"))
    alarm_cost = round(alarms * SERVICE_PRICES["cloudwatch_alarm"].usd, 2)
    items = [
        _fixed("EKS control plane", "eks_control_plane", len(plan.of_type("aws:eks/cluster:Cluster"))),
        _fixed("NAT gateways (data processing not included)", "nat_gateway", len(plan.of_type("aws:ec2/natGateway:NatGateway"))),
        *_load_balancers(plan),
        *_system_nodes(plan),
        *_gpu_pools(plan),
        CostItem("CloudWatch alarms", alarm_cost, alarm_cost, alarm_cost, f"{alarms} x ${SERVICE_PRICES['cloudwatch_alarm'].usd}/alarm-month"),
    ]
    budgets = plan.of_type("aws:budgets/budget:Budget")
    assumptions = [f"spot = on-demand x {1 - SPOT_DISCOUNT_ASSUMPTION:.2f} (assumed {SPOT_DISCOUNT_ASSUMPTION:.0%} discount)", f"{PRICED_REGION} list prices"]
    if region != PRICED_REGION:
        assumptions.append(f"{region} assumed to cost as {PRICED_REGION}")
    return CostEstimate(items, region, float(budgets[0].inputs["limitAmount"]) if budgets else None, assumptions)
