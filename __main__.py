"""Pulumi entry point: `pulumi up -s <stack>` runs this (a thin consumer of the installed package)."""

from gpu_inference_platform.program.platform import main

main()
