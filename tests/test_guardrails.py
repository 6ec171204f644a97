"""The pack on whole stacks: committed stacks pass, an unsafe config is blocked, policy config mistakes fail clearly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gpu_inference_platform.policy.config import PolicyConfigError, load_pack_config, parse_pack_config
from gpu_inference_platform.preview.guardrails import check_plan, policy_config_path
from gpu_inference_platform.preview.harness import Plan
from tests.conftest import STACKS, run_preview, unsafe_prod_stack_file

WAIVED = [
    ("K02", "gpu-nvidia-device-plugin", "container nvidia-device-plugin may run as root (runAsNonRoot is not true)"),
    ("K02", "gpu-nvidia-device-plugin", "container nvidia-device-plugin has a writable root filesystem"),
    ("P21", "alb-access-logs", "default encryption is AES256 (required: aws:kms with a customer key)"),
]
FLOATING_AMI = ("K07", "gpu-fleet-gpu", "node image alias al2023@latest floats to each new AMI (pin a version, e.g. al2023@v20260714)")


@pytest.mark.parametrize(("stack", "advisory"), [("dev", [FLOATING_AMI]), ("staging", [FLOATING_AMI]), ("prod", [])])
def test_committed_stacks_pass_every_mandatory_policy(plans: dict[str, Plan], stack: str, advisory: list[tuple[str, str, str]]) -> None:
    report = check_plan(plans[stack])
    assert report.mandatory == []
    assert sorted((v.code, v.resource, v.message) for v in report.violations) == sorted(advisory)
    assert {v.enforcement for v in report.violations} <= {"advisory"}
    assert sorted((v.code, v.resource, v.message) for v in report.waived) == sorted(WAIVED)
    assert all(v.waiver for v in report.waived)


def test_production_settings_match_the_stacks_environment() -> None:
    production_policies = {"p03-eks-private-endpoint-in-production", "p17-alb-access-logs-deletion-protection", "p28-log-retention-encryption"}
    production_policies |= {"k06-production-availability", "k08-triton-locked-down"}
    for stack in STACKS:
        config = load_pack_config(policy_config_path(stack))
        flagged = {name for name, settings in config.items() if settings.settings.get("production")}
        assert flagged == (production_policies if stack == "prod" else set()), stack


def test_unsafe_config_is_blocked_with_the_named_violations(tmp_path: Path) -> None:
    result = run_preview("prod", "--config", str(unsafe_prod_stack_file(tmp_path)), "--json", str(tmp_path / "plan.json"))
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    mandatory = [
        "[P03 mandatory] aws:eks/cluster:Cluster gpu-eks: production cluster has a public API endpoint (vpcConfig.endpointPublicAccess is not false)",
        "[K06 mandatory] kubernetes:apps/v1:Deployment triton-floor: triton-floor, triton-spot run 2 replicas in total (production needs >= 3)",
        "[K08 mandatory] kubernetes:apps/v1:Deployment triton-floor: container triton runs --model-control-mode=poll "
        "(required: none, or explicit with the model-repository API restricted)",
        "[K08 mandatory] kubernetes:apps/v1:Deployment triton-spot: container triton runs --model-control-mode=poll "
        "(required: none, or explicit with the model-repository API restricted)",
    ]
    assert result.stderr.splitlines() == [f"error: mandatory policy violated: {line}" for line in mandatory]
    document = json.loads((tmp_path / "plan.json").read_text())
    found = [(v["code"], v["enforcement"], v["resource"]) for v in document["violations"]]
    assert found == [
        ("P03", "mandatory", "gpu-eks"),
        ("P10", "advisory", "gpu-fleet-spot"),
        ("P17", "advisory", "alb"),
        ("P28", "advisory", "ci-runner-logs"),
        ("P28", "advisory", "gpu-control-plane"),
        ("P28", "advisory", "network-flow-logs"),
        ("K06", "mandatory", "triton-floor"),
        ("K08", "mandatory", "triton-floor"),
        ("K08", "mandatory", "triton-spot"),
    ]
    assert [(w["code"], w["resource"]) for w in document["waived"]] == [
        ("P21", "alb-access-logs"),
        ("K02", "gpu-nvidia-device-plugin"),
        ("K02", "gpu-nvidia-device-plugin"),
    ]
    lines = result.stdout.splitlines()
    assert "policies: 53 checked, 9 violations (4 mandatory), 3 waived" in lines
    assert lines.index("  critical (3):") < lines.index("  high (1):") < lines.index("  medium (5):")


def test_committed_preview_prints_the_policy_summary_and_json(tmp_path: Path) -> None:
    result = run_preview("staging", "--json", str(tmp_path / "plan.json"))
    assert result.returncode == 0, result.stderr
    assert "policies: 53 checked, 1 violations (0 mandatory), 3 waived" in result.stdout.splitlines()
    document = json.loads((tmp_path / "plan.json").read_text())
    assert document["violations"] == [
        {
            "code": "K07",
            "policy": "k07-pinned-images",
            "severity": "medium",
            "enforcement": "advisory",
            "resource_type": "kubernetes:karpenter.k8s.aws/v1:EC2NodeClass",
            "resource": "gpu-fleet-gpu",
            "message": FLOATING_AMI[2],
            "waiver": None,
        }
    ]


def _write(tmp_path: Path, document: Any) -> Path:
    path = tmp_path / "policy.json"
    path.write_text(json.dumps(document))
    return path


def test_tuning_raises_and_lowers_enforcement(tmp_path: Path) -> None:
    committed = json.loads(policy_config_path("dev").read_text())
    tuned = {
        **committed,
        "p18-internet-alb-waf": {"enforcementLevel": "disabled", "reason": "AWS Shield Advanced and a CDN WAF front this ALB"},
        "k07-pinned-images": {"enforcementLevel": "mandatory"},
    }
    result = run_preview("dev", "--policy-config", str(_write(tmp_path, tuned)))
    assert result.returncode == 3
    assert result.stderr.splitlines() == [
        f"error: mandatory policy violated: [K07 mandatory] kubernetes:karpenter.k8s.aws/v1:EC2NodeClass gpu-fleet-gpu: {FLOATING_AMI[2]}"
    ]
    assert "internet-facing load balancer has no WAF web ACL" not in result.stdout


def _problems(document: Any) -> list[str]:
    with pytest.raises(PolicyConfigError) as error:
        parse_pack_config(document, "policy.json")
    return error.value.problems


def test_policy_config_mistakes_are_named_with_allowed_values() -> None:
    problems = _problems(
        {
            "p21-s3-kms": {},
            "p18-internet-alb-waf": {"enforcementLevel": "off"},
            "p12-security-group-ingress": {"enforcementLevel": "advisory", "publicPorts": ["443"]},
            "k06-production-availability": {"production": "yes", "minReplica": 3},
            "k02-pod-hardening": {"waivers": [{"resource": "gpu-nvidia-device-plugin"}, {"resource": "", "reason": "x", "until": "2027"}]},
            "p01-eks-control-plane-logs": "disabled",
        }
    )
    names = "p01-eks-control-plane-logs, p02-eks-secrets-encryption"
    assert problems[0].startswith(f"p21-s3-kms: unknown policy (did you mean p21-s3-sse-kms?); allowed: {names}, ")
    assert problems[1:] == [
        "p01-eks-control-plane-logs = 'disabled': expected an object ({enforcementLevel, reason, waivers, settings})",
        "p12-security-group-ingress.publicPorts = ['443']: expected a list",
        "p12-security-group-ingress: lowering enforcementLevel from mandatory to advisory needs a reason",
        "p18-internet-alb-waf.enforcementLevel = 'off'; allowed: mandatory, advisory, disabled",
        "k02-pod-hardening.waivers[0].reason: a waiver needs a reason",
        "k02-pod-hardening.waivers[1].until: unknown key; allowed: resource, reason",
        "k02-pod-hardening.waivers[1].resource = '': expected the logical name of the waived resource",
        "k06-production-availability.minReplica: unknown key; allowed: enforcementLevel, reason, waivers, production, minReplicas",
        "k06-production-availability.production = 'yes': expected true/false",
    ]


def test_policy_config_error_exits_2_without_traceback(tmp_path: Path) -> None:
    result = run_preview("dev", "--policy-config", str(_write(tmp_path, {"k07-pinned-images": {"enforcementLevel": "disabled"}})))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {tmp_path / 'policy.json'}: invalid policy config:",
        "  - k07-pinned-images: lowering enforcementLevel from advisory to disabled needs a reason",
    ]
    missing = run_preview("dev", "--policy-config", str(tmp_path / "absent.json"))
    assert (missing.returncode, missing.stderr.splitlines()) == (
        2,
        [f"error: {tmp_path / 'absent.json'}: invalid policy config:", "  - cannot read the policy config: No such file or directory"],
    )
