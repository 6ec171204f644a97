"""Instance catalog: the one table of EC2 instance facts used by validation, capacity and cost.

Prices are us-east-1 on-demand Linux list prices. Every entry names its source and the
date it was read; cost reports label any other region's figure as an assumption.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

CpuArchitecture = Literal["x86_64", "arm64"]

KARPENTER_PRICING_2026_07 = "karpenter-provider-aws generated pricing file, us-east-1, 2026-07-20"
EC2_LIST_PRICE_2025 = "AWS EC2 on-demand pricing page, us-east-1, read 2025-06 (not re-verified)"


@dataclass(frozen=True)
class GpuSpec:
    """The accelerator side of an instance type."""

    model: str
    count: int
    memory_gib_per_gpu: int
    compute_capability: str
    architecture: str

    @property
    def total_memory_gib(self) -> int:
        """GPU memory across all GPUs of the instance."""
        return self.count * self.memory_gib_per_gpu


@dataclass(frozen=True)
class InstanceType:
    """One EC2 instance type with its on-demand price and (optionally) its GPUs."""

    name: str
    vcpus: int
    memory_gib: int
    cpu_architecture: CpuArchitecture
    on_demand_usd_per_hour: float
    price_source: str
    gpu: GpuSpec | None = None

    @property
    def family(self) -> str:
        """The instance family, e.g. ``g5`` for ``g5.xlarge``."""
        return self.name.split(".", 1)[0]


_T4 = ("NVIDIA T4", 16, "7.5", "turing")
_A10G = ("NVIDIA A10G", 24, "8.6", "ampere")
_L4 = ("NVIDIA L4", 24, "8.9", "ada-lovelace")
_L40S = ("NVIDIA L40S", 48, "8.9", "ada-lovelace")
_A100_40 = ("NVIDIA A100 40GB", 40, "8.0", "ampere")
_H100 = ("NVIDIA H100 80GB", 80, "9.0", "hopper")
_T4G = ("NVIDIA T4G", 16, "7.5", "turing")


def _gpu_type(
    name: str,
    vcpus: int,
    mem: int,
    price: float,
    gpu: tuple[str, int, str, str],
    *,
    count: int = 1,
    cpu: CpuArchitecture = "x86_64",
    source: str = KARPENTER_PRICING_2026_07,
) -> InstanceType:
    model, gpu_mem, cc, arch = gpu
    return InstanceType(name, vcpus, mem, cpu, price, source, GpuSpec(model, count, gpu_mem, cc, arch))


def _cpu_type(name: str, vcpus: int, mem: int, arch: CpuArchitecture, price: float) -> InstanceType:
    return InstanceType(name, vcpus, mem, arch, price, EC2_LIST_PRICE_2025)


INSTANCE_TYPES: dict[str, InstanceType] = {
    t.name: t
    for t in (
        _gpu_type("g4dn.xlarge", 4, 16, 0.526, _T4),
        _gpu_type("g5.xlarge", 4, 16, 1.006, _A10G),
        _gpu_type("g5.2xlarge", 8, 32, 1.212, _A10G),
        _gpu_type("g5.12xlarge", 48, 192, 5.672, _A10G, count=4),
        _gpu_type("g5g.xlarge", 4, 8, 0.42, _T4G, cpu="arm64", source=EC2_LIST_PRICE_2025),
        _gpu_type("g6.xlarge", 4, 16, 0.8048, _L4),
        _gpu_type("g6e.xlarge", 4, 32, 1.861, _L40S),
        _gpu_type("p4d.24xlarge", 96, 1152, 21.9576, _A100_40, count=8),
        _gpu_type("p5.48xlarge", 192, 2048, 55.04, _H100, count=8),
        _cpu_type("m5.large", 2, 8, "x86_64", 0.096),
        _cpu_type("m6i.large", 2, 8, "x86_64", 0.096),
        _cpu_type("m6i.xlarge", 4, 16, "x86_64", 0.192),
        _cpu_type("m7i.large", 2, 8, "x86_64", 0.1008),
        _cpu_type("m7i.xlarge", 4, 16, "x86_64", 0.2016),
        _cpu_type("m7g.large", 2, 8, "arm64", 0.0816),
        _cpu_type("m7g.xlarge", 4, 16, "arm64", 0.1632),
    )
}


def instance_types_by_compute_capability(names: Iterable[str]) -> dict[str, list[str]]:
    """The GPU instance types among `names`, grouped by compute capability (unknown and CPU types are skipped)."""
    grouped: dict[str, set[str]] = {}
    for name in names:
        instance = INSTANCE_TYPES.get(name)
        if instance is not None and instance.gpu is not None:
            grouped.setdefault(instance.gpu.compute_capability, set()).add(name)
    return {capability: sorted(types) for capability, types in sorted(grouped.items())}


GPU_INSTANCE_TYPES = tuple(sorted(n for n, t in INSTANCE_TYPES.items() if t.gpu is not None))
CPU_INSTANCE_TYPES = tuple(sorted(n for n, t in INSTANCE_TYPES.items() if t.gpu is None))


INFRACOST_2024_2025 = "infracost golden files 2024-2025, us-east-1"
PRICED_REGION = "us-east-1"


@dataclass(frozen=True)
class ServicePrice:
    """A non-instance price, with its unit and source."""

    usd: float
    unit: str
    source: str = INFRACOST_2024_2025


SERVICE_PRICES: dict[str, ServicePrice] = {
    "eks_control_plane": ServicePrice(0.10, "hour"),
    "nat_gateway": ServicePrice(0.045, "hour"),
    "alb": ServicePrice(0.0225, "hour"),
    "alb_lcu": ServicePrice(0.008, "LCU-hour"),
    "cloudwatch_alarm": ServicePrice(0.10, "alarm-month"),
}
"""Service prices used by the cost estimate (data processing and transfer are not included)."""
