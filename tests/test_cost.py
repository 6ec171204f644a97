"""Cost estimate: computed from the planned resources, itemised, labelled, compared with the budget."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from gpu_inference_platform.preview.cost import estimate
from gpu_inference_platform.preview.harness import Plan
from tests.conftest import committed_raw, run_preview, write_stack_file

HOURS = 730


def test_dev_items_match_hand_computed_prices(plans: dict[str, Plan]) -> None:
    cost = estimate(plans["dev"], "us-east-1")
    items = {item.name: (item.floor, item.expected, item.maximum) for item in cost.items}
    # each group at the cheapest GPU it may use in the dev spot pool, at the assumed discount:
    embedder_gpu_hour = 0.526 * 0.40  # any pool type: g4dn.xlarge
    llm_gpu_hour = 0.8048 * 0.40  # g6.xlarge or g5.xlarge (TensorRT-LLM has no T4 engine): g6.xlarge
    gpus_per_group = 2  # 1 floor + 1 spot replica each
    assert items == {
        "EKS control plane": (73.0, 73.0, 73.0),
        "NAT gateways (data processing not included)": (32.85, 32.85, 32.85),
        "application load balancer x1": (16.43, 22.27, 74.83),
        "node group gpu-system (m7i.large)": (round(2 * 0.1008 * HOURS, 2), round(2 * 0.1008 * HOURS, 2), round(3 * 0.1008 * HOURS, 2)),
        # at most the pool's 5 GPUs at its priciest (g5.xlarge)
        "GPU pool gpu-fleet-spot (spot)": (round(gpus_per_group * (embedder_gpu_hour + llm_gpu_hour) * HOURS, 2),) * 2 + (round(5 * 1.006 * 0.40 * HOURS, 2),),
        "CloudWatch alarms": (0.4, 0.4, 0.4),
    }
    assert cost.total("floor") == 1047.04
    assert (cost.budget_usd, cost.floor_exceeds_budget) == (1500.0, False)


def test_prod_maximum_is_every_limit_at_the_priciest_gpu(plans: dict[str, Plan]) -> None:
    items = {item.name: item for item in estimate(plans["prod"], "us-west-2").items}
    assert items["GPU pool gpu-fleet-spot (spot)"].maximum == round(20 * 1.861 * 0.40 * HOURS, 2)
    assert items["GPU pool gpu-fleet-on-demand (on-demand)"].maximum == round(6 * 1.861 * HOURS, 2)
    on_demand = items["GPU pool gpu-fleet-on-demand (on-demand)"]
    assert on_demand.floor == round((3 * 0.8048 + 2 * 1.861) * HOURS, 2), "the embedder's 3 on g6.xlarge, the LLM's 2 on g6e.xlarge: its only type"
    assert on_demand.basis == (
        "floor 5 / expected 5 GPUs at $0.8048 to $1.8610/GPU-h (each Deployment at the cheapest GPU it may use); maximum 6 GPUs at $1.8610/GPU-h"
    )
    assert items["NAT gateways (data processing not included)"].floor == round(3 * 0.045 * HOURS, 2)


def test_assumptions_are_labelled(plans: dict[str, Plan]) -> None:
    assert estimate(plans["prod"], "us-west-2").assumptions == [
        "spot = on-demand x 0.40 (assumed 60% discount)",
        "us-east-1 list prices",
        "us-west-2 assumed to cost as us-east-1",
    ]


def _preview(tmp_path: Path, monthly_usd: float) -> tuple[subprocess.CompletedProcess[str], dict]:
    raw = committed_raw("dev")
    raw["budget"]["monthlyUsd"] = monthly_usd
    config = write_stack_file(tmp_path / "Pulumi.dev.yaml", raw)
    result = run_preview("dev", "--config", str(config), "--json", str(tmp_path / "plan.json"))
    return result, json.loads((tmp_path / "plan.json").read_text())


def test_preview_prints_cost_and_writes_it_to_json(tmp_path: Path) -> None:
    result, document = _preview(tmp_path, 1500)
    assert result.returncode == 0, result.stderr
    assert "  budget 1500.00: floor 70%, expected 70%, maximum 125% of budget (floor within budget)" in result.stdout.splitlines()
    assert document["cost"]["totals"] == {"floor": 1047.04, "expected": 1052.88, "maximum": 1870.59}
    assert (document["cost"]["budget"], document["cost"]["currency"], document["cost"]["period"]) == (1500.0, "USD", "month")


def test_preview_exits_3_when_the_floor_exceeds_the_budget(tmp_path: Path) -> None:
    result, document = _preview(tmp_path, 400)
    assert result.returncode == 3
    assert result.stderr.strip() == "error: the always-on cost (1047.04 USD/month) exceeds the budget (400.00)"
    assert document["cost"]["budget"] == 400.0, "the report is still written so the reviewer sees why"
