"""BudgetAlarms built alone: subscriptions keyed by address, and Args that refuse budgets that can never fire."""

from __future__ import annotations

from gpu_inference_platform import BudgetAlarms, BudgetAlarmsArgs
from tests.components.alone import ACCOUNT, build_alone, errors


def _args(**changes: object) -> BudgetAlarmsArgs:
    settings: dict[str, object] = {
        "monthly_usd": 2000.0,
        "cost_allocation_tag": ("stack", "unit"),
        "alert_emails": ["oncall@example.com", "finops@example.com"],
        "capacity_controller_role_name": "karpenter-controller",
        "account": ACCOUNT,
    }
    return BudgetAlarmsArgs(**{**settings, **changes})  # type: ignore[arg-type]


def test_subscriptions_are_keyed_by_address() -> None:
    plan = build_alone(lambda: BudgetAlarms("spend", _args()))
    subscriptions = {r.name: r.inputs["endpoint"] for r in plan.of_type("aws:sns/topicSubscription:TopicSubscription")}
    assert subscriptions == {"spend-email-oncall@example.com": "oncall@example.com", "spend-email-finops@example.com": "finops@example.com"}
    budget = plan.get("aws:budgets/budget:Budget", "spend").inputs
    assert budget["limitAmount"] == "2000.00"
    assert [(n["notificationType"], n["threshold"]) for n in budget["notifications"]] == [("ACTUAL", 50), ("ACTUAL", 80), ("ACTUAL", 100), ("FORECASTED", 100)]
    action = plan.get("aws:budgets/budgetAction:BudgetAction", "spend-stop-gpu-scale-out").inputs
    assert action["definition"]["iamActionDefinition"]["roles"] == ["karpenter-controller"]
    (root,) = plan.roots()
    assert root.registered_outputs["deny_gpu_launch_policy_arn"] == plan.get("aws:iam/policy:Policy", "spend-deny-gpu-launch").outputs["arn"]


def test_args_refuse_budgets_that_never_fire() -> None:
    assert errors(lambda: _args(monthly_usd=float("inf"), actual_thresholds_percent=[50, float("nan")], alert_emails=[])) == [
        "BudgetAlarmsArgs.monthly_usd = inf: must be a finite number greater than 0",
        "BudgetAlarmsArgs.actual_thresholds_percent[1] = nan: a percentage of the budget; allowed: (0, 1000]",
        "BudgetAlarmsArgs.alert_emails = []: list at least one subscriber; an alert nobody receives is no alert",
    ]
    assert errors(lambda: _args(alert_emails=["oncall@example.com", "OnCall@example.com", "not-an-address"], forecast_threshold_percent=0)) == [
        "BudgetAlarmsArgs.forecast_threshold_percent = 0: a percentage of the budget; allowed: (0, 1000]",
        "BudgetAlarmsArgs.alert_emails[2] = 'not-an-address': not an e-mail address (name@example.com)",
        "BudgetAlarmsArgs.alert_emails = ['oncall@example.com', 'OnCall@example.com', 'not-an-address']: addresses must be distinct (each is one subscription)",
    ]
