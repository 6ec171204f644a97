"""Validation shared by component Args and the stack config: every problem names its key.

A component's checks are plain functions that yield `ConfigIssue`s for a field path
renderer (`KeyPath`): its own `*Args` render Python field names
(`SpotFleetArgs.pools[0].instance_types[1]`), the stack config renders config keys
(`gpu-inference-platform:fleet.spot.instanceTypes[1]`). Same rule, same message.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pulumi

Severity = Literal["error", "warning"]
KeyPath = Callable[[str], str]
"""Renders a snake_case field path (`system_nodes.min_size`) as the key a user wrote."""


@dataclass(frozen=True)
class ConfigIssue:
    """One problem: where, what was given, and what is allowed."""

    path: str
    value: Any
    problem: str
    severity: Severity = "error"

    def __str__(self) -> str:
        return f"{self.path} = {self.value!r}: {self.problem}"


class ConfigError(pulumi.RunError):
    """Every problem of a configuration (stack config or component Args), reported together without a traceback."""

    def __init__(self, issues: list[ConfigIssue], subject: str = "stack configuration") -> None:
        self.issues = issues
        lines = "\n".join(f"  - {issue}" for issue in issues)
        super().__init__(f"invalid {subject} ({len(issues)} problem(s)):\n{lines}")


def camel_case(path: str) -> str:
    """`system_nodes.min_size` -> `systemNodes.minSize` (config keys are camelCase)."""
    return re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), path)


def args_key(owner: str) -> KeyPath:
    """Key paths of a component's Args: `<Owner>.<field>`."""
    return lambda field: f"{owner}.{field}"


def config_key(prefix: str) -> KeyPath:
    """Key paths of a stack config section: `<prefix>.<camelCaseField>`."""
    return lambda field: f"{prefix}.{camel_case(field)}"


def raise_on_errors(issues: Iterable[ConfigIssue], subject: str) -> None:
    """Raise `ConfigError` naming every error among `issues` (warnings are the stack config's to report)."""
    errors = [issue for issue in issues if issue.severity == "error"]
    if errors:
        raise ConfigError(errors, subject)


def check_args(args: object, issues: Iterable[ConfigIssue]) -> None:
    """Validate a component's Args: raise with the class name as the subject."""
    raise_on_errors(issues, type(args).__name__)


def default_of(args_type: type, field: str) -> Any:
    """The documented default of an Args field (the stack config reuses it instead of restating it)."""
    spec = next(f for f in dataclasses.fields(args_type) if f.name == field)
    if spec.default is dataclasses.MISSING:
        raise TypeError(f"{args_type.__name__}.{field} has no default")
    return spec.default


def leaf(key: KeyPath, field: str) -> str:
    """The last segment of `field` as `key` renders it (`maxSize` for config keys, `max_size` for Args)."""
    return key(field).rsplit(".", 1)[-1]


def check_scaling_bounds(key: KeyPath, minimum: int, desired: int, maximum: int, fields: tuple[str, str, str]) -> Iterator[ConfigIssue]:
    """min <= desired <= max, reported against the field that breaks it."""
    min_name, max_name = leaf(key, fields[0]), leaf(key, fields[2])
    if minimum > maximum:
        yield ConfigIssue(key(fields[0]), minimum, f"greater than {max_name} ({maximum})")
    elif not minimum <= desired <= maximum:
        yield ConfigIssue(key(fields[1]), desired, f"outside [{min_name}, {max_name}] = [{minimum}, {maximum}]")


def check_positive_finite(key: KeyPath, field: str, value: float) -> Iterator[ConfigIssue]:
    """A finite number above zero."""
    if not math.isfinite(value) or value <= 0:
        yield ConfigIssue(key(field), value, "must be a finite number greater than 0")


def parse_cidr(value: str) -> str:
    """The canonical form of a CIDR block; ValueError (with the fix) when it is not one or has host bits set."""
    try:
        return str(ipaddress.ip_network(value, strict=True))
    except ValueError:
        pass
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError("not a CIDR block; expected the form 10.0.0.0/16") from None
    raise ValueError(f"host bits are set; did you mean {network}?")


def check_cidr(key: KeyPath, field: str, value: str) -> Iterator[ConfigIssue]:
    """A CIDR block without host bits."""
    try:
        parse_cidr(value)
    except ValueError as error:
        yield ConfigIssue(key(field), value, str(error))


OPEN_CIDRS = ("0.0.0.0/0", "::/0")
"""The canonical ranges that mean "the whole internet" (suggested in messages; `internet_wide` decides)."""
INTERNET_WIDE_PREFIX = {4: 8, 6: 16}
"""A non-private block this wide or wider (a /8 of IPv4, a /16 of IPv6) is the internet, not a client range."""


def internet_wide(cidrs: Sequence[str]) -> list[str]:
    """The ranges among `cidrs` that open a listener to the internet, decided by address coverage, not by spelling.

    A range counts when it is not private and at least a /8 (IPv4) or /16 (IPv6); so does a set
    of ranges whose union is (0.0.0.0/1 with 128.0.0.0/1 is 0.0.0.0/0). Unparseable entries are
    left to `check_cidr`.
    """
    networks = []
    for cidr in cidrs:
        try:
            networks.append((cidr, ipaddress.ip_network(cidr, strict=False)))
        except ValueError:
            continue

    def wide(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
        return not network.is_private and network.prefixlen <= INTERNET_WIDE_PREFIX[network.version]

    found = [cidr for cidr, network in networks if wide(network)]
    for version in (4, 6):
        family = [n for _, n in networks if n.version == version]
        if not found and any(wide(n) for n in ipaddress.collapse_addresses(family)):  # type: ignore[type-var]  # one family per call
            found = [cidr for cidr, n in networks if n.version == version]
    return found


def check_ip_family(key: KeyPath, field: str, cidrs: Sequence[str], version: int, why: str) -> Iterator[ConfigIssue]:
    """Every parseable entry of `cidrs` is of IP `version`."""
    for i, cidr in enumerate(cidrs):
        try:
            network = ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            continue
        if network.version != version:
            yield ConfigIssue(key(f"{field}[{i}]"), cidr, f"IPv{version} only: {why}")
