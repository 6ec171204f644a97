"""The GitHub workflows: valid YAML, pinned actions, and the preview/deploy flow the README promises."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gpu_inference_platform.components.ci_runner import runner_label
from gpu_inference_platform.program.platform import ci_runner_project
from tests.conftest import ROOT, STACKS, valid_config

WORKFLOWS = ROOT / ".github" / "workflows"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@(v\d+\.\d+\.\d+|[0-9a-f]{40})$")


def _load(name: str) -> dict[str, Any]:
    document = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(document, dict)
    document["on"] = document.pop(True, document.get("on"))  # YAML 1.1 reads the key `on` as true
    return document


def _steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    return list(job.get("steps", []))


def _step_using(job: dict[str, Any], action: str) -> dict[str, Any]:
    return next(s for s in _steps(job) if s.get("uses", "").startswith(f"{action}@"))


def _index(job: dict[str, Any], predicate: Any) -> int:
    return next(i for i, s in enumerate(_steps(job)) if predicate(s))


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.yml")), ids=lambda p: p.name)
def test_workflow_is_valid_and_pins_every_action(path: Path) -> None:
    document = _load(path.name)
    assert {"name", "on", "jobs"} <= set(document), path.name
    for name, job in document["jobs"].items():
        assert ("runs-on" in job) != ("uses" in job), f"{name}: a job either runs steps or calls a workflow"
        uses = [job["uses"]] if "uses" in job else [s["uses"] for s in _steps(job) if "uses" in s]
        for action in uses:
            if action.startswith("./"):
                assert (ROOT / action).is_file(), action
            else:
                assert PINNED.match(action), f"{path.name}:{name}: {action} is not pinned to a release or commit"


def test_ci_runs_the_readme_test_command() -> None:
    job = _load("ci.yml")["jobs"]["test"]
    assert [s.get("run") for s in _steps(job) if "run" in s] == ["make test", "make lint"]
    assert (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1] == "make test"


def test_pull_requests_get_offline_and_pulumi_previews_per_stack() -> None:
    document = _load("preview.yml")
    assert "pull_request" in document["on"]
    offline, pulumi = document["jobs"]["offline"], document["jobs"]["pulumi"]
    assert sorted(offline["strategy"]["matrix"]["stack"]) == list(STACKS) == sorted(pulumi["strategy"]["matrix"]["stack"])
    assert "secrets." not in yaml.safe_dump(offline), "the offline preview needs no secrets"
    assert any("scripts.preview ${{ matrix.stack }}" in s.get("run", "") for s in _steps(offline))
    assert pulumi["if"] == "github.event.pull_request.head.repo.full_name == github.repository"
    assert pulumi["permissions"] == {"contents": "read", "id-token": "write", "pull-requests": "write"}
    assert pulumi["environment"] == "preview-${{ matrix.stack }}", "the org, region, role and token the README puts on environments"
    preview = _step_using(pulumi, "pulumi/actions")["with"]
    assert (preview["command"], preview["policyPacks"], preview["policyPackConfigs"], preview["comment-on-pr"]) == (
        "preview",
        "policy",
        "policy/config/${{ matrix.stack }}.json",
        True,
    )
    install = _index(pulumi, lambda s: s.get("run", "").startswith("make setup"))
    credentials = _index(pulumi, lambda s: s.get("uses", "").startswith("aws-actions/configure-aws-credentials@"))
    run = _index(pulumi, lambda s: s.get("uses", "").startswith("pulumi/actions@"))
    assert install < credentials < run


def test_main_deploys_dev_then_staging_and_prod_behind_environments() -> None:
    deploy = _load("deploy.yml")
    assert deploy["on"] == {"push": {"branches": ["main"]}}
    jobs = deploy["jobs"]
    assert [(name, job.get("needs"), job["with"]["stack"]) for name, job in jobs.items()] == [
        ("dev", None, "dev"),
        ("staging", "dev", "staging"),
        ("prod", "staging", "prod"),
    ]
    assert {job["uses"] for job in jobs.values()} == {"./.github/workflows/pulumi-up.yml"}
    up = _load("pulumi-up.yml")["jobs"]["up"]
    assert up["environment"] == "${{ inputs.stack }}"
    step = _step_using(up, "pulumi/actions")["with"]
    assert (step["command"], step["policyPacks"], step["policyPackConfigs"]) == ("up", "policy", "policy/config/${{ inputs.stack }}.json")


def test_every_stack_has_a_policy_config() -> None:
    assert sorted(p.stem for p in (ROOT / "policy" / "config").glob("*.json")) == sorted(STACKS)
    pack = yaml.safe_load((ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert pack["runtime"] == {"name": "python", "options": {"virtualenv": "../.venv"}}


def test_deploys_and_real_previews_run_on_the_stacks_in_vpc_runner() -> None:
    """The private API endpoint is reachable only from the VPC: jobs that talk to the cluster run on the stack's CodeBuild runner."""
    up = _load("pulumi-up.yml")["jobs"]["up"]
    runner = ci_runner_project("${{ matrix.stack }}")
    assert up["runs-on"] == (
        "${{ inputs.bootstrap && 'ubuntu-24.04' || format('"
        + runner_label(ci_runner_project("{0}"))
        + "-{1}-{2}', inputs.stack, github.run_id, github.run_attempt) }}"
    )
    pulumi = _load("preview.yml")["jobs"]["pulumi"]
    assert pulumi["runs-on"] == f"{runner_label(runner)}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"
    assert _load("preview.yml")["jobs"]["offline"]["runs-on"] == "ubuntu-24.04", "the offline preview stays on GitHub's runners"


