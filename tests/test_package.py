"""The library as a user installs it: a wheel with its data, installed into a fresh virtualenv, running the examples offline."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from gpu_inference_platform.preview.mocks import PlatformMocks
from gpu_inference_platform.preview.program import plan_program
from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = out.glob("gpu_inference_platform-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtualenv holding only the wheel; the pinned dependencies come from the project's venv through a .pth file."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)], check=True, timeout=300)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True)
    Path(purelib.stdout.strip(), "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return python


def test_the_wheel_carries_the_package_data(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for path in ("py.typed", "components/dashboards/triton-gpu.json", "components/model_manifest.py", "components/constants.py", "policy/checks/identity.py"):
        assert f"gpu_inference_platform/{path}" in names
    assert not any(name.startswith(("tests/", "scripts/", "examples/", "model_repo/")) for name in names)


def test_the_installed_package_is_the_wheel_not_the_checkout(fresh_python: Path, tmp_path: Path) -> None:
    where = subprocess.run(
        [str(fresh_python), "-c", "import gpu_inference_platform as g; print(g.__file__, g.__version__, len(g.__all__))"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    location, version, exported = where.stdout.split()
    assert Path(location).is_relative_to(fresh_python.parent.parent) and (version, exported) == ("0.2.0", "30")


@pytest.mark.parametrize(
    ("example", "components", "outputs"),
    [
        (
            "spot-fleet-on-existing-cluster",
            {"gpuinfra:spotfleet:SpotFleet": "gpu-fleet"},
            ["computeCapabilities", "controllerRoleName", "maxGpuHoursPerMonth", "nodePools"],
        ),
        (
            "triton-on-existing-cluster",
            {"gpuinfra:tritonserver:TritonServer": "embeddings", "gpuinfra:loadbalancer:LoadBalancer": "embeddings-alb"},
            ["deployments", "endpoint"],
        ),
    ],
)
def test_each_example_previews_offline_from_the_install(
    fresh_python: Path, tmp_path: Path, example: str, components: dict[str, str], outputs: list[str]
) -> None:
    json_path = tmp_path / "plan.json"
    run = subprocess.run(
        [str(fresh_python), "-m", "gpu_inference_platform.preview.program", str(EXAMPLES / example), "--stack", "example", "--json", str(json_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    for type_token, name in components.items():
        assert f"{type_token} {name} (" in run.stdout
    for key in outputs:
        assert f"      {key}: " in run.stdout
    assert json_path.is_file()


def test_spot_fleet_example_wires_the_existing_cluster() -> None:
    plan = plan_program(EXAMPLES / "spot-fleet-on-existing-cluster", "example")
    karpenter = plan.get("kubernetes:helm.sh/v3:Release", "gpu-fleet-karpenter").inputs["values"]["settings"]
    assert karpenter["clusterName"] == "platform-shared"
    assert karpenter["clusterEndpoint"].endswith(".gr7.us-west-2.eks.amazonaws.com")
    spot = plan.get("kubernetes:karpenter.sh/v1:NodePool", "gpu-fleet-spot").inputs["spec"]
    assert spot["limits"] == {"nvidia.com/gpu": "8"}
    zones = next(r["values"] for r in spot["template"]["spec"]["requirements"] if r["key"] == "topology.kubernetes.io/zone")
    assert zones == ["us-west-2a", "us-west-2b", "us-west-2c"]
    trust = plan.get("aws:iam/role:Role", "gpu-fleet-controller").inputs["assumeRolePolicy"]
    assert "oidc-provider/oidc.eks.us-west-2.amazonaws.com/id/" in trust and "system:serviceaccount:kube-system:karpenter" in trust


def test_triton_example_binds_the_alb_to_its_service() -> None:
    plan = plan_program(EXAMPLES / "triton-on-existing-cluster", "example")
    binding = plan.get("kubernetes:elbv2.k8s.aws/v1beta1:TargetGroupBinding", "embeddings-alb-triton").inputs
    assert (binding["metadata"]["namespace"], binding["spec"]["serviceRef"]) == ("embeddings", {"name": "embeddings", "port": 8000})
    alb = plan.get("aws:lb/loadBalancer:LoadBalancer", "embeddings-alb").inputs
    assert (alb["internal"], alb["enableDeletionProtection"]) == (True, True)
    assert alb["subnets"] == ["subnet-0a1b2c3d4e5f60001", "subnet-0a1b2c3d4e5f60002"]
    existing = PlatformMocks("us-west-2").existing_cluster("platform-shared")["vpcConfig"]
    pods_rule = plan.get("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule", "embeddings-alb-pods-from-alb").inputs
    assert pods_rule["securityGroupId"] == existing["clusterSecurityGroupId"]
    assert plan.get("aws:lb/targetGroup:TargetGroup", "embeddings-alb-triton").inputs["vpcId"] == existing["vpcId"]


def test_a_bad_example_config_is_a_named_error(tmp_path: Path) -> None:
    example = tmp_path / "bad"
    example.mkdir()
    source = EXAMPLES / "spot-fleet-on-existing-cluster"
    for name in ("Pulumi.yaml", "__main__.py"):
        (example / name).write_text((source / name).read_text())
    (example / "Pulumi.example.yaml").write_text((source / "Pulumi.example.yaml").read_text().replace("[us-west-2a, us-west-2b, us-west-2c]", "[us-west-2a]"))
    run = subprocess.run(
        [sys.executable, "-m", "gpu_inference_platform.preview.program", str(example), "--stack", "example"], capture_output=True, text=True, check=False
    )
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "GpuPoolArgs.availability_zones = ['us-west-2a']: a spot pool needs at least 2 zones to survive a zonal capacity shortage" in run.stderr
