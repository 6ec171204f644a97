"""Rendered Kubernetes objects validate against the schema of each stack's cluster version."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from stacks.preview import Plan, render_kubernetes
from tests.conftest import STACKS, valid_config


@pytest.mark.parametrize("stack", STACKS)
def test_rendered_objects_match_the_cluster_schema(plans: dict[str, Plan], stack: str, tmp_path: Path) -> None:
    version = valid_config(stack).cluster.kubernetes_version + ".0"
    written = render_kubernetes(plans[stack], tmp_path)
    assert len(written) == len(plans[stack].kubernetes_objects()) >= 1
    for path in written:
        kubernetes_validate.validate(yaml.safe_load(path.read_text()), version, strict=True)


def test_validation_rejects_a_broken_object(plans: dict[str, Plan], tmp_path: Path) -> None:
    path = render_kubernetes(plans["dev"], tmp_path)[0]
    broken = yaml.safe_load(path.read_text())
    broken["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = 7
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.34.0", strict=True)
