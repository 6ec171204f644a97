"""Config an attacker (or a tired engineer) writes: each is refused with its key path, and no input produces a traceback."""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpu_inference_platform.program.config import ConfigError, parse_stack_config, raw_config
from gpu_inference_platform.program.stack_files import read_stack_file
from tests.conftest import ROOT, committed_raw, config_issues, run_preview, set_key

P = "gpu-inference-platform"


@pytest.mark.parametrize(
    ("stack", "mutate", "expected"),
    [
        ("dev", set_key("budget.monthlyUsd", float("inf")), f"{P}:budget.monthlyUsd = inf: Input should be a finite number"),
        ("dev", set_key("budget.actualThresholdsPercent", [50, float("inf")]), f"{P}:budget.actualThresholdsPercent[1] = inf: Input should be a finite number"),
        ("dev", set_key("monitoring.p99LatencyMs", float("nan")), f"{P}:monitoring.p99LatencyMs = nan: Input should be a finite number"),
        (
            "dev",
            set_key("cluster.publicAccessCidrs", ["0.0.0.0/1", "128.0.0.0/1"]),
            f"{P}:cluster.publicAccessCidrs[0] = '0.0.0.0/1': opens the API server to the internet; list your office/VPN ranges instead",
        ),
        (
            "dev",
            set_key("cluster.publicAccessCidrs", ["2001:db8::/32"]),
            f"{P}:cluster.publicAccessCidrs[0] = '2001:db8::/32': IPv4 only: EKS public endpoints filter IPv4 sources",
        ),
        (
            "dev",
            set_key("loadBalancer.allowedCidrs", ["::/0"]),
            f"{P}:loadBalancer.allowedCidrs[0] = '::/0': IPv4 only: the ALB is IPv4 and its rules are cidr_ipv4",
        ),
        (
            "dev",
            set_key("loadBalancer.certificateArn", "arn:aws:acm:eu-west-1:123456789012:certificate/0b1d2c3e-1111-4a5b-8c9d-000000000001"),
            f"{P}:loadBalancer.certificateArn = 'arn:aws:acm:eu-west-1:123456789012:certificate/0b1d2c3e-1111-4a5b-8c9d-000000000001': "
            "the certificate is in eu-west-1; an ALB can only use one from its own region (us-east-1)",
        ),
        (
            "prod",
            set_key("loadBalancer.accessLogRetentionDays", 1),
            f"{P}:loadBalancer.accessLogRetentionDays = 1: production keeps access logs at least 90 days",
        ),
        (
            "prod",
            set_key("serving.0.floorReplicas", 1),
            f"{P}:serving[0].floorReplicas = 1: production needs an on-demand floor of at least 1 replica per pair of zones (2 for 3 zones) "
            "in an onDemand pool: spot can be reclaimed everywhere at once",
        ),
        ("dev", set_key("costCenter", "[ml"), f"{P}:costCenter = '[ml': String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}$'"),
    ],
)
def test_hostile_values_are_named(stack: str, mutate: Any, expected: str) -> None:
    assert expected in config_issues(stack, mutate)


def test_a_dev_file_deployed_as_prod_is_refused_unless_declared() -> None:
    raw = committed_raw("dev")
    with pytest.raises(ConfigError) as refused:
        parse_stack_config(raw, "prod")
    assert [str(i) for i in refused.value.issues] == [
        f"{P}:environment = 'dev': the stack is 'prod': name it dev or dev-<suffix>, or state why with {P}:allowEnvironmentMismatch"
    ]
    assert parse_stack_config(raw, "dev-eu")[0].environment == "dev", "dev-<suffix> stacks are dev"
    raw["allowEnvironmentMismatch"] = "a prod-sized rehearsal of dev settings"
    assert parse_stack_config(raw, "prod")[0].environment == "dev"


