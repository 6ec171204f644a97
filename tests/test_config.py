"""Stack config validation: every in-scope case of bad-inputs.md gives one clear line.

Each line names the key path, the bad value and what is allowed.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from gpu_inference_platform.program.config import ConfigError, StackConfig, today
from tests.conftest import STACKS, config_issues, delete_key, set_key, valid_config

NET = "gpu-inference-platform:network"
CLUSTER = "gpu-inference-platform:cluster"
FLEET = "gpu-inference-platform:fleet"
SERVING = "gpu-inference-platform:serving"
GPU_TYPES = "g4dn.xlarge, g5.12xlarge, g5.2xlarge, g5.xlarge, g5g.xlarge, g6.xlarge, g6e.xlarge, p4d.24xlarge, p5.48xlarge"


@pytest.mark.parametrize("stack", STACKS)
def test_committed_stacks_are_valid(stack: str) -> None:
    config = valid_config(stack)
    assert isinstance(config, StackConfig)
    assert config.environment == stack


def test_environments_differ_as_intended() -> None:
    dev, prod = valid_config("dev"), valid_config("prod")
    assert (len(dev.network.availability_zones), dev.network.nat_gateways, dev.cluster.endpoint_public_access) == (2, "single", True)
    assert (len(prod.network.availability_zones), prod.network.nat_gateways, prod.cluster.endpoint_public_access) == (3, "perAz", False)
    assert prod.production and not dev.production


def test_config_error_is_reported_by_pulumi_without_traceback() -> None:
    assert issubclass(ConfigError, pulumi.RunError)


def test_default_subnet_carving() -> None:
    private, public = valid_config("prod").network.subnet_plan()
    assert private == ["10.42.0.0/19", "10.42.32.0/19", "10.42.64.0/19"]
    assert public == ["10.42.224.0/22", "10.42.228.0/22", "10.42.232.0/22"]


CASES = [
    # 1. CIDRs
    ("dev", set_key("network.cidr", "10.40.0.0/33"), f"{NET}.cidr = '10.40.0.0/33': not a CIDR block; expected the form 10.0.0.0/16"),
    ("dev", set_key("network.cidr", "10.40.1.0/16"), f"{NET}.cidr = '10.40.1.0/16': host bits are set; did you mean 10.40.0.0/16?"),
    (
        "dev",
        set_key("network.privateSubnetCidrs", ["10.40.0.0/19", "10.99.0.0/19"]),
        f"{NET}.privateSubnetCidrs[1] = '10.99.0.0/19': outside the VPC range 10.40.0.0/16",
    ),
    (
        "dev",
        set_key("network.privateSubnetCidrs", ["10.40.0.0/19", "10.40.16.0/20"]),
        f"{NET}.privateSubnetCidrs[0] = '10.40.0.0/19': overlaps privateSubnetCidrs[1] (10.40.16.0/20)",
    ),
    (
        "dev",
        set_key("network.privateSubnetCidrs", ["10.40.0.0/19"]),
        f"{NET}.privateSubnetCidrs = ['10.40.0.0/19']: needs exactly one subnet per availability zone (2)",
    ),
    ("dev", set_key("network.cidr", "fd00::/56"), f"{NET}.cidr = 'fd00::/56': VPC and subnet ranges must be IPv4 CIDR blocks"),
    # 2. endpoint exposure
    (
        "prod",
        set_key("cluster.endpointPublicAccess", True),
        f"{CLUSTER}.endpointPublicAccess = True: production clusters must use the private endpoint only; allowed: false",
    ),
    (
        "dev",
        set_key("cluster.publicAccessCidrs", ["203.0.113.0/24", "0.0.0.0/0"]),
        f"{CLUSTER}.publicAccessCidrs[1] = '0.0.0.0/0': opens the API server to the internet; list your office/VPN ranges instead",
    ),
    (
        "dev",
        set_key("cluster.publicAccessCidrs", ["::/0"]),
        f"{CLUSTER}.publicAccessCidrs[0] = '::/0': opens the API server to the internet; list your office/VPN ranges instead",
    ),
    (
        "dev",
        set_key("cluster.publicAccessCidrs", []),
        f"{CLUSTER}.publicAccessCidrs = []: a public endpoint needs explicit CIDRs (EKS would default to 0.0.0.0/0)",
    ),
    # 3. region and zones
    (
        "dev",
        set_key("aws:region", "us-north-9"),
        "aws:region = 'us-north-9': unknown region; allowed: us-east-1, us-east-2, us-west-2, eu-west-1, eu-central-1, ap-northeast-1, ap-southeast-2",
    ),
    (
        "dev",
        set_key("network.availabilityZones", ["us-east-1a", "us-west-2b"]),
        f"{NET}.availabilityZones[1] = 'us-west-2b': not a zone of us-east-1; allowed: us-east-1a, us-east-1b, us-east-1c, us-east-1d, us-east-1e, us-east-1f",
    ),
    ("dev", set_key("network.availabilityZones", ["us-east-1a"]), f"{NET}.availabilityZones = ['us-east-1a']: needs at least 2 zones for environment dev"),
    (
        "prod",
        set_key("network.availabilityZones", ["us-west-2a", "us-west-2b"]),
        f"{NET}.availabilityZones = ['us-west-2a', 'us-west-2b']: needs at least 3 zones for environment prod",
    ),
    # 4. instance types
    (
        "dev",
        set_key("cluster.systemNodes.instanceType", "m5.huge"),
        f"{CLUSTER}.systemNodes.instanceType = 'm5.huge': unknown instance type; allowed: m5.large, m6i.large, m6i.xlarge, m7g.large, m7g.xlarge, m7i.large, m7i.xlarge",
    ),
    (
        "dev",
        set_key("cluster.systemNodes.instanceType", "g5.xlarge"),
        f"{CLUSTER}.systemNodes.instanceType = 'g5.xlarge': system nodes must not use GPU instances; allowed: m5.large, m6i.large, m6i.xlarge, m7g.large, m7g.xlarge, m7i.large, m7i.xlarge",
    ),
    # 9. scaling bounds
    ("dev", set_key("cluster.systemNodes.minSize", 5), f"{CLUSTER}.systemNodes.minSize = 5: greater than maxSize (3)"),
    ("dev", set_key("cluster.systemNodes.desiredSize", 7), f"{CLUSTER}.systemNodes.desiredSize = 7: outside [minSize, maxSize] = [2, 3]"),
    # 18. log retention
    (
        "dev",
        set_key("cluster.logRetentionDays", 0),
        f"{CLUSTER}.logRetentionDays = 0: not a CloudWatch retention period; allowed: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653",
    ),
    ("prod", set_key("network.flowLogRetentionDays", 90), f"{NET}.flowLogRetentionDays = 90: production keeps logs at least 365 days"),
    # 19. Kubernetes version
    (
        "dev",
        set_key("cluster.kubernetesVersion", "1.29"),
        f"{CLUSTER}.kubernetesVersion = '1.29': not a Kubernetes version of the support table; allowed on {today()}: 1.35",
    ),
    # 21. unknown or misspelled keys
    (
        "dev",
        set_key("network.availabiltyZones", ["us-east-1a"]),
        f"{NET}.availabiltyZones = ['us-east-1a']: unknown key; allowed: availabilityZones, cidr, flowLogRetentionDays, natGateways, privateSubnetCidrs, publicSubnetCidrs",
    ),
    (
        "dev",
        set_key("clusterr", {}),
        "gpu-inference-platform:clusterr = {}: unknown key; allowed: gpu-inference-platform:allowEnvironmentMismatch, aws:region, gpu-inference-platform:budget, gpu-inference-platform:ciRunner, gpu-inference-platform:cluster, gpu-inference-platform:costCenter, "
        "gpu-inference-platform:environment, gpu-inference-platform:fleet, gpu-inference-platform:loadBalancer, gpu-inference-platform:modelRepository, "
        "gpu-inference-platform:monitoring, gpu-inference-platform:network, gpu-inference-platform:serving",
    ),
    (
        "dev",
        set_key("region", "us-east-1"),
        "gpu-inference-platform:region = 'us-east-1': unknown key; allowed: gpu-inference-platform:allowEnvironmentMismatch, aws:region, gpu-inference-platform:budget, gpu-inference-platform:ciRunner, gpu-inference-platform:cluster, gpu-inference-platform:costCenter, gpu-inference-platform:environment, gpu-inference-platform:fleet, gpu-inference-platform:loadBalancer, gpu-inference-platform:modelRepository, gpu-inference-platform:monitoring, gpu-inference-platform:network, gpu-inference-platform:serving",
    ),
    # 22. wrong types
    ("dev", set_key("cluster.systemNodes.maxSize", "3"), f"{CLUSTER}.systemNodes.maxSize = '3': Input should be a valid integer"),
    ("dev", set_key("network.availabilityZones", {"a": "us-east-1a"}), f"{NET}.availabilityZones = {{'a': 'us-east-1a'}}: Input should be a valid list"),
    ("dev", set_key("cluster", ["1.34"]), f"{CLUSTER} = ['1.34']: Input should be a valid dictionary or instance of ClusterConfig"),
    # 4. GPU pools: unknown or CPU-only types
    (
        "dev",
        set_key("fleet.spot.instanceTypes", ["g5.xlarge", "g9.xlarge"]),
        f"{FLEET}.spot.instanceTypes[1] = 'g9.xlarge': unknown instance type; allowed: {GPU_TYPES}",
    ),
    ("staging", set_key("fleet.onDemand.instanceTypes", ["m5.large"]), f"{FLEET}.onDemand.instanceTypes[0] = 'm5.large': has no GPU; allowed: {GPU_TYPES}"),
    # 5. GPUs per pod larger than an instance type of the pool
    (
        "dev",
        set_key("serving.0.gpusPerReplica", 4),
        f"{FLEET}.spot.instanceTypes[0] = 'g4dn.xlarge': has 1 GPU(s), fewer than gpusPerReplica of serving group triton (4)",
    ),
    # 6. mixed CPU architectures
    (
        "dev",
        set_key("fleet.spot.instanceTypes", ["g5.xlarge", "g5g.xlarge"]),
        f"{FLEET}.spot.instanceTypes = ['g5.xlarge', 'g5g.xlarge']: mixes CPU architectures (arm64, x86_64); one pool must use one architecture",
    ),
    # 8. spot pool in a single zone; zones outside the network
    (
        "dev",
        set_key("fleet.spot.availabilityZones", ["us-east-1a"]),
        f"{FLEET}.spot.availabilityZones = ['us-east-1a']: a spot pool needs at least 2 zones to survive a zonal capacity shortage",
    ),
    (
        "dev",
        set_key("fleet.spot.availabilityZones", ["us-east-1a", "us-east-1c"]),
        f"{FLEET}.spot.availabilityZones[1] = 'us-east-1c': not a zone of the network; allowed: us-east-1a, us-east-1b",
    ),
    # 9. replica bounds; limits below what serving needs
    ("dev", set_key("serving.0.minSpotReplicas", 2), f"{SERVING}[0].minSpotReplicas = 2: greater than maxSpotReplicas (1)"),
    ("staging", set_key("serving.0.floorReplicas", 3), f"{FLEET}.onDemand.gpuLimit = 2: below the serving floor (3 replicas x 1 GPU + 1 replicas x 1 GPU = 4)"),
    ("dev", set_key("serving.0.maxSpotReplicas", 5), f"{FLEET}.spot.gpuLimit = 5: the pools' limits (5 GPUs) are below peak serving (8 GPUs)"),
    (
        "dev",
        set_key("fleet.spot.gpuLimit", 4),
        f"{FLEET}.spot.gpuLimit = 4: the pools' limits (4 GPUs) leave no GPU for TensorRT engine builds at peak serving (4 GPUs): "
        "a model change would time out; allow at least 5",
    ),
    # 10. prod needs 3 serving replicas
    (
        "prod",
        set_key("serving.0.floorReplicas", 1),
        f"{SERVING}[0].floorReplicas = 1: production needs at least 3 replicas in total (floorReplicas + minSpotReplicas)",
    ),
    # 15. spot drain longer than the interruption notice
    ("dev", set_key("fleet.spot.terminationGracePeriodS", 180), f"{FLEET}.spot.terminationGracePeriodS = 180: spot nodes get a 120 s notice; allowed: 30..120"),
    # 21/22 inside the fleet
    (
        "dev",
        set_key("fleet.spot.gpuLimits", 4),
        f"{FLEET}.spot.gpuLimits = 4: unknown key; allowed: availabilityZones, gpuLimit, instanceTypes, terminationGracePeriodS",
    ),
    ("dev", set_key("fleet.spot.gpuLimit", "2"), f"{FLEET}.spot.gpuLimit = '2': Input should be a valid integer"),
    ("dev", set_key("fleet.amiAlias", "al2@latest"), f"{FLEET}.amiAlias = 'al2@latest': String should match pattern '^al2023@(latest|v\\d{{8}})$'"),
    # general
    ("dev", set_key("environment", "qa"), "gpu-inference-platform:environment = 'qa': Input should be 'dev', 'staging' or 'prod'"),
    ("dev", delete_key("cluster.systemNodes"), f"{CLUSTER}.systemNodes = None: required key is missing"),
    ("dev", delete_key("aws:region"), "aws:region = None: required key is missing"),
    (
        "dev",
        set_key("costCenter", "ml platform/dev"),
        "gpu-inference-platform:costCenter = 'ml platform/dev': String should match pattern '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'",
    ),
    (
        "prod",
        set_key("cluster.adminPrincipalArns", ["platform-admins"]),
        f"{CLUSTER}.adminPrincipalArns[0] = 'platform-admins': String should match pattern '^arn:aws[a-z-]*:iam::\\d{{12}}:(role|user)/[\\w+=,.@/-]+$'",
    ),
]


@pytest.mark.parametrize(("stack", "mutate", "expected"), CASES, ids=[c[2].split(" = ")[0] + "|" + c[2].split(": ", 1)[1][:30] for c in CASES])
def test_bad_input_gives_clear_error(stack: str, mutate: Any, expected: str) -> None:
    assert expected in config_issues(stack, mutate)


def test_single_family_spot_pool_is_a_warning_not_an_error() -> None:
    def one_family(raw: dict[str, Any]) -> None:
        raw["fleet"]["spot"]["instanceTypes"] = ["g5.xlarge", "g5.2xlarge"]
        raw["serving"][1]["instanceTypes"] = ["g5.xlarge"]
        raw["modelRepository"]["engineTargets"] = ["8.6"]

    assert config_issues("dev", one_family) == [
        f"warning: {FLEET}.spot.instanceTypes = ['g5.xlarge', 'g5.2xlarge']: a spot pool with one instance family is interrupted all at once; list at least two"
    ]


def test_spot_pool_defaults_to_every_network_zone() -> None:
    config = valid_config("prod")
    assert config.pool_zones(config.fleet.spot) == ["us-west-2a", "us-west-2b", "us-west-2c"]


def test_all_problems_are_reported_together() -> None:
    def break_two_things(raw: dict[str, Any]) -> None:
        raw["cluster"]["publicAccessCidrs"] = ["0.0.0.0/0"]
        raw["cluster"]["systemNodes"]["minSize"] = 9

    assert config_issues("dev", break_two_things) == [
        f"{CLUSTER}.publicAccessCidrs[0] = '0.0.0.0/0': opens the API server to the internet; list your office/VPN ranges instead",
        f"{CLUSTER}.systemNodes.minSize = 9: greater than maxSize (3)",
    ]


def test_a_private_endpoint_without_an_in_vpc_runner_is_named() -> None:
    assert config_issues("prod", delete_key("ciRunner")) == [
        "warning: gpu-inference-platform:ciRunner = None: the API endpoint is private: without an in-VPC runner, pulumi up must run from inside the VPC"
    ]
    assert config_issues("dev", delete_key("ciRunner")) == [], "a CIDR-restricted public endpoint may be deployed from an allowed range"
