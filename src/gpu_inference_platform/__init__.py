"""gpu-inference-platform: Pulumi components for serving models on GPUs in production.

The public API is what this module re-exports: the components with their Args, the
`ClusterRef` handle, `AccountContext`, and the validation error they raise. Subpackages:
`components` (the library), `program` (config + composition of one stack), `preview`
(offline, credential-free previews), `policy` (the guardrails), `ops` (model builds,
local serving, live-stack checks) and `cli` (the documented commands).
"""

from importlib.metadata import version

from gpu_inference_platform import components
from gpu_inference_platform.components import *  # noqa: F403 (the components' public names are the package's)

__version__ = version("gpu-inference-platform")
"""The installed distribution's version (pyproject.toml is the one place it is written)."""
__all__ = ["__version__"]
__all__ += components.__all__
