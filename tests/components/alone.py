"""Build one component alone, as a library user would: no stack config, no other components."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from gpu_inference_platform import AccountContext, ClusterRef, ConfigError
from gpu_inference_platform.preview.harness import Plan, run_program

ACCOUNT = AccountContext(account_id="123456789012", partition="aws", region="us-east-1")
CLUSTER = ClusterRef(
    name="unit",
    arn="arn:aws:eks:us-east-1:123456789012:cluster/unit",
    endpoint="https://UNIT.gr7.us-east-1.eks.amazonaws.com",
    oidc_provider_arn="arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/UNIT",
    oidc_issuer_url="https://oidc.eks.us-east-1.amazonaws.com/id/UNIT",
    security_group_id="sg-0unit",
)


def build_alone(build: Callable[[], object]) -> Plan:
    """The plan of a program that only builds what `build` builds."""

    def program() -> None:
        build()

    return run_program(program, stack="unit", pulumi_config={"aws:region": "us-east-1"})


def children(plan: Plan, name: str) -> Counter[tuple[str, str]]:
    """(type, logical name) of every direct child of the component `name`."""
    return Counter((r.type, r.name) for r in plan.children(name))


def errors(make_args: Callable[[], object]) -> list[str]:
    """The lines of the ConfigError that building these Args raises."""
    with pytest.raises(ConfigError) as raised:
        make_args()
    return [str(issue) for issue in raised.value.issues]
