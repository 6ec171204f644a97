"""Local serving with the real Triton Inference Server bundled in the nvidia-pytriton wheel."""
