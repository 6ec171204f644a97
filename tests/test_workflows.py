"""The GitHub workflows: valid YAML, pinned actions, and the preview/deploy flow the README promises."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ROOT, STACKS

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
