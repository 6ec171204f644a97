"""The string `parameters` of a Triton model config (config.pbtxt), which both the build and the serving tools read."""

from __future__ import annotations

import re

PARAMETER = re.compile(r'key:\s*"(?P<key>[^"]+)",\s*value:\s*\{\s*string_value:\s*"(?P<value>[^"]*)"\s*\}')
"""One `{ key: "...", value: { string_value: "..." } }` entry."""


def model_parameters(config_text: str) -> dict[str, str]:
    """The `parameters` of a model config (string values)."""
    return {match["key"]: match["value"] for match in PARAMETER.finditer(config_text)}
