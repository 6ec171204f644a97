"""BudgetAlarms component: budget scope and notifications, topic policy, anomaly detection, the stop action; budget rules."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from gpu_inference_platform.preview.harness import Plan
from tests.conftest import config_issues, set_key

B = "gpu-inference-platform:budget"


def test_children_are_exact(plans: dict[str, Plan]) -> None:
    assert Counter((r.type, r.name) for r in plans["prod"].children("budget")) == Counter(
        [
            ("aws:sns/topic:Topic", "budget-alerts"),
            ("aws:sns/topicPolicy:TopicPolicy", "budget-alerts"),
            ("aws:sns/topicSubscription:TopicSubscription", "budget-email-ml-platform-oncall@example.com"),
            ("aws:sns/topicSubscription:TopicSubscription", "budget-email-finops@example.com"),
            ("aws:budgets/budget:Budget", "budget"),
            ("aws:costexplorer/anomalyMonitor:AnomalyMonitor", "budget-anomalies"),
            ("aws:costexplorer/anomalySubscription:AnomalySubscription", "budget-anomalies"),
            ("aws:iam/policy:Policy", "budget-deny-gpu-launch"),
            ("aws:iam/role:Role", "budget-action"),
            ("aws:iam/rolePolicy:RolePolicy", "budget-action"),
            ("aws:budgets/budgetAction:BudgetAction", "budget-stop-gpu-scale-out"),
            ("aws:costexplorer/costAllocationTag:CostAllocationTag", "budget-tag-stack"),
        ]
    )


def test_budget_counts_only_this_stack_and_alerts_on_actual_and_forecast(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    budget = plan.get("aws:budgets/budget:Budget", "budget").inputs
    topic = plan.get("aws:sns/topic:Topic", "budget-alerts").outputs["arn"]
    assert (budget["budgetType"], budget["limitAmount"], budget["limitUnit"], budget["timeUnit"]) == ("COST", "12000.00", "USD", "MONTHLY")
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": ["user:stack$prod"]}]
    emails = ["ml-platform-oncall@example.com", "finops@example.com"]
    assert [(n["notificationType"], n["threshold"]) for n in budget["notifications"]] == [("ACTUAL", 50), ("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100)]
    for notification in budget["notifications"]:
        assert (notification["comparisonOperator"], notification["thresholdType"]) == ("GREATER_THAN", "PERCENTAGE")
        assert (notification["subscriberSnsTopicArns"], notification["subscriberEmailAddresses"]) == ([topic], emails)
    assert [plan.get("aws:sns/topicSubscription:TopicSubscription", f"budget-email-{email}").inputs["endpoint"] for email in emails] == emails


def test_topic_policy_lets_budgets_publish_for_this_account_only(plans: dict[str, Plan]) -> None:
    plan = plans["dev"]
    topic = plan.get("aws:sns/topic:Topic", "budget-alerts").outputs["arn"]
    statements = json.loads(plan.get("aws:sns/topicPolicy:TopicPolicy", "budget-alerts").inputs["policy"])["Statement"]
    assert [s["Principal"]["Service"] for s in statements] == ["budgets.amazonaws.com", "costalerts.amazonaws.com", "cloudwatch.amazonaws.com"]
    for statement in statements:
        assert (statement["Action"], statement["Resource"], statement["Condition"]) == (
            "SNS:Publish",
            topic,
            {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        )


def test_anomaly_monitor_watches_the_stack_tag(plans: dict[str, Plan]) -> None:
    plan = plans["staging"]
    monitor = plan.get("aws:costexplorer/anomalyMonitor:AnomalyMonitor", "budget-anomalies")
    assert json.loads(monitor.inputs["monitorSpecification"]) == {"Tags": {"Key": "stack", "Values": ["staging"], "MatchOptions": ["EQUALS"]}}
    subscription = plan.get("aws:costexplorer/anomalySubscription:AnomalySubscription", "budget-anomalies").inputs
    assert subscription["monitorArnLists"] == [monitor.outputs["arn"]]
    assert subscription["thresholdExpression"]["dimension"] == {
        "key": "ANOMALY_TOTAL_IMPACT_ABSOLUTE",
        "matchOptions": ["GREATER_THAN_OR_EQUAL"],
        "values": ["100"],
    }


def test_full_spend_automatically_stops_gpu_scale_out(plans: dict[str, Plan]) -> None:
    plan = plans["prod"]
    action = plan.get("aws:budgets/budgetAction:BudgetAction", "budget-stop-gpu-scale-out").inputs
    deny = plan.get("aws:iam/policy:Policy", "budget-deny-gpu-launch")
    controller = plan.get("aws:iam/role:Role", "gpu-fleet-controller").outputs
    assert (action["actionType"], action["approvalModel"], action["notificationType"]) == ("APPLY_IAM_POLICY", "AUTOMATIC", "ACTUAL")
    assert action["actionThreshold"] == {"actionThresholdType": "PERCENTAGE", "actionThresholdValue": 100}
    assert action["definition"] == {"iamActionDefinition": {"policyArn": deny.outputs["arn"], "roles": [controller["name"]]}}
    assert action["budgetName"] == plan.get("aws:budgets/budget:Budget", "budget").outputs["name"]
    (statement,) = json.loads(deny.inputs["policy"])["Statement"]
    assert statement == {
        "Sid": "DenyGpuLaunch",
        "Effect": "Deny",
        "Action": ["ec2:RunInstances", "ec2:CreateFleet"],
        "Resource": "arn:aws:ec2:us-west-2:*:instance/*",
        "Condition": {"StringLike": {"ec2:InstanceType": ["g*", "p*"]}},
    }
    (grant,) = json.loads(plan.get("aws:iam/rolePolicy:RolePolicy", "budget-action").inputs["policy"])["Statement"]
    assert grant["Resource"] == f"arn:aws:iam::123456789012:role/{controller['name']}"
    assert grant["Condition"] == {"ArnEquals": {"iam:PolicyARN": deny.outputs["arn"]}}, "the action may attach only the deny policy"
    trust = json.loads(plan.get("aws:iam/role:Role", "budget-action").inputs["assumeRolePolicy"])["Statement"][0]
    assert trust["Principal"] == {"Service": "budgets.amazonaws.com"}
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}, "no other account's budget can assume it"


def test_the_cost_allocation_tag_is_activated_and_survives_the_stack(plans: dict[str, Plan]) -> None:
    tag = plans["prod"].get("aws:costexplorer/costAllocationTag:CostAllocationTag", "budget-tag-stack").inputs
    assert (tag["tagKey"], tag["status"]) == ("stack", "Active")
    budget = plans["prod"].get("aws:budgets/budget:Budget", "budget").inputs
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": [f"user:{tag['tagKey']}$prod"]}], "the budget counts the activated key"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (set_key("budget.monthlyUsd", 0), f"{B}.monthlyUsd = 0: Input should be greater than 0"),
        (set_key("budget.monthlyUsd", -10), f"{B}.monthlyUsd = -10: Input should be greater than 0"),
        (set_key("budget.monthlyUsd", "lots"), f"{B}.monthlyUsd = 'lots': Input should be a valid number"),
        (set_key("budget.actualThresholdsPercent", [50, 1200]), f"{B}.actualThresholdsPercent[1] = 1200: Input should be less than or equal to 1000"),
        (set_key("budget.actualThresholdsPercent", [0, 80]), f"{B}.actualThresholdsPercent[0] = 0: Input should be greater than 0"),
        (set_key("budget.forecastThresholdPercent", 0), f"{B}.forecastThresholdPercent = 0: Input should be greater than 0"),
        (set_key("budget.alertEmails", []), f"{B}.alertEmails = []: List should have at least 1 item after validation, not 0"),
        (
            set_key("budget.alertEmails", ["oncall-at-example.com"]),
            rf"{B}.alertEmails[0] = 'oncall-at-example.com': String should match pattern '^[^@\s]+@[^@\s]+\.[A-Za-z]{{2,}}$'",
        ),
    ],
)
def test_budget_rules(mutate: Any, expected: str) -> None:
    assert expected in config_issues("dev", mutate)
