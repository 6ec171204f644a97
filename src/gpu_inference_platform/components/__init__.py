"""The components: each a `gpuinfra:<module>:<Type>` ComponentResource taking `(name, args, opts)`.

Every `*Args` validates itself and documents each field; every component registers all
its outputs. Import from here (or from the package root) rather than from the modules.
"""

from gpu_inference_platform.components.budget_alarms import BudgetAlarms, BudgetAlarmsArgs
from gpu_inference_platform.components.ci_runner import CiRunner, CiRunnerArgs
from gpu_inference_platform.components.cluster_ref import ClusterRef
from gpu_inference_platform.components.gpu_cluster import GpuCluster, GpuClusterArgs, SystemNodeGroupArgs
from gpu_inference_platform.components.iam import AccountContext
from gpu_inference_platform.components.load_balancer import LoadBalancer, LoadBalancerArgs, LoadBalancerBackend
from gpu_inference_platform.components.model_repository import EngineBuildArgs, ModelRepository, ModelRepositoryArgs
from gpu_inference_platform.components.monitoring import AlertThresholds, MonitoredGroup, Monitoring, MonitoringArgs
from gpu_inference_platform.components.network import Network, NetworkArgs
from gpu_inference_platform.components.spot_fleet import GpuPoolArgs, SpotFleet, SpotFleetArgs
from gpu_inference_platform.components.triton_server import LlmScaling, TritonServer, TritonServerArgs
from gpu_inference_platform.components.validation import ConfigError, ConfigIssue

__all__ = [
    "AccountContext",
    "AlertThresholds",
    "BudgetAlarms",
    "BudgetAlarmsArgs",
    "CiRunner",
    "CiRunnerArgs",
    "ClusterRef",
    "ConfigError",
    "ConfigIssue",
    "EngineBuildArgs",
    "GpuCluster",
    "GpuClusterArgs",
    "GpuPoolArgs",
    "LlmScaling",
    "LoadBalancer",
    "LoadBalancerArgs",
    "LoadBalancerBackend",
    "ModelRepository",
    "ModelRepositoryArgs",
    "MonitoredGroup",
    "Monitoring",
    "MonitoringArgs",
    "Network",
    "NetworkArgs",
    "SpotFleet",
    "SpotFleetArgs",
    "SystemNodeGroupArgs",
    "TritonServer",
    "TritonServerArgs",
]
