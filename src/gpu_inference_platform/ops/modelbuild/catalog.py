"""The public models of `model_repo/` by kind, and the Triton model folders each one needs."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from gpu_inference_platform.ops.modelbuild.generation import load_generation_specs
from gpu_inference_platform.ops.modelbuild.spec import MODEL_REPO, load_specs

ModelKind = Literal["embedding", "generation"]


@dataclass(frozen=True)
class PublicModel:
    """A model clients call: an embedding ensemble or a generation model, with the folders it is made of."""

    name: str
    kind: ModelKind
    folders: tuple[str, ...]
    """Triton model folders it is made of (an ensemble's steps, or the model itself)."""
    max_request_bytes: int
    """Largest request body it accepts."""


STACK_TARGET = "gpu"
"""The build target every stack deploys."""


@cache
def public_models(target: str = STACK_TARGET, model_repo: Path = MODEL_REPO) -> dict[str, PublicModel]:
    """`read_public_models`, read once per process (the project's own declarations do not change while it runs)."""
    return read_public_models(target, model_repo)


def read_public_models(target: str = STACK_TARGET, model_repo: Path = MODEL_REPO) -> dict[str, PublicModel]:
    """Every public model declared in `models.yaml` and `generators.yaml` that `target` builds, by name."""
    found = [PublicModel(s.ensemble, "embedding", s.model_folders, s.max_request_bytes) for s in load_specs(model_repo) if s.public]
    found += [
        PublicModel(s.name, "generation", s.model_folders(target), s.max_request_bytes)
        for s in load_generation_specs(model_repo)
        if s.public and target in s.targets
    ]
    return {model.name: model for model in found}
