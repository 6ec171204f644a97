"""Shared fixtures: plans of the committed stacks, produced by the real program under mocks."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpu_inference_platform.preview.harness import Plan, plan_stack, run_program
from gpu_inference_platform.program.config import ConfigError, StackConfig, parse_stack_config, raw_config
from gpu_inference_platform.program.stack_files import read_stack_file

ROOT = Path(__file__).resolve().parent.parent
STACKS = tuple(sorted(path.name.removeprefix("Pulumi.").removesuffix(".yaml") for path in ROOT.glob("Pulumi.*.yaml")))
"""Every committed stack, derived from its `Pulumi.<stack>.yaml` (a new stack file is tested without further edits)."""


@pytest.fixture(scope="session")
def plans() -> dict[str, Plan]:
    """The plan of every committed stack."""
    return {stack: plan_stack(stack, ROOT / f"Pulumi.{stack}.yaml") for stack in STACKS}


def run_preview(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the offline preview CLI (`python -m scripts.preview ARGS`) from the repository root."""
    return subprocess.run([sys.executable, "-m", "scripts.preview", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)


def committed_raw(stack: str) -> dict[str, Any]:
    """A deep copy of a committed stack's raw config tree, ready to mutate."""
    return copy.deepcopy(raw_config(read_stack_file(ROOT / f"Pulumi.{stack}.yaml")))


Mutation = Callable[[dict[str, Any]], None]


def _node(raw: dict[str, Any], path: str) -> tuple[Any, Any]:
    """The container of the dotted `path` and its last key; digits index lists (`serving.0.floorReplicas`)."""
    *parents, last = (int(part) if part.isdigit() else part for part in path.split("."))
    for key in parents:
        raw = raw[key]
    return raw, last


def set_key(path: str, value: Any) -> Mutation:
    """A mutation setting the dotted config `path` (e.g. `cluster.systemNodes.minSize`) to `value`."""

    def mutate(raw: dict[str, Any]) -> None:
        node, key = _node(raw, path)
        node[key] = value

    return mutate


def delete_key(path: str) -> Mutation:
    """A mutation removing the dotted config `path`."""

    def mutate(raw: dict[str, Any]) -> None:
        node, key = _node(raw, path)
        del node[key]

    return mutate


def config_issues(stack: str, mutate: Mutation) -> list[str]:
    """The error lines (or, if valid, the `warning: ` lines) a mutated copy of a committed stack config produces."""
    raw = committed_raw(stack)
    mutate(raw)
    try:
        _, warnings = parse_stack_config(raw, stack)
    except ConfigError as error:
        return [str(issue) for issue in error.issues]
    return [f"warning: {w}" for w in warnings]


def valid_config(stack: str) -> StackConfig:
    """A committed stack's parsed config."""
    config, _ = parse_stack_config(committed_raw(stack), stack)
    return config


def write_stack_file(path: Path, raw: dict[str, Any]) -> Path:
    """Write a raw config tree back as a Pulumi.<stack>.yaml-shaped file."""
    config = {("aws:region" if key == "aws:region" else f"gpu-inference-platform:{key}"): value for key, value in raw.items()}
    path.write_text(yaml.safe_dump({"config": config}))
    return path


__all__ = ["ROOT", "STACKS", "committed_raw", "config_issues", "delete_key", "run_program", "set_key", "valid_config", "write_stack_file"]


def unsafe_prod_stack_file(directory: Path) -> Path:
    """The prod stack file with choices the typed config accepts but the production policies refuse.

    It claims `environment: staging` (so the config layer allows a public endpoint, 30-day logs,
    poll mode and one floor replica) while it is deployed as the prod stack, whose policy config
    enforces production rules; its spot pool also draws on one GPU family.
    """
    raw = committed_raw("prod")
    raw["environment"] = "staging"
    raw["allowEnvironmentMismatch"] = "the guardrail tests deploy a staging-shaped config as prod on purpose"
    raw["cluster"].update(endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24"], logRetentionDays=30)
    raw["network"]["flowLogRetentionDays"] = 30
    raw["serving"][0].update(modelControlMode="poll", floorReplicas=1)
    raw["fleet"]["spot"]["instanceTypes"] = ["g5.xlarge", "g5.2xlarge"]
    return write_stack_file(directory / "Pulumi.prod.yaml", raw)
