"""gpu-inference-platform: Pulumi components for serving models on GPUs in production."""
