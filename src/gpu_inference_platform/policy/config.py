"""Per-stack policy configuration: enforcement levels, tunables and waivers, each with a reason.

The file is the one `pulumi preview --policy-pack policy --policy-pack-config policy/config/<stack>.json`
reads, so CrossGuard and the offline preview enforce the same thing:

    {"p21-s3-sse-kms": {"waivers": [{"resource": "alb-access-logs", "reason": "ALB logs support only SSE-S3"}]},
     "p18-internet-alb-waf": {"enforcementLevel": "disabled", "reason": "Shield Advanced fronts this ALB"},
     "k06-production-availability": {"production": true}}

Lowering a policy below its default enforcement, and waiving a resource, both need a reason.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpu_inference_platform.policy.model import ENFORCEMENT_RANK, Enforcement, Policy
from gpu_inference_platform.policy.registry import POLICIES, POLICIES_BY_NAME

ENFORCEMENT_KEY = "enforcementLevel"
COMMON_KEYS = ("reason", "waivers")
WAIVER_KEYS = ("resource", "reason")


class PolicyConfigError(ValueError):
    """A policy config file with problems; every problem is listed, one per line."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: invalid policy config:\n" + "\n".join(f"  - {p}" for p in problems))
        self.problems = problems


@dataclass(frozen=True)
class PolicySettings:
    """How one policy runs for one stack."""

    enforcement: Enforcement
    settings: Mapping[str, Any]
    waivers: Mapping[str, str] = field(default_factory=dict)
    """Waived resource logical name -> reason."""
    reason: str | None = None


def _type_name(value: Any) -> str:
    return {bool: "true/false", int: "an integer", float: "a number", list: "a list", str: "text"}.get(type(value), type(value).__name__)


_INVALID = object()


def _coerced(value: Any, default: Any) -> Any:
    """`value` as the type of `default` (integral JSON numbers count as integers), or _INVALID."""
    if isinstance(default, bool) or isinstance(value, bool):
        return value if isinstance(value, bool) and isinstance(default, bool) else _INVALID
    if isinstance(default, list):
        if not isinstance(value, list):
            return _INVALID
        items = [_coerced(v, default[0]) for v in value] if default else list(value)
        return _INVALID if any(i is _INVALID for i in items) else items
    if isinstance(default, int) and isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(default, float) and isinstance(value, int):
        return float(value)
    return value if isinstance(value, type(default)) else _INVALID


def _waivers(name: str, raw: Any, problems: list[str]) -> dict[str, str]:
    if not isinstance(raw, list):
        problems.append(f"{name}.waivers = {raw!r}: expected a list of {{resource, reason}}")
        return {}
    waivers: dict[str, str] = {}
    for index, waiver in enumerate(raw):
        where = f"{name}.waivers[{index}]"
        if not isinstance(waiver, Mapping):
            problems.append(f"{where} = {waiver!r}: expected {{resource, reason}}")
            continue
        problems.extend(f"{where}.{key}: unknown key; allowed: {', '.join(WAIVER_KEYS)}" for key in waiver if key not in WAIVER_KEYS)
        resource, reason = waiver.get("resource"), waiver.get("reason")
        if not isinstance(resource, str) or not resource:
            problems.append(f"{where}.resource = {resource!r}: expected the logical name of the waived resource")
        if not isinstance(reason, str) or not reason.strip():
            problems.append(f"{where}.reason: a waiver needs a reason")
        if isinstance(resource, str) and isinstance(reason, str):
            waivers[resource] = reason
    return waivers


def settings_for(policy: Policy, raw: Mapping[str, Any], problems: list[str]) -> PolicySettings:
    """One policy's settings from its config object (defaults where unset); problems are appended to `problems`."""
    allowed = (ENFORCEMENT_KEY, *COMMON_KEYS, *policy.settings)
    for key in raw:
        if key not in allowed:
            problems.append(f"{policy.name}.{key}: unknown key; allowed: {', '.join(allowed)}")
    settings = dict(policy.settings)
    for key, default in policy.settings.items():
        if key in raw:
            value = _coerced(raw[key], default)
            if value is not _INVALID:
                settings[key] = value
            else:
                problems.append(f"{policy.name}.{key} = {raw[key]!r}: expected {_type_name(default)}")
    level = raw.get(ENFORCEMENT_KEY, policy.default_enforcement.value)
    allowed_levels = [e.value for e in Enforcement]
    enforcement = Enforcement(level) if level in allowed_levels else policy.default_enforcement
    if level not in allowed_levels:
        problems.append(f"{policy.name}.{ENFORCEMENT_KEY} = {level!r}; allowed: {', '.join(allowed_levels)}")
    reason = raw.get("reason")
    lowered = ENFORCEMENT_RANK[enforcement] < ENFORCEMENT_RANK[policy.default_enforcement]
    if lowered and not (isinstance(reason, str) and reason.strip()):
        problems.append(f"{policy.name}: lowering {ENFORCEMENT_KEY} from {policy.default_enforcement.value} to {enforcement.value} needs a reason")
    waivers = _waivers(policy.name, raw["waivers"], problems) if "waivers" in raw else {}
    return PolicySettings(enforcement, settings, waivers, reason if isinstance(reason, str) else None)


def parse_pack_config(document: Any, source: str) -> dict[str, PolicySettings]:
    """Settings of every policy from a parsed config document; raises PolicyConfigError listing every problem."""
    problems: list[str] = []
    if not isinstance(document, Mapping):
        raise PolicyConfigError(source, [f"expected an object keyed by policy name, got {type(document).__name__}"])
    for key in document:
        if key not in POLICIES_BY_NAME:
            close = difflib.get_close_matches(str(key), POLICIES_BY_NAME, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            problems.append(f"{key}: unknown policy{hint}; allowed: {', '.join(POLICIES_BY_NAME)}")
    resolved = {}
    for policy in POLICIES:
        raw = document.get(policy.name, {})
        if not isinstance(raw, Mapping):
            problems.append(f"{policy.name} = {raw!r}: expected an object ({{{ENFORCEMENT_KEY}, reason, waivers, settings}})")
            raw = {}
        resolved[policy.name] = settings_for(policy, raw, problems)
    if problems:
        raise PolicyConfigError(source, problems)
    return resolved


def load_pack_config(path: Path) -> dict[str, PolicySettings]:
    """Settings of every policy from a config file (defaults for a missing file would hide a typo, so it must exist)."""
    try:
        document = json.loads(path.read_text())
    except OSError as error:
        raise PolicyConfigError(str(path), [f"cannot read the policy config: {error.strerror}"]) from None
    except json.JSONDecodeError as error:
        raise PolicyConfigError(str(path), [f"not valid JSON: {error}"]) from None
    return parse_pack_config(document, str(path))
