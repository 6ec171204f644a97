"""P28-P29: logs that are kept and encrypted, budgets that actually alert."""

from __future__ import annotations

from collections.abc import Iterator

from gpu_inference_platform.components.constants import ACTIVATED_BY_PAYER_TAG
from gpu_inference_platform.policy.model import Finding, Policy, Resource, Settings, Severity, Stack
from gpu_inference_platform.policy.values import allows, as_list, mapping, principals, shown, statements

LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
BUDGET = "aws:budgets/budget:Budget"
TOPIC = "aws:sns/topic:Topic"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
TOPIC_SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
BUDGETS_SERVICE = "budgets.amazonaws.com"
NOTIFICATION_TYPES = ("ACTUAL", "FORECASTED")


def _log_groups(group: Resource, settings: Settings) -> Iterator[str]:
    retention = group.props.get("retentionInDays")
    minimum = int(settings["productionRetentionDays"])
    if not retention:
        yield "retention is not set (logs are kept, and billed, forever)"
    elif settings["production"] and int(retention) < minimum:
        yield f"retention is {shown(retention)} days (production keeps >= {minimum})"
    if not group.props.get("kmsKeyId"):
        yield "log group is not encrypted with a KMS key"


def _lets_budgets_publish(statement: object) -> bool:
    statement = mapping(statement)
    conditions = [mapping(v) for v in mapping(statement.get("Condition")).values()]
    return (
        allows(statement)
        and BUDGETS_SERVICE in principals(statement, "Service")
        and any(str(a).lower() == "sns:publish" for a in as_list(statement.get("Action")))
        and any("aws:SourceAccount" in c for c in conditions)
    )


def _topic_problems(stack: Stack, topic: Resource) -> Iterator[str]:
    policies = stack.referencing(topic, TOPIC_POLICY, "arn")
    if not any(_lets_budgets_publish(s) for p in policies for s in statements(p.props.get("policy"))):
        yield f"topic {topic.name} does not let {BUDGETS_SERVICE} publish (with an aws:SourceAccount condition): alerts are dropped"
    if not stack.referencing(topic, TOPIC_SUBSCRIPTION, "topic"):
        yield f"topic {topic.name} has no subscriber"


def _budget_alerts(stack: Stack, _: Settings) -> Iterator[Finding]:
    budgets = stack.of_type(BUDGET)
    if not budgets:
        yield Finding(None, "no budget watches this stack's spend")
    for budget in budgets:
        notifications = [mapping(n) for n in as_list(budget.props.get("notifications"))]
        for kind in NOTIFICATION_TYPES:
            if not any(n.get("notificationType") == kind for n in notifications):
                yield Finding(budget, f"budget has no {kind} notification")
        topics = stack.referenced(budget, "notifications", TOPIC)
        if not topics:
            yield Finding(budget, "budget notifications reach no SNS topic")
        for topic in topics:
            for message in _topic_problems(stack, topic):
                yield Finding(budget, message)


COST_ALLOCATION_TAG = "aws:costexplorer/costAllocationTag:CostAllocationTag"


def _tag_activated(stack: Stack, _: Settings) -> Iterator[Finding]:
    active = {str(t.props.get("tagKey")) for t in stack.of_type(COST_ALLOCATION_TAG) if t.props.get("status") == "Active"}
    for budget in stack.of_type(BUDGET):
        key, value = ACTIVATED_BY_PAYER_TAG
        if mapping(budget.props.get("tags")).get(key) == value:
            continue
        for cost_filter in map(mapping, as_list(budget.props.get("costFilters"))):
            if cost_filter.get("name") != "TagKeyValue":
                continue
            for value in as_list(cost_filter.get("values")):
                key = str(value).removeprefix("user:").split("$", 1)[0]
                if key not in active:
                    yield Finding(budget, f"budget counts spend tagged {key!r}, but that cost-allocation tag is not activated: it sees $0 and never acts")


POLICIES = [
    Policy(
        "P28",
        "p28-log-retention-encryption",
        "Log groups have a retention (>= 365 days in production) and are KMS-encrypted.",
        Severity.MEDIUM,
        "Set retentionInDays (cluster.logRetentionDays, network.flowLogRetentionDays) and kmsKeyId.",
        "CKV_AWS_66, CKV_AWS_158, CKV_AWS_338",
        (LOG_GROUP,),
        check_resource=_log_groups,
        settings={"production": False, "productionRetentionDays": 365},
    ),
    Policy(
        "P29",
        "p29-budget-alerts-delivered",
        "The stack has a budget with ACTUAL and FORECASTED alerts to an SNS topic that Budgets may publish to "
        "(aws:SourceAccount condition) and that has a subscriber.",
        Severity.HIGH,
        "Use BudgetAlarms (it creates the budget, the topic policy and e-mail subscriptions); confirm the e-mails.",
        "AWS Budgets SNS topic policy documentation",
        check_stack=_budget_alerts,
    ),
    Policy(
        "P31",
        "p31-budget-tag-activated",
        "A budget that filters on a cost-allocation tag has that tag activated in the account.",
        Severity.HIGH,
        "Activate the tag key (BudgetAlarms does: aws.costexplorer.CostAllocationTag, status Active); in an Organizations member "
        "account set budget.tagActivatedByPayer and have the payer activate it.",
        "AWS Billing user guide: activating user-defined cost allocation tags",
        check_stack=_tag_activated,
    ),
]
