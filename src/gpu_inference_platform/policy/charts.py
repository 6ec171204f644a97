"""What the pinned Helm charts render, as far as the wiring checks need it: Service names.

Each rule restates the chart's own naming template at the pinned version (read from the
chart source; the paths are named beside each rule). A chart not listed here renders no
Service the checks can rely on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gpu_inference_platform.policy.values import mapping


@dataclass(frozen=True)
class Release:
    """A Helm release as planned: its name, namespace, chart, version and values."""

    name: str
    namespace: str
    chart: str
    version: str
    values: Mapping[str, Any]

    @property
    def chart_name(self) -> str:
        """The chart's name (the last path segment of an OCI reference)."""
        return self.chart.rsplit("/", 1)[-1]


def release_of(props: Mapping[str, Any]) -> Release:
    """A `kubernetes:helm.sh/v3:Release` resource's inputs as a Release."""
    return Release(
        name=str(props.get("name", "")),
        namespace=str(props.get("namespace", "default")),
        chart=str(props.get("chart", "")),
        version=str(props.get("version", "")),
        values=mapping(props.get("values")),
    )


def fullname(release: Release, limit: int) -> str:
    """The `<chart>.fullname` helper most charts share: fullnameOverride, else release (if it contains the chart name), else release-chart."""
    override = release.values.get("fullnameOverride")
    chart = str(release.values.get("nameOverride") or release.chart_name)
    name = str(override) if override else (release.name if chart in release.name else f"{release.name}-{chart}")
    return name[:limit].rstrip("-")


def _kube_prometheus_stack(release: Release) -> set[str]:
    # templates/_helpers.tpl "kube-prometheus-stack.fullname" truncates to 26; templates/prometheus/service.yaml,
    # alertmanager/service.yaml and prometheus-operator/service.yaml append -prometheus, -alertmanager, -operator (65.1.1).
    base = fullname(release, 26)
    services = {f"{base}-prometheus", f"{base}-operator"}
    if mapping(release.values.get("alertmanager")).get("enabled", True):
        services.add(f"{base}-alertmanager")
    return services


def _own_fullname(release: Release) -> set[str]:
    # prometheus-adapter 4.11.0 templates/service.yaml and karpenter 1.11.1 templates/service.yaml: the fullname (limit 63).
    return {fullname(release, 63)}


CHART_SERVICES: dict[str, Callable[[Release], set[str]]] = {
    "kube-prometheus-stack": _kube_prometheus_stack,
    "prometheus-adapter": _own_fullname,
    "karpenter": _own_fullname,
}
"""Chart name -> the Services a release of it renders (in the release's namespace)."""


def rendered_services(release: Release) -> set[tuple[str, str]]:
    """(namespace, name) of every Service the release renders, per its chart's naming rule."""
    rule = CHART_SERVICES.get(release.chart_name)
    return {(release.namespace, service) for service in rule(release)} if rule else set()