def test_a_bootstrap_creates_only_the_network_and_the_runner() -> None:
    bootstrap = _load("bootstrap.yml")
    assert bootstrap["on"]["workflow_dispatch"]["inputs"]["stack"]["options"] == ["dev", "staging", "prod"]
    assert sorted(bootstrap["on"]["workflow_dispatch"]["inputs"]["stack"]["options"]) == list(STACKS)
    (job,) = bootstrap["jobs"].values()
    assert (job["uses"], job["with"]) == ("./.github/workflows/pulumi-up.yml", {"stack": "${{ inputs.stack }}", "bootstrap": True})
    steps = _steps(_load("pulumi-up.yml")["jobs"]["up"])
    (targeted,) = [s for s in steps if s.get("if") == "inputs.bootstrap"]
    assert targeted["with"]["target"].splitlines() == [
        "urn:pulumi:${{ inputs.stack }}::gpu-inference-platform::gpuinfra:network:Network**",
        "urn:pulumi:${{ inputs.stack }}::gpu-inference-platform::gpuinfra:cirunner:CiRunner**",
    ]
    full = [s for s in steps if s.get("uses", "").startswith("pulumi/actions@") and s is not targeted]
    assert [s["if"] for s in full] == ["${{ !inputs.bootstrap }}"]


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_has_its_runner(stack: str) -> None:
    config = valid_config(stack)
    assert config.ci_runner is not None and config.ci_runner.github_repository == "your-org/gpu-inference-platform"


def test_make_test_runs_checkov_and_every_accepted_finding_has_a_reason() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "\ntest: setup models scan\n" in makefile, "the checkov scan is part of make test (and so of .ci/run)"
    assert "$(CHECKOV) --config-file policy/checkov.yaml --directory build/k8s" in makefile
    assert (ROOT / "requirements-scan.txt").read_text().splitlines()[-1] == "checkov==3.3.30"
    config = (ROOT / "policy" / "checkov.yaml").read_text()
    skips = [line.strip() for line in config.split("skip-check:")[1].splitlines() if line.strip().startswith("- ")]
    assert [s.split()[1] for s in skips] == ["CKV_K8S_15", "CKV_K8S_40", "CKV_K8S_43"]
    assert all(len(s.split("#", 1)[1].strip()) > 40 for s in skips), "each skip says why"
    assert yaml.safe_load(config)["skip-check"] == ["CKV_K8S_15", "CKV_K8S_40", "CKV_K8S_43"]
