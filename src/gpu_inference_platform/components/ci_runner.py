"""CiRunner: a CodeBuild-hosted GitHub Actions runner inside the stack's private subnets.

A production cluster has a private API endpoint only, so `pulumi up` (and a real `pulumi
preview`) must run inside the VPC. GitHub queues a job labelled
`codebuild-<project>-<run id>-<attempt>`; the webhook starts a CodeBuild build in the
private subnets that registers as an ephemeral runner, runs that one job and ends. Jobs
still assume their deploy role with GitHub OIDC; the build's own role can only write its
logs and attach to the VPC.

Bootstrap: the runner lives in the network the stack creates, so a stack's first
`pulumi up` targets the network and the runner only (the `bootstrap` input of
`.github/workflows/pulumi-up.yml`); every later run uses the runner.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.iam import AccountContext, encryption_key, policy_document, service_trust_policy
from gpu_inference_platform.components.validation import ConfigIssue, KeyPath, args_key, check_args

GITHUB_REPOSITORY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100}$")
CONNECTION_ARN = re.compile(r"^arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:\d{12}:connection/[0-9a-f-]{36}$")
PROJECT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{1,149}$")
COMPUTE_TYPES = ("BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE", "BUILD_GENERAL1_XLARGE")
DEFAULT_IMAGE = "aws/codebuild/standard:7.0"
"""CodeBuild's Ubuntu 22.04 standard image: `actions/setup-python` ships Ubuntu builds only (actions/setup-python#750, #460),
so the Amazon Linux images fail the workflows' first step."""


def runner_issues(key: KeyPath, github_repository: str, connection_arn: str, compute_type: str) -> Iterator[ConfigIssue]:
    """A GitHub `owner/name`, a CodeConnections connection ARN and a CodeBuild compute type."""
    if not GITHUB_REPOSITORY.match(github_repository):
        yield ConfigIssue(key("github_repository"), github_repository, "not a GitHub repository; expected owner/name")
    if not CONNECTION_ARN.match(connection_arn):
        yield ConfigIssue(
            key("connection_arn"), connection_arn, "not a CodeConnections connection ARN (arn:aws:codeconnections:<region>:<account>:connection/<uuid>)"
        )
    if compute_type not in COMPUTE_TYPES:
        yield ConfigIssue(key("compute_type"), compute_type, f"allowed: {', '.join(COMPUTE_TYPES)}")


def runner_label(project_name: str) -> str:
    """The `runs-on` prefix of jobs for this runner; GitHub workflows append `-${{ github.run_id }}-${{ github.run_attempt }}`."""
    return f"codebuild-{project_name}"


@dataclass(frozen=True)
class CiRunnerArgs:
    """Where the runner runs and which repository it serves."""

    project_name: str
    """Physical CodeBuild project name; workflows target it as `runs-on: codebuild-<project_name>-<run id>-<attempt>`."""
    github_repository: str
    """`owner/name` of the repository whose workflow jobs it runs."""
    connection_arn: str
    """An authorised AWS CodeConnections connection to GitHub (created once per account in the console: it installs the GitHub App)."""
    vpc_id: pulumi.Input[str]
    """The stack's VPC."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets (egress through NAT): builds reach the private EKS endpoint, GitHub and package registries."""
    account: AccountContext
    """Account, partition and region (role and log-key policies)."""
    compute_type: str = "BUILD_GENERAL1_MEDIUM"
    """CodeBuild compute size (MEDIUM: 4 vCPU, 7 GB; model builds and previews fit)."""
    image: str = DEFAULT_IMAGE
    """Build image (Ubuntu standard: Python, Docker, AWS CLI; the workflows' `actions/setup-python` needs Ubuntu)."""
    log_retention_days: int = 365
    """Days CloudWatch keeps the build logs."""

    def __post_init__(self) -> None:
        key = args_key("CiRunnerArgs")
        issues = list(runner_issues(key, self.github_repository, self.connection_arn, self.compute_type))
        if not PROJECT_NAME.match(self.project_name):
            issues.append(ConfigIssue(key("project_name"), self.project_name, "not a CodeBuild project name (letters, digits, - and _, 2-150 characters)"))
        check_args(self, issues)


