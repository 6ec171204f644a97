"""gpu-inference-platform: Pulumi components for serving models on GPUs in production.

The public API is what this module re-exports: the components with their Args, the
`ClusterRef` handle, `AccountContext`, and the validation error they raise. Subpackages:
`components` (the library), `program` (config + composition of one stack), `preview`
(offline, credential-free previews), `policy` (the guardrails), `ops` (model builds,
local serving, live-stack checks) and `cli` (the documented commands).
"""

from gpu_inference_platform.components import (
    AccountContext,
    AlertThresholds,
    BudgetAlarms,
    BudgetAlarmsArgs,
    ClusterRef,
    ConfigError,
    ConfigIssue,
    EngineBuildArgs,
    GpuCluster,
    GpuClusterArgs,
    GpuPoolArgs,
    LoadBalancer,
    LoadBalancerArgs,
    ModelRepository,
    ModelRepositoryArgs,
    Monitoring,
    MonitoringArgs,
    Network,
    NetworkArgs,
    SpotFleet,
    SpotFleetArgs,
    SystemNodeGroupArgs,
    TritonServer,
    TritonServerArgs,
)

__version__ = "0.2.0"
__all__ = [
    "AccountContext",
    "AlertThresholds",
    "BudgetAlarms",
    "BudgetAlarmsArgs",
    "ClusterRef",
    "ConfigError",
    "ConfigIssue",
    "EngineBuildArgs",
    "GpuCluster",
    "GpuClusterArgs",
    "GpuPoolArgs",
    "LoadBalancer",
    "LoadBalancerArgs",
    "ModelRepository",
    "ModelRepositoryArgs",
    "Monitoring",
    "MonitoringArgs",
    "Network",
    "NetworkArgs",
    "SpotFleet",
    "SpotFleetArgs",
    "SystemNodeGroupArgs",
    "TritonServer",
    "TritonServerArgs",
    "__version__",
]
