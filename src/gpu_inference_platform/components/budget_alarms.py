"""BudgetAlarms: a monthly cost budget for this stack that warns, then stops GPU scale-out.

Notifications (actual 50/80/100%, forecast 100%) go to an SNS topic Budgets may publish
to (policy pinned to this account) and to e-mail. A cost-anomaly monitor watches the
stack's cost-allocation tag. When actual spend reaches 100%, a budget action attaches a
deny-GPU-launch policy to the capacity controller's role: nodes already running keep
serving, new GPU nodes are refused. Reverse it by detaching that policy, or with
`aws budgets execute-budget-action --execution-type REVERSE_BUDGET_ACTION ...`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import pulumi
import pulumi_aws as aws

from gpu_inference_platform.components.base import PlatformComponent
from gpu_inference_platform.components.constants import ACTIVATED_BY_PAYER_TAG
from gpu_inference_platform.components.iam import AccountContext, policy_document, service_trust_policy
from gpu_inference_platform.components.validation import ConfigIssue, KeyPath, args_key, check_args, check_positive_finite

GPU_INSTANCE_PATTERNS = ("g*", "p*")
"""EC2 families with NVIDIA GPUs (g4dn, g5, g6, g6e, p4d, p5, ...)."""
MAX_THRESHOLD_PERCENT = 1000
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


class BudgetSettings(Protocol):
    """The settings `budget_issues` checks (`BudgetAlarmsArgs` and the stack's budget config both have them)."""

    @property
    def monthly_usd(self) -> float: ...
    @property
    def alert_emails(self) -> Sequence[str]: ...
    @property
    def actual_thresholds_percent(self) -> Sequence[float]: ...
    @property
    def forecast_threshold_percent(self) -> float: ...
    @property
    def anomaly_threshold_usd(self) -> float: ...


def budget_issues(key: KeyPath, budget: BudgetSettings) -> Iterator[ConfigIssue]:
    """A finite positive budget, thresholds in (0, 1000] percent, at least one well-formed, distinct e-mail."""
    yield from check_positive_finite(key, "monthly_usd", budget.monthly_usd)
    yield from check_positive_finite(key, "anomaly_threshold_usd", budget.anomaly_threshold_usd)
    thresholds = [(f"actual_thresholds_percent[{i}]", t) for i, t in enumerate(budget.actual_thresholds_percent)]
    if not thresholds:
        yield ConfigIssue(key("actual_thresholds_percent"), [], "list at least one threshold")
    for field, threshold in [*thresholds, ("forecast_threshold_percent", budget.forecast_threshold_percent)]:
        if not (math.isfinite(threshold) and 0 < threshold <= MAX_THRESHOLD_PERCENT):
            yield ConfigIssue(key(field), threshold, f"a percentage of the budget; allowed: (0, {MAX_THRESHOLD_PERCENT}]")
    if not budget.alert_emails:
        yield ConfigIssue(key("alert_emails"), [], "list at least one subscriber; an alert nobody receives is no alert")
    for i, email in enumerate(budget.alert_emails):
        if not EMAIL.match(email):
            yield ConfigIssue(key(f"alert_emails[{i}]"), email, "not an e-mail address (name@example.com)")
    if len({e.lower() for e in budget.alert_emails}) != len(budget.alert_emails):
        yield ConfigIssue(key("alert_emails"), list(budget.alert_emails), "addresses must be distinct (each is one subscription)")


@dataclass(frozen=True)
class BudgetAlarmsArgs:
    """The budget and who hears about it."""

    monthly_usd: float
    """Monthly cost budget in USD (finite, above 0)."""
    cost_allocation_tag: tuple[str, str]
    """(key, value) of the stack's cost-allocation tag; only spend carrying it counts."""
    alert_emails: Sequence[str]
    """Subscribers of the alert topic and the budget notifications (each must confirm its subscription)."""
    capacity_controller_role_name: pulumi.Input[str]
    """Role of the GPU capacity controller (Karpenter) that the stop action restricts."""
    account: AccountContext
    """Account, partition and region (topic policy, deny policy)."""
    actual_thresholds_percent: Sequence[float] = (50, 80, 100)
    """Actual-spend notifications, percent of the budget; the stop action fires at 100% regardless."""
    forecast_threshold_percent: float = 100
    """Forecast-spend notification, percent of the budget."""
    anomaly_threshold_usd: float = 100
    """Cost anomalies with at least this total impact are sent to the topic."""
    activate_cost_allocation_tag: bool = True
    """Activate the tag key for cost allocation (account-wide; without it the budget counts $0 and never acts).
    AWS lists a new tag key for activation up to 24 hours after first use. Only a management or standalone account may
    activate tags ("Linked account doesn't have access to cost allocation tags"): in an Organizations member account set
    False, have the payer activate the key, and the budget is marked `ACTIVATED_BY_PAYER_TAG` so the P31 guardrail accepts it."""

    def __post_init__(self) -> None:
        check_args(self, budget_issues(args_key("BudgetAlarmsArgs"), self))


class BudgetAlarms(PlatformComponent):
    """Budget, alert topic, anomaly detection and the automatic stop of GPU scale-out."""

    topic_arn: pulumi.Output[str]
    """SNS topic for budget, anomaly and (later) operational alarms."""
    budget_name: pulumi.Output[str]
    """Name of the monthly cost budget."""
    deny_gpu_launch_policy_arn: pulumi.Output[str]
    """Policy the budget action attaches to the capacity controller at 100% (detach it to resume scale-out)."""
    topic: aws.sns.Topic
    """The alert topic resource (subscribe more endpoints to it)."""

    def __init__(self, name: str, args: BudgetAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("budgetalarms", "BudgetAlarms", name, opts)
        topic = aws.sns.Topic(f"{name}-alerts", opts=self.child())
        aws.sns.TopicPolicy(
            f"{name}-alerts",
            arn=topic.arn,
            policy=pulumi.Output.all(topic.arn, args.account.account_id).apply(lambda a: self._topic_policy(a[0], a[1])),
            opts=self.child(),
        )
        for index, email in enumerate(args.alert_emails):
            # Keyed by address (reordering must not re-send confirmations); the alias is the name it had when keyed by
            # list position (MIGRATIONS.md, 0.2.0).
            aws.sns.TopicSubscription(
                f"{name}-email-{email}",
                topic=topic.arn,
                protocol="email",
                endpoint=email,
                opts=self.child(aliases=[pulumi.Alias(name=f"{name}-email-{index}")]),
            )

        key, value = args.cost_allocation_tag
        if args.activate_cost_allocation_tag:
            # Account-wide and shared by every stack that tags with this key: retained when one stack is destroyed.
            aws.costexplorer.CostAllocationTag(f"{name}-tag-{key}", tag_key=key, status="Active", opts=self.child(retain_on_delete=True))
        budget = aws.budgets.Budget(
            name,
            budget_type="COST",
            limit_amount=f"{args.monthly_usd:.2f}",
            limit_unit="USD",
            time_unit="MONTHLY",
            tags=None if args.activate_cost_allocation_tag else dict([ACTIVATED_BY_PAYER_TAG]),
            cost_filters=[aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[f"user:{key}${value}"])],
            notifications=[
                *(self._notification("ACTUAL", threshold, topic, args.alert_emails) for threshold in args.actual_thresholds_percent),
                self._notification("FORECASTED", args.forecast_threshold_percent, topic, args.alert_emails),
            ],
            opts=self.child(),
        )
        monitor = aws.costexplorer.AnomalyMonitor(
            f"{name}-anomalies",
            monitor_type="CUSTOM",
            monitor_specification=json.dumps({"Tags": {"Key": key, "Values": [value], "MatchOptions": ["EQUALS"]}}),
            opts=self.child(),
        )
        aws.costexplorer.AnomalySubscription(
            f"{name}-anomalies",
            frequency="IMMEDIATE",
            monitor_arn_lists=[monitor.arn],
            subscribers=[aws.costexplorer.AnomalySubscriptionSubscriberArgs(type="SNS", address=topic.arn)],
            threshold_expression={
                "dimension": {"key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE", "match_options": ["GREATER_THAN_OR_EQUAL"], "values": [f"{args.anomaly_threshold_usd:g}"]}
            },
            opts=self.child(),
        )
        self.deny_gpu_launch_policy_arn = self._stop_gpu_scale_out(name, args, budget, topic)
        self.topic = topic
        self.topic_arn = topic.arn
        self.budget_name = budget.name
        self.register_outputs(self.public_outputs())

    @staticmethod
    def _notification(kind: str, threshold: float, topic: aws.sns.Topic, emails: Sequence[str]) -> aws.budgets.BudgetNotificationArgs:
        return aws.budgets.BudgetNotificationArgs(
            comparison_operator="GREATER_THAN",
            notification_type=kind,
            threshold=threshold,
            threshold_type="PERCENTAGE",
            subscriber_sns_topic_arns=[topic.arn],
            subscriber_email_addresses=list(emails),
        )

    @staticmethod
    def _topic_policy(topic_arn: str, account_id: str) -> str:
        """Budgets, cost-anomaly detection and CloudWatch may publish - only on behalf of this account."""
        same_account = {"StringEquals": {"aws:SourceAccount": account_id}}
        return policy_document(
            [
                {
                    "Sid": f"{service.split('.')[0].capitalize()}Publish",
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": "SNS:Publish",
                    "Resource": topic_arn,
                    "Condition": same_account,
                }
                for service in ("budgets.amazonaws.com", "costalerts.amazonaws.com", "cloudwatch.amazonaws.com")
            ]
        )

    def _stop_gpu_scale_out(self, name: str, args: BudgetAlarmsArgs, budget: aws.budgets.Budget, topic: aws.sns.Topic) -> pulumi.Output[str]:
        """At 100% of actual spend, deny launching GPU instances to the capacity controller (automatic, reversible); returns the deny policy's ARN."""
        deny = aws.iam.Policy(
            f"{name}-deny-gpu-launch",
            description="Attached by the budget action at 100% of actual spend: no new GPU instances",
            policy=pulumi.Output.all(args.account.partition, args.account.region).apply(
                lambda a: policy_document(
                    [
                        {
                            "Sid": "DenyGpuLaunch",
                            "Effect": "Deny",
                            "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
                            "Resource": f"arn:{a[0]}:ec2:{a[1]}:*:instance/*",
                            "Condition": {"StringLike": {"ec2:InstanceType": list(GPU_INSTANCE_PATTERNS)}},
                        }
                    ]
                )
            ),
            opts=self.child(),
        )
        trust = pulumi.Output.from_input(args.account.account_id).apply(lambda account: service_trust_policy("budgets.amazonaws.com", source_account=account))
        executor = aws.iam.Role(f"{name}-action", assume_role_policy=trust, opts=self.child())
        role_arn = pulumi.Output.all(args.account.partition, args.account.account_id, args.capacity_controller_role_name).apply(
            lambda a: f"arn:{a[0]}:iam::{a[1]}:role/{a[2]}"
        )
        aws.iam.RolePolicy(
            f"{name}-action",
            role=executor.id,
            policy=pulumi.Output.all(role_arn, deny.arn).apply(
                lambda a: policy_document(
                    [
                        {
                            "Sid": "AttachOnlyTheDenyPolicy",
                            "Effect": "Allow",
                            "Action": ["iam:AttachRolePolicy", "iam:DetachRolePolicy"],
                            "Resource": a[0],
                            "Condition": {"ArnEquals": {"iam:PolicyARN": a[1]}},
                        }
                    ]
                )
            ),
            opts=self.child(),
        )
        aws.budgets.BudgetAction(
            f"{name}-stop-gpu-scale-out",
            budget_name=budget.name,
            action_type="APPLY_IAM_POLICY",
            approval_model="AUTOMATIC",
            notification_type="ACTUAL",
            action_threshold=aws.budgets.BudgetActionActionThresholdArgs(action_threshold_type="PERCENTAGE", action_threshold_value=100),
            definition=aws.budgets.BudgetActionDefinitionArgs(
                iam_action_definition=aws.budgets.BudgetActionDefinitionIamActionDefinitionArgs(policy_arn=deny.arn, roles=[args.capacity_controller_role_name])
            ),
            execution_role_arn=executor.arn,
            subscribers=[aws.budgets.BudgetActionSubscriberArgs(address=topic.arn, subscription_type="SNS")],
            opts=self.child(),
        )
        return deny.arn
