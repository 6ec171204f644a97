"""The offline preview CLI: summary, JSON, rendered manifests, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from gpu_inference_platform.components.model_manifest import load_manifest
from tests.conftest import ROOT, committed_raw, run_preview, write_stack_file


def test_prod_preview_prints_tree_writes_json_and_manifests(tmp_path: Path) -> None:
    result = run_preview("prod", "--json", str(tmp_path / "plan.json"), "--render-k8s", str(tmp_path / "k8s"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    document = json.loads((tmp_path / "plan.json").read_text())
    assert lines[0] == f"stack prod: {len(document['resources'])} resources"
    assert "  gpuinfra:network:Network network (35 resources)" in lines
    assert "        3 x aws:ec2/natGateway:NatGateway" in lines
    assert document["stack"] == "prod"
    assert set(document["resources"][0]) == {"type", "name", "parent", "inputs"}
    vpc = next(r for r in document["resources"] if r["type"] == "aws:ec2/vpc:Vpc")
    assert (vpc["name"], vpc["parent"], vpc["inputs"]["cidrBlock"]) == ("network-vpc", "network", "10.42.0.0/16")
    manifests = sorted((tmp_path / "k8s").glob("*.yaml"))
    tree = document["resources"] and next(r for r in document["resources"] if r["type"] == "gpuinfra:modelrepository:ModelRepository")
    assert tree["name"] == "models"
    short = load_manifest(ROOT / "build/models/prod").short_hash
    assert sorted(yaml.safe_load(p.read_text())["metadata"]["name"] for p in manifests) == sorted(
        [
            "gp3",
            "gpu-fleet-gpu",
            "gpu-fleet-on-demand",
            "gpu-fleet-spot",
            "gpu-nvidia-device-plugin",
            "alb-triton",
            "models-engine-builder",
            "models-engines",
            "models-engines-default-deny",
            "models-engines-dns-and-https",
            "triton-default-deny",
            "triton-dns-and-https",
            "triton-clients",
            "monitoring",
            "monitoring-alerts",
            "monitoring-dashboard",
            "monitoring-grafana-admin",
            "monitoring-gpu",
            "monitoring-triton",
            "monitoring-karpenter",
            "triton",
            "triton",
            "triton",
            "triton",
            "triton-spot",
            "triton-floor",
            "triton-spot",
            "triton-verifier",
            f"trt-{short}-cc86",
            f"trt-{short}-cc89",
            f"trtllm-{short}-smollm2-tensorrt-llm-cc86-tp1",
            f"trtllm-{short}-smollm2-tensorrt-llm-cc89-tp1",
            "alb-llm",
            "llm-default-deny",
            "llm-dns-and-https",
            "llm-clients",
            "monitoring-llm",
            "llm",
            "llm",
            "llm",
            "llm",
            "llm-spot",
            "llm-floor",
            "llm-spot",
            "llm-verifier",
        ]
    )
    assert '      fleetComputeCapabilities: ["8.6", "8.9"]' in lines
    assert '      kubeconfig: "[secret]"' in lines


def test_config_error_exits_2_with_message_and_no_traceback(tmp_path: Path) -> None:
    raw = committed_raw("prod")
    raw["cluster"]["endpointPublicAccess"] = True
    raw["network"]["availabilityZones"] = ["us-west-2a", "us-west-2b"]
    result = run_preview("prod", "--config", str(write_stack_file(tmp_path / "Pulumi.prod.yaml", raw)), "--json", str(tmp_path / "plan.json"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "error: invalid stack configuration (3 problem(s)):",
        "  - gpu-inference-platform:network.availabilityZones = ['us-west-2a', 'us-west-2b']: needs at least 3 zones for environment prod",
        "  - gpu-inference-platform:cluster.endpointPublicAccess = True: production clusters must use the private endpoint only; allowed: false",
        "  - gpu-inference-platform:cluster.publicAccessCidrs = []: a public endpoint needs explicit CIDRs (EKS would default to 0.0.0.0/0)",
    ]
    assert not (tmp_path / "plan.json").exists(), "nothing is written when the config is invalid"


def test_unreadable_config_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "Pulumi.dev.yaml"
    bad.write_text("config: [not, a, mapping]\n")
    result = run_preview("dev", "--config", str(bad))
    assert (result.returncode, "Traceback" in result.stderr) == (2, False)
    assert result.stderr.strip() == f"error: cannot read stack config: {bad}: expected a top-level 'config:' mapping"


def test_config_warnings_are_printed_and_do_not_fail(tmp_path: Path) -> None:
    raw = committed_raw("dev")
    raw["fleet"]["spot"]["instanceTypes"] = ["g5.xlarge", "g5.2xlarge"]
    raw["serving"][1]["instanceTypes"] = ["g5.xlarge"]
    result = run_preview("dev", "--config", str(write_stack_file(tmp_path / "Pulumi.dev.yaml", raw)), "--json", str(tmp_path / "plan.json"))
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if line.startswith("warning:")] == [
        "warning: config: gpu-inference-platform:fleet.spot.instanceTypes = ['g5.xlarge', 'g5.2xlarge']: "
        "a spot pool with one instance family is interrupted all at once; list at least two",
        "warning: config: gpu-inference-platform:modelRepository.engineTargets[0] = '7.5': no instance type of the fleet has this compute capability; its plan cannot be built",
        "warning: config: gpu-inference-platform:modelRepository.engineTargets[2] = '8.9': no instance type of the fleet has this compute capability; its plan cannot be built",
    ]
    jobs = [r["name"] for r in json.loads((tmp_path / "plan.json").read_text())["resources"] if r["type"] == "kubernetes:batch/v1:Job"]
    assert sorted(name.split("-", 1)[0] + "-" + name.split("-cc", 1)[1] for name in jobs) == ["models-86", "models-86-tp1"], (
        "only the launchable GPU family gets engine Jobs"
    )
