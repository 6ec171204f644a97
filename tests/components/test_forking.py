"""The three ways to fork a component (README "Fork a component"): import it, subclass it, or copy its file."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pulumi
import pytest

from gpu_inference_platform import GpuPoolArgs, SpotFleet, SpotFleetArgs
from tests.components.alone import ACCOUNT, CLUSTER, build_alone, children
from tests.conftest import ROOT

SOURCE = ROOT / "src" / "gpu_inference_platform" / "components" / "spot_fleet.py"
ARGS = SpotFleetArgs(
    cluster=CLUSTER,
    account=ACCOUNT,
    pools=[GpuPoolArgs("spot", ["g5.xlarge", "g6.xlarge"], ["us-east-1a", "us-east-1b"], gpu_limit=2, weight=100, termination_grace_period_s=110)],
    instance_tags={},
)


class DebugSpotFleet(SpotFleet):
    """A subclass that changes one hook: Karpenter logs at debug level."""

    def _karpenter_values(self, args: SpotFleetArgs, queue: Any, role: Any) -> dict[str, Any]:
        return {**super()._karpenter_values(args, queue, role), "logLevel": "debug"}


def test_a_subclass_changes_one_hook_and_keeps_the_rest() -> None:
    imported = build_alone(lambda: SpotFleet("fleet", ARGS))
    subclassed = build_alone(lambda: DebugSpotFleet("fleet", ARGS))
    assert children(subclassed, "fleet") == children(imported, "fleet")
    values = subclassed.get("kubernetes:helm.sh/v3:Release", "fleet-karpenter").inputs["values"]
    assert values["logLevel"] == "debug" and "logLevel" not in imported.get("kubernetes:helm.sh/v3:Release", "fleet-karpenter").inputs["values"]
    (root,) = subclassed.roots()
    assert root.type == "gpuinfra:spotfleet:SpotFleet", "same type token: no replacement when a stack switches to the subclass"


def test_a_copied_file_runs_against_the_installed_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The component file imports only building blocks of the package, so a copy in your project works as is."""
    copy = tmp_path / "my_spot_fleet.py"
    shutil.copyfile(SOURCE, copy)
    spec = importlib.util.spec_from_file_location("my_spot_fleet", copy)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "my_spot_fleet", module)
    spec.loader.exec_module(module)
    assert module.SpotFleet is not SpotFleet

    def program() -> None:
        module.SpotFleet("fleet", ARGS, pulumi.ResourceOptions())

    copied = build_alone(program)
    assert children(copied, "fleet") == children(build_alone(lambda: SpotFleet("fleet", ARGS)), "fleet")
