"""Reading engine property values: lists, booleans given as text, IAM documents, Kubernetes quantities."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gpu_inference_platform.components.validation import internet_wide

__all__ = ["AWS_ACCESS_KEY_ID", "internet_wide"]
AWS_ACCESS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")
"""A long-term (AKIA) or temporary (ASIA) AWS access key id."""

_BINARY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
_DECIMAL_UNITS = {"k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
_QUANTITY = re.compile(r"^([0-9.]+)([A-Za-z]*)$")


def as_list(value: Any) -> list[Any]:
    """A property that may be one value or a list of values, as a list (None is empty)."""
    if value is None:
        return []
    if isinstance(value, Sequence) and not isinstance(value, str):
        return list(value)
    return [value]


def is_true(value: Any) -> bool:
    """True for `True` and for the text "true" (some providers type booleans as strings)."""
    return value is True or (isinstance(value, str) and value.lower() == "true")


def mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a mapping, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def statements(document: Any) -> list[Mapping[str, Any]]:
    """The statements of an IAM policy document given as JSON text or as an object."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError:
            return []
    return [s for s in as_list(mapping(document).get("Statement")) if isinstance(s, Mapping)]


def statement_label(statement: Mapping[str, Any], index: int) -> str:
    """A statement's Sid, or its position."""
    return str(statement.get("Sid") or f"#{index + 1}")


def allows(statement: Mapping[str, Any]) -> bool:
    """Whether the statement grants (rather than denies)."""
    return statement.get("Effect") == "Allow"


def principals(statement: Mapping[str, Any], kind: str) -> list[str]:
    """The statement's principals of one kind (`AWS`, `Service`, `Federated`); `*` stands for everyone."""
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    return [str(p) for p in as_list(mapping(principal).get(kind))]


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity (`512Mi`, `1Gi`, `250m`, 3) as a number, or None if absent or unreadable."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    match = _QUANTITY.match(str(value)) if value is not None else None
    if not match:
        return None
    number, unit = float(match.group(1)), match.group(2)
    if unit == "m":
        return number / 1000
    factor = _BINARY_UNITS.get(unit) or _DECIMAL_UNITS.get(unit) or (1 if unit == "" else None)
    return None if factor is None else number * factor


def shown(value: Any) -> Any:
    """A property value for a message: integral numbers without the `.0` the engine's JSON numbers carry."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def gib(value: float) -> str:
    """Bytes as GiB text for messages."""
    return f"{value / 2**30:g}Gi"