class CiRunner(PlatformComponent):
    """CodeBuild project + webhook that runs this repository's GitHub Actions jobs inside the VPC."""

    project_name: pulumi.Output[str]
    """The CodeBuild project."""
    runs_on: str
    """The `runs-on` label prefix (`codebuild-<project>`)."""
    security_group_id: pulumi.Output[str]
    """Security group of the builds (allow it on the cluster's endpoint if you restrict that further)."""
    role_arn: pulumi.Output[str]
    """Service role of the builds."""
    project: aws.codebuild.Project
    """The CodeBuild project resource."""

    def __init__(self, name: str, args: CiRunnerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("cirunner", "CiRunner", name, opts)
        group = aws.ec2.SecurityGroup(f"{name}-builds", description=f"CI runner {args.project_name}: egress only", vpc_id=args.vpc_id, opts=self.child())
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-builds-https",
            security_group_id=group.id,
            cidr_ipv4="0.0.0.0/0",
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            description="HTTPS: GitHub, the EKS endpoint, AWS APIs, package registries",
            opts=self.child(),
        )
        key = encryption_key(
            f"{name}-logs", description=f"CI runner {args.project_name} logs", account=args.account, for_cloudwatch_logs=True, opts=self.child()
        )
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs", name=f"/aws/codebuild/{args.project_name}", retention_in_days=args.log_retention_days, kms_key_id=key.arn, opts=self.child()
        )
        role = self._role(name, args, logs)
        project = aws.codebuild.Project(
            name,
            name=args.project_name,
            description=f"GitHub Actions runner for {args.github_repository} inside the VPC",
            service_role=role.arn,
            build_timeout=120,
            source=aws.codebuild.ProjectSourceArgs(
                type="GITHUB",
                location=f"https://github.com/{args.github_repository}.git",
                auth=aws.codebuild.ProjectSourceAuthArgs(type="CODECONNECTIONS", resource=args.connection_arn),
            ),
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                type="LINUX_CONTAINER", compute_type=args.compute_type, image=args.image, image_pull_credentials_type="CODEBUILD"
            ),
            vpc_config=aws.codebuild.ProjectVpcConfigArgs(vpc_id=args.vpc_id, subnets=args.subnet_ids, security_group_ids=[group.id]),
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(group_name=logs.name, status="ENABLED"),
                s3_logs=aws.codebuild.ProjectLogsConfigS3LogsArgs(status="DISABLED"),
            ),
            opts=self.child(),
        )
        aws.codebuild.Webhook(
            name,
            project_name=project.name,
            build_type="BUILD",
            filter_groups=[
                aws.codebuild.WebhookFilterGroupArgs(filters=[aws.codebuild.WebhookFilterGroupFilterArgs(type="EVENT", pattern="WORKFLOW_JOB_QUEUED")])
            ],
            opts=self.child(),
        )
        self.project = project
        self.project_name = project.name
        self.runs_on = runner_label(args.project_name)
        self.security_group_id = group.id
        self.role_arn = role.arn
        self.register_outputs(self.public_outputs())

    def _role(self, name: str, args: CiRunnerArgs, logs: aws.cloudwatch.LogGroup) -> aws.iam.Role:
        """The builds' role: write their logs, attach to the VPC, use the GitHub connection. Deploy rights come from the job's OIDC role."""
        role = aws.iam.Role(
            f"{name}-builds",
            assume_role_policy=pulumi.Output.from_input(args.account.account_id).apply(
                lambda account: service_trust_policy("codebuild.amazonaws.com", source_account=account)
            ),
            opts=self.child(),
        )

        def document(values: list[str]) -> str:
            partition, region, account, log_group_arn, vpc_id = values
            ec2 = f"arn:{partition}:ec2:{region}:{account}"
            return policy_document(
                [
                    {"Sid": "WriteBuildLogs", "Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": f"{log_group_arn}:*"},
                    {
                        "Sid": "DescribeTheVpc",
                        "Effect": "Allow",
                        "Action": [
                            "ec2:DescribeDhcpOptions",
                            "ec2:DescribeNetworkInterfaces",
                            "ec2:DescribeSecurityGroups",
                            "ec2:DescribeSubnets",
                            "ec2:DescribeVpcs",
                        ],
                        "Resource": "*",
                    },
                    {
                        "Sid": "AttachToTheVpc",
                        "Effect": "Allow",
                        "Action": ["ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface", "ec2:CreateNetworkInterfacePermission"],
                        "Resource": [f"{ec2}:network-interface/*", f"{ec2}:subnet/*", f"{ec2}:security-group/*"],
                        "Condition": {"ArnEquals": {"ec2:Vpc": f"{ec2}:vpc/{vpc_id}"}},
                    },
                    {
                        "Sid": "UseTheGitHubConnection",
                        "Effect": "Allow",
                        "Action": ["codeconnections:GetConnectionToken", "codeconnections:UseConnection", "codestar-connections:UseConnection"],
                        "Resource": args.connection_arn,
                    },
                ]
            )

        aws.iam.RolePolicy(
            f"{name}-builds",
            role=role.id,
            policy=pulumi.Output.all(args.account.partition, args.account.region, args.account.account_id, logs.arn, args.vpc_id).apply(document),
            opts=self.child(),
        )
        return role