def test_a_duplicate_key_stops_the_preview(tmp_path: Path) -> None:
    text = (ROOT / "Pulumi.prod.yaml").read_text() + f"  {P}:environment: dev\n"
    (tmp_path / "Pulumi.prod.yaml").write_text(text)
    result = run_preview("prod", "--config", str(tmp_path / "Pulumi.prod.yaml"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"duplicate key '{P}:environment': a second value would silently win" in result.stderr
    assert f"line {len(text.splitlines())}, column 3" in result.stderr, "the message points at the second key"


def test_a_waiver_for_a_resource_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    config = json.loads((ROOT / "policy/config/prod.json").read_text())
    config["k02-pod-hardening"]["waivers"].append({"resource": "gpu-nvidia-device-plugn", "reason": "typo in a waiver must not hide a finding"})
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(config))
    result = run_preview("prod", "--policy-config", str(path))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "k02-pod-hardening.waivers: 'gpu-nvidia-device-plugn' is not a resource of this plan" in result.stderr


def test_deep_nesting_is_a_named_error_not_a_recursion_error(tmp_path: Path) -> None:
    issues = config_issues("dev", set_key("network.availabilityZones", "[" * 100_000))
    assert issues == [f"{P}:network.availabilityZones = {'[' * 100_000!r}: Input should be a valid list"]
    deep = tmp_path / "Pulumi.dev.yaml"
    deep.write_text("config:\n  aws:region: " + "[" * 20_000 + "]" * 20_000 + "\n")
    result = run_preview("dev", "--config", str(deep))
    assert result.returncode == 2 and "Traceback" not in result.stderr and "RecursionError" not in result.stderr


# ---------------------------------------------------------------- fuzzing the loader

VALUES: list[Any] = [None, True, 0, -1, 1, 2**63, 1e309, float("nan"), "", "x", "[", "{}", "0.0.0.0/0", "::/0", [], {}, [1, "a"], {"a": 1}, "1e309"]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, child in node.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            found += _paths(child, (*prefix, index))
    return found


def _mutate(raw: dict[str, Any], rng: random.Random) -> None:
    for _ in range(rng.randint(1, 3)):
        paths = _paths(raw)
        path = rng.choice(paths)
        parent: Any = raw
        for part in path[:-1]:
            parent = parent[part]
        action = rng.random()
        if action < 0.6:
            parent[path[-1]] = copy.deepcopy(rng.choice(VALUES))
        elif action < 0.8 and isinstance(parent, dict):
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[f"{path[-1]}x"] = copy.deepcopy(rng.choice(VALUES))


def test_thousands_of_random_mutations_never_produce_a_traceback() -> None:
    """Seeded: every mutation of a committed config either parses or raises ConfigError whose every issue names a key path."""
    rng = random.Random(20261121)
    outcomes = {"valid": 0, "refused": 0}
    for _ in range(3000):
        stack = rng.choice(["dev", "staging", "prod"])
        raw = committed_raw(stack)
        _mutate(raw, rng)
        try:
            parse_stack_config(json.loads(json.dumps(raw, allow_nan=True)), stack)
        except ConfigError as error:
            assert error.issues and all(issue.path.startswith((f"{P}", "aws:region")) for issue in error.issues), error
            outcomes["refused"] += 1
        else:
            outcomes["valid"] += 1
    assert outcomes["refused"] > 2000 and outcomes["valid"] > 50, outcomes


def test_random_stack_files_never_produce_a_traceback(tmp_path: Path) -> None:
    """Seeded byte-level damage to a stack file: the reader and the schema answer with the errors the preview turns into exit 2."""
    rng = random.Random(7)
    base = (ROOT / "Pulumi.dev.yaml").read_text()
    path = tmp_path / "Pulumi.dev.yaml"
    outcomes = {"valid": 0, "unreadable": 0, "refused": 0}
    for _ in range(1000):
        chars = list(base)
        for _ in range(rng.randint(1, 6)):
            chars[rng.randrange(len(chars))] = rng.choice(["[", "]", "{", ":", "-", " ", "\n", "'", "&", "*", "!", "\t", "x", "0"])
        path.write_text("".join(chars))
        try:
            parse_stack_config(raw_config(read_stack_file(path)), "dev")
        except (ValueError, yaml.YAMLError):
            outcomes["unreadable"] += 1
        except ConfigError as error:
            assert all(issue.path.startswith((f"{P}", "aws:region")) for issue in error.issues), error
            outcomes["refused"] += 1
        else:
            outcomes["valid"] += 1
    assert min(outcomes.values()) > 0, outcomes
    assert yaml.safe_load(base)["config"]["aws:region"] == "us-east-1"
