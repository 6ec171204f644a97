"""Stack files (`Pulumi.<stack>.yaml`) read the way the Pulumi CLI hands them to the program.

Used where no Pulumi engine runs: the offline preview, the model build (`--stack`) and the
live-stack verifier. It imports no Pulumi runtime, so those tools stay light.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from gpu_inference_platform.program.config import StackConfig, parse_stack_config, raw_config

SECRET_PLACEHOLDER = "[secret]"


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice (otherwise the last value silently wins)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}: a second value would silently win", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _as_pulumi_value(value: Any) -> str:
    """How the Pulumi CLI hands a config value to a program: objects as JSON, scalars as text."""
    if isinstance(value, Mapping) and set(value) == {"secure"}:
        return SECRET_PLACEHOLDER
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def stack_file(stack: str) -> Path:
    """The committed stack file of `stack`, relative to the project root."""
    return Path(f"Pulumi.{stack}.yaml")


def read_stack_file(path: Path) -> dict[str, str]:
    """Flat Pulumi config (`{"aws:region": ..., "<project>:<key>": ...}`) from a file shaped like `Pulumi.<stack>.yaml`."""
    try:
        document = yaml.load(path.read_text(), Loader=_UniqueKeyLoader) or {}
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to be a stack file") from None
    config = document.get("config", {}) if isinstance(document, Mapping) else None
    if not isinstance(config, Mapping):
        raise ValueError(f"{path}: expected a top-level 'config:' mapping")
    return {str(key): _as_pulumi_value(value) for key, value in config.items()}


def load_stack_file(path: Path, stack: str) -> StackConfig:
    """The validated config of the stack file of `stack` (raises `ConfigError` naming every problem)."""
    config, _ = parse_stack_config(raw_config(read_stack_file(path)), stack)
    return config
