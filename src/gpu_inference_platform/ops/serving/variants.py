"""Variants of a built repository for side-by-side measurements: a copy with edited configs and its own manifest."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

from gpu_inference_platform.components.model_manifest import load_manifest, write_manifest
from gpu_inference_platform.ops.model_config import PARAMETER, model_parameters

_DYNAMIC_BATCHING = re.compile(r"^dynamic_batching\s*\{[^}]*\}\s*$", re.MULTILINE)


def repository_variant(repository: Path, out: Path, label: str, edit: Callable[[Path, str], str]) -> Path:
    """A copy of `repository` at `out` whose every config.pbtxt is `edit(path, text)`, with a manifest naming `label`."""
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(repository, out)
    for config in out.rglob("config.pbtxt"):
        config.write_text(edit(config, config.read_text()))
    base = load_manifest(repository)
    write_manifest(out, target=base.target, tools=base.tools, source={**base.source, "variant": label}, onnx_opset=base.onnx_opset, engines=base.engines)
    return out


def no_batching_variant(repository: Path, out: Path) -> Path:
    """A copy of `repository` with dynamic batching removed from every model."""
    return repository_variant(repository, out, "no-dynamic-batching", lambda _, text: _DYNAMIC_BATCHING.sub("", text))


def with_parameters(repository: Path, out: Path, model: str, parameters: Mapping[str, str], label: str) -> Path:
    """A copy of `repository` where `model`'s config has these parameter values (each must exist already)."""

    def edit(config: Path, text: str) -> str:
        if config.parent.name != model:
            return text
        missing = parameters.keys() - model_parameters(text).keys()
        if missing:
            raise KeyError(f"{model} has no parameters {sorted(missing)}")
        return PARAMETER.sub(lambda m: f'key: "{m["key"]}", value: {{ string_value: "{parameters.get(m["key"], m["value"])}" }}', text)

    return repository_variant(repository, out, label, edit)
