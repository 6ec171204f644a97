"""gpu-inference-platform guardrails: a CrossGuard policy pack whose rules are plain, importable functions."""
