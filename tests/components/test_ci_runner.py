"""CiRunner built alone: a CodeBuild-hosted GitHub Actions runner in the private subnets, with the narrowest role that works."""

from __future__ import annotations

import json
from collections import Counter

from gpu_inference_platform import CiRunner, CiRunnerArgs
from tests.components.alone import ACCOUNT, build_alone, children, errors

CONNECTION = "arn:aws:codeconnections:us-east-1:123456789012:connection/7d2c1e4f-5a6b-4c8d-9e0f-1a2b3c4d5e6f"


def _args(**changes: object) -> CiRunnerArgs:
    settings: dict[str, object] = {
        "project_name": "gip-unit-runner",
        "github_repository": "acme/platform",
        "connection_arn": CONNECTION,
        "vpc_id": "vpc-0unit",
        "subnet_ids": ["subnet-a", "subnet-b"],
        "account": ACCOUNT,
    }
    return CiRunnerArgs(**{**settings, **changes})  # type: ignore[arg-type]


def test_children_project_and_webhook() -> None:
    plan = build_alone(lambda: CiRunner("ci", _args()))
    assert children(plan, "ci") == Counter(
        [
            ("aws:ec2/securityGroup:SecurityGroup", "ci-builds"),
            ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", "ci-builds-https"),
            ("aws:kms/key:Key", "ci-logs"),
            ("aws:cloudwatch/logGroup:LogGroup", "ci-logs"),
            ("aws:iam/role:Role", "ci-builds"),
            ("aws:iam/rolePolicy:RolePolicy", "ci-builds"),
            ("aws:codebuild/project:Project", "ci"),
            ("aws:codebuild/webhook:Webhook", "ci"),
        ]
    )
    project = plan.get("aws:codebuild/project:Project", "ci").inputs
    assert project["name"] == "gip-unit-runner"
    assert project["source"] == {
        "type": "GITHUB",
        "location": "https://github.com/acme/platform.git",
        "auth": {"type": "CODECONNECTIONS", "resource": CONNECTION},
    }
    (group,) = project["vpcConfig"].pop("securityGroupIds")
    assert group.startswith("ci-builds-"), "the builds' own group (mock ids are <name>-<hash>)"
    assert project["vpcConfig"] == {"vpcId": "vpc-0unit", "subnets": ["subnet-a", "subnet-b"]}
    webhook = plan.get("aws:codebuild/webhook:Webhook", "ci").inputs
    assert webhook["filterGroups"] == [{"filters": [{"type": "EVENT", "pattern": "WORKFLOW_JOB_QUEUED"}]}]
    trust = json.loads(plan.get("aws:iam/role:Role", "ci-builds").inputs["assumeRolePolicy"])["Statement"][0]
    assert (trust["Principal"], trust["Condition"]) == ({"Service": "codebuild.amazonaws.com"}, {"StringEquals": {"aws:SourceAccount": "123456789012"}})
    grants = {s["Sid"]: s for s in json.loads(plan.get("aws:iam/rolePolicy:RolePolicy", "ci-builds").inputs["policy"])["Statement"]}
    assert sorted(grants) == ["AttachToTheVpc", "DescribeTheVpc", "UseTheGitHubConnection", "WriteBuildLogs"]
    assert grants["AttachToTheVpc"]["Condition"] == {"ArnEquals": {"ec2:Vpc": "arn:aws:ec2:us-east-1:123456789012:vpc/vpc-0unit"}}
    assert grants["UseTheGitHubConnection"]["Resource"] == CONNECTION
    (root,) = plan.roots()
    assert root.registered_outputs["runs_on"] == "codebuild-gip-unit-runner"


def test_args_name_what_is_wrong() -> None:
    assert errors(lambda: _args(github_repository="platform", connection_arn="arn:aws:iam::123:role/x", project_name="x", compute_type="HUGE")) == [
        "CiRunnerArgs.github_repository = 'platform': not a GitHub repository; expected owner/name",
        "CiRunnerArgs.connection_arn = 'arn:aws:iam::123:role/x': not a CodeConnections connection ARN (arn:aws:codeconnections:<region>:<account>:connection/<uuid>)",
        "CiRunnerArgs.compute_type = 'HUGE': allowed: BUILD_GENERAL1_SMALL, BUILD_GENERAL1_MEDIUM, BUILD_GENERAL1_LARGE, BUILD_GENERAL1_XLARGE",
        "CiRunnerArgs.project_name = 'x': not a CodeBuild project name (letters, digits, - and _, 2-150 characters)",
    ]
