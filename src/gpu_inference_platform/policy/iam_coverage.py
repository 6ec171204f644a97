"""Does a controller's IAM policy grant what its upstream reference policy grants?

A reference statement is covered when one Allow statement of ours matches every one of
its actions on every one of its resources, and every condition key ours imposes is also
constrained by the reference statement (a condition the reference lacks would deny calls
the controller makes: the AccessDenied-forever class of defect). Where both use
`StringEquals` on a key, ours must allow at least one of the reference's values (a list
there is alternatives, such as the service principal of each partition).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from typing import Any

from gpu_inference_platform.policy.values import allows, as_list, mapping

Statement = Mapping[str, Any]
NARROWED = "_narrowed"
"""Marks a reference statement whose resources ours may scope tighter (only its actions must be granted)."""


def load_reference(controller: str, version: str) -> dict[str, Any] | None:
    """The vendored reference policy (`policy/references/<controller>-<version>.json`), or None when none is vendored."""
    path = resources.files("gpu_inference_platform.policy") / "references" / f"{controller}-{version}.json"
    if not path.is_file():
        return None
    reference: dict[str, Any] = json.loads(path.read_text())
    return reference


def applicable(reference: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The reference's statements a deployment uses: `notUsed` statements and `actionsNotUsed` actions left out (each with a
    reason in the file), `narrowed` statements marked so that ours may scope their resources tighter."""
    not_used, actions_not_used = mapping(reference.get("notUsed")), mapping(reference.get("actionsNotUsed"))
    narrowed = mapping(reference.get("narrowed"))
    used = []
    for index, statement in enumerate(reference["Statement"], start=1):
        if str(index) in not_used:
            continue
        actions = [a for a in as_list(statement.get("Action")) if a not in actions_not_used]
        marks = {"Sid": statement.get("Sid") or f"#{index}", **({NARROWED: True} if str(index) in narrowed else {})}
        used.append({**statement, "Action": actions, **marks})
    return used


def substitute(statement: Statement, values: Mapping[str, str]) -> Statement:
    """The statement with `${Name}` placeholders replaced."""
    text = json.dumps(statement)
    for key, value in values.items():
        text = text.replace("${" + key + "}", value)
    resolved: Statement = json.loads(text)
    return resolved


def _conditions(statement: Statement) -> dict[str, dict[str, list[str]]]:
    """Condition key (lower case) -> operator -> values."""
    found: dict[str, dict[str, list[str]]] = {}
    for operator, block in mapping(statement.get("Condition")).items():
        for key, values in mapping(block).items():
            found.setdefault(key.lower(), {})[operator] = [str(v) for v in as_list(values)]
    return found


def _covers(ours: Statement, action: str, resource: str | None, reference_conditions: dict[str, dict[str, list[str]]]) -> bool:
    if not allows(ours) or "NotAction" in ours or "NotResource" in ours:
        return False
    if not any(fnmatch.fnmatchcase(action.lower(), str(pattern).lower()) for pattern in as_list(ours.get("Action"))):
        return False
    if resource is not None and not any(fnmatch.fnmatchcase(resource, str(pattern)) for pattern in as_list(ours.get("Resource"))):
        return False
    for key, operators in _conditions(ours).items():
        theirs = reference_conditions.get(key)
        if theirs is None:
            return False
        for operator, values in operators.items():
            if operator == "StringEquals" and operator in theirs and not set(theirs[operator]) & set(values):
                return False
    return True


def uncovered(reference: Iterable[Statement], ours: Iterable[Statement]) -> Iterator[str]:
    """`<Sid>: <action> on <resource>` for every grant of the reference that no statement of ours covers."""
    ours = list(ours)
    for statement in reference:
        if not allows(statement):
            continue
        conditions = _conditions(statement)
        label = statement.get("Sid", "?")
        for action in as_list(statement.get("Action")):
            for resource in as_list(statement.get("Resource")):
                if not any(_covers(mine, str(action), None if statement.get(NARROWED) else str(resource), conditions) for mine in ours):
                    yield f"{label}: {action} on {resource}"
