"""Post-deploy checks of a live stack with boto3: budget, alert topic, alarms, model objects.

Resources are found the way an operator would find them: by the cost-allocation tags
every resource of the stack carries (`stack`, `component`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gpu_inference_platform.components.model_manifest import MANIFEST_NAME, Manifest

ALARM_PREFIX = "monitoring-alb-"
_UNCONFIRMED = ("PendingConfirmation", "Deleted")


@dataclass(frozen=True)
class Check:
    """One verified property of the deployed stack."""

    name: str
    ok: bool
    detail: str

    def __str__(self) -> str:
        return f"{'PASS' if self.ok else 'FAIL'} {self.name}: {self.detail}"


def _tags(pairs: list[dict[str, str]]) -> dict[str, str]:
    return {pair["Key"]: pair["Value"] for pair in pairs}


def _budget_checks(session: Any, account_id: str, stack: str, endpoint_url: str | None) -> Iterator[Check]:
    budgets = session.client("budgets", endpoint_url=endpoint_url)
    scope = f"user:stack${stack}"
    found = [b for b in budgets.describe_budgets(AccountId=account_id).get("Budgets", []) if scope in b.get("CostFilters", {}).get("TagKeyValue", [])]
    if not found:
        yield Check("budget", False, f"no budget filtered to {scope}")
        return
    name = found[0]["BudgetName"]
    yield Check("budget", True, f"{name}: {found[0]['BudgetLimit']['Amount']} {found[0]['BudgetLimit']['Unit']} per {found[0]['TimeUnit'].lower()}")
    kinds = {n["NotificationType"] for n in budgets.describe_notifications_for_budget(AccountId=account_id, BudgetName=name).get("Notifications", [])}
    missing = {"ACTUAL", "FORECASTED"} - kinds
    yield Check("budget notifications", not missing, f"types {sorted(kinds)}" + (f"; missing {sorted(missing)}" if missing else ""))


def _topic_checks(session: Any, account_id: str, stack: str, endpoint_url: str | None) -> Iterator[Check]:
    sns = session.client("sns", endpoint_url=endpoint_url)
    topics = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]
    wanted = {"stack": stack, "component": "budgetalarms"}
    arn = next((t for t in topics if wanted.items() <= _tags(sns.list_tags_for_resource(ResourceArn=t)["Tags"]).items()), None)
    if arn is None:
        yield Check("alert topic", False, f"no SNS topic tagged {wanted}")
        return
    subscriptions = sns.list_subscriptions_by_topic(TopicArn=arn)["Subscriptions"]
    confirmed = [s for s in subscriptions if s["SubscriptionArn"] not in _UNCONFIRMED]
    yield Check("confirmed subscriber", bool(confirmed), f"{len(confirmed)} of {len(subscriptions)} subscriptions of {arn} confirmed")
    policy = json.loads(sns.get_topic_attributes(TopicArn=arn)["Attributes"].get("Policy", "{}"))
    budgets_may_publish = any(
        s.get("Effect") == "Allow"
        and s.get("Principal", {}).get("Service") == "budgets.amazonaws.com"
        and str(s.get("Action", "")).lower() == "sns:publish"
        and s.get("Condition", {}).get("StringEquals", {}).get("aws:SourceAccount") == account_id
        for s in policy.get("Statement", [])
    )
    yield Check(
        "topic policy",
        budgets_may_publish,
        "budgets.amazonaws.com may publish for this account" if budgets_may_publish else "Budgets cannot publish to the topic",
    )


def _alarm_checks(session: Any, endpoint_url: str | None) -> Iterator[Check]:
    alarms = session.client("cloudwatch", endpoint_url=endpoint_url).describe_alarms(AlarmNamePrefix=ALARM_PREFIX)["MetricAlarms"]
    silent = [a["AlarmName"] for a in alarms if not (a["ActionsEnabled"] and a["AlarmActions"])]
    yield Check("alarms", bool(alarms) and not silent, f"{len(alarms)} load-balancer alarms" + (f"; without actions: {silent}" if silent else ""))


def _model_checks(session: Any, stack: str, manifest: Manifest, endpoint_url: str | None) -> Iterator[Check]:
    s3 = session.client("s3", endpoint_url=endpoint_url)
    wanted = {"stack": stack, "component": "modelrepository"}
    bucket = None
    for candidate in s3.list_buckets()["Buckets"]:
        try:
            tags = _tags(s3.get_bucket_tagging(Bucket=candidate["Name"])["TagSet"])
        except s3.exceptions.ClientError:
            continue
        if wanted.items() <= tags.items():
            bucket = candidate["Name"]
            break
    if bucket is None:
        yield Check("model objects", False, f"no bucket tagged {wanted}")
        return
    prefix = f"models/{manifest.tree_hash}/"
    problems = []
    for path, expected in sorted(manifest.files.items()):
        try:
            body = s3.get_object(Bucket=bucket, Key=prefix + path)["Body"].read()
        except s3.exceptions.NoSuchKey:
            problems.append(f"missing {path}")
            continue
        if hashlib.sha256(body).hexdigest() != expected:
            problems.append(f"checksum mismatch {path}")
    manifest_ok = _object_exists(s3, bucket, prefix + MANIFEST_NAME)
    if not manifest_ok:
        problems.append(f"missing {MANIFEST_NAME}")
    yield Check(
        "model objects",
        not problems,
        f"{len(manifest.files)} files under s3://{bucket}/{prefix}" + (f": {'; '.join(problems)}" if problems else " match the manifest"),
    )


def _object_exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except s3.exceptions.ClientError:
        return False
    return True


def verify_deployed_stack(session: Any, *, stack: str, manifest: Manifest, endpoint_url: str | None = None) -> list[Check]:
    """Every check, in order; a stack is healthy when all pass."""
    account_id = session.client("sts", endpoint_url=endpoint_url).get_caller_identity()["Account"]
    return [
        *_budget_checks(session, account_id, stack, endpoint_url),
        *_topic_checks(session, account_id, stack, endpoint_url),
        *_alarm_checks(session, endpoint_url),
        *_model_checks(session, stack, manifest, endpoint_url),
    ]
