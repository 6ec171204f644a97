"""Support windows of the versions a stack pins, checked against today's date. One dated table, one place.

A version past its end of standard support is not a choice any more: EKS upgrades a cluster with
`upgradePolicy: STANDARD` at that date ("If the cluster is set to STANDARD, it will be automatically
upgraded at the end of standard support", EKS API reference, UpgradePolicyRequest), and the next
`pulumi up` would then ask for a downgrade.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import dataclass

from gpu_inference_platform.components.validation import ConfigIssue

EKS_CALENDAR_SOURCE = "Amazon EKS user guide, 'Amazon EKS Kubernetes release calendar' (kubernetes-versions), read 2026-12-07"
WARN_BEFORE_END_DAYS = 60
"""A version that leaves support within this many days is still allowed, with a warning to plan the upgrade."""


@dataclass(frozen=True)
class SupportWindow:
    """One version's standard support: from its release to its end, with the source of both dates."""

    version: str
    released: datetime.date
    end_of_standard_support: datetime.date
    source: str


EKS_KUBERNETES: tuple[SupportWindow, ...] = (
    SupportWindow("1.32", datetime.date(2025, 1, 23), datetime.date(2026, 3, 23), EKS_CALENDAR_SOURCE),
    SupportWindow("1.33", datetime.date(2025, 5, 29), datetime.date(2026, 7, 29), EKS_CALENDAR_SOURCE),
    SupportWindow("1.34", datetime.date(2025, 10, 2), datetime.date(2026, 12, 2), EKS_CALENDAR_SOURCE),
    SupportWindow("1.35", datetime.date(2026, 1, 27), datetime.date(2027, 3, 27), EKS_CALENDAR_SOURCE),
)
"""EKS Kubernetes versions this toolkit knows (release on EKS, end of standard support). 1.36 is left out until its EKS
dates are confirmed from the calendar."""


def in_standard_support(today: datetime.date) -> list[str]:
    """The versions in standard support on `today`."""
    return [w.version for w in EKS_KUBERNETES if w.released <= today < w.end_of_standard_support]


def kubernetes_version_issues(path: str, version: str, today: datetime.date) -> Iterator[ConfigIssue]:
    """An error for a version EKS does not support on `today`, a warning when its support ends within `WARN_BEFORE_END_DAYS`."""
    window = next((w for w in EKS_KUBERNETES if w.version == version), None)
    allowed = ", ".join(in_standard_support(today)) or "none known: update components/support_windows.py"
    if window is None:
        yield ConfigIssue(path, version, f"not a Kubernetes version of the support table; allowed on {today}: {allowed}")
    elif not window.released <= today < window.end_of_standard_support:
        yield ConfigIssue(
            path,
            version,
            f"outside EKS standard support on {today} (it ended {window.end_of_standard_support}; EKS auto-upgrades such clusters); allowed: {allowed}",
        )
    elif (window.end_of_standard_support - today).days <= WARN_BEFORE_END_DAYS:
        yield ConfigIssue(path, version, f"EKS standard support ends {window.end_of_standard_support} ({window.source}); plan the upgrade", "warning")
