"""The library's contract: every Args field documented, the public API importable, the preview's wire facts pinned to the SDK."""

from __future__ import annotations

import ast
import dataclasses

import pytest
from pulumi.runtime import rpc

import gpu_inference_platform
from gpu_inference_platform.preview.harness import SECRET_SIGNATURE
from tests.conftest import ROOT

COMPONENTS = ROOT / "src" / "gpu_inference_platform" / "components"


def _undocumented_fields(source: str) -> list[str]:
    """`Class.field` for every annotated field of a dataclass not followed by a docstring."""
    missing = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef) or not any("dataclass" in ast.unparse(d) for d in node.decorator_list):
            continue
        body = node.body
        for index, statement in enumerate(body):
            if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name):
                following = body[index + 1] if index + 1 < len(body) else None
                documented = isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant) and isinstance(following.value.value, str)
                if not documented:
                    missing.append(f"{node.name}.{statement.target.id}")
    return missing


@pytest.mark.parametrize("name", [n for n in gpu_inference_platform.__all__ if n.endswith("Args") or n in ("ClusterRef", "AlertThresholds")])
def test_every_field_of_the_public_args_is_documented(name: str) -> None:
    cls = getattr(gpu_inference_platform, name)
    module_source = (COMPONENTS / f"{cls.__module__.rsplit('.', 1)[-1]}.py").read_text()
    fields = {f"{name}.{f.name}" for f in dataclasses.fields(cls)}
    assert fields and fields.isdisjoint(_undocumented_fields(module_source))


def test_the_public_api_is_the_components_and_their_handles() -> None:
    components = [n for n in gpu_inference_platform.__all__ if n + "Args" in gpu_inference_platform.__all__]
    assert components == ["BudgetAlarms", "CiRunner", "GpuCluster", "LoadBalancer", "ModelRepository", "Monitoring", "Network", "SpotFleet", "TritonServer"]
    for name in components:
        assert getattr(gpu_inference_platform, name).__init__.__code__.co_varnames[1:4] == ("name", "args", "opts")


def test_the_wire_facts_the_preview_states_match_the_pinned_sdk() -> None:
    """The preview harness states Pulumi's secret encoding itself; this pins it to the SDK it runs on (pulumi==3.272.0)."""
    assert (rpc._special_sig_key, rpc._special_secret_sig) == SECRET_SIGNATURE


def test_the_documentation_check_finds_an_undocumented_field() -> None:
    source = '@dataclass(frozen=True)\nclass A:\n    documented: int\n    """Says what it does."""\n    bare: int = 1\n'
    assert _undocumented_fields(source) == ["A.bare"]


@pytest.mark.parametrize(
    "name", ["BudgetAlarms", "CiRunner", "GpuCluster", "LoadBalancer", "ModelRepository", "Monitoring", "Network", "SpotFleet", "TritonServer"]
)
def test_every_component_exposes_its_key_child_resources(name: str) -> None:
    annotations = vars(getattr(gpu_inference_platform, name))["__annotations__"]
    children = sorted(attribute for attribute, hint in annotations.items() if str(hint).startswith(("aws.", "k8s.")))
    assert children, f"{name} exposes no child resource"
