"""Entry point the Pulumi CLI runs for `--policy-pack policy`.

The rules live in the installed package (`gpu_inference_platform.policy`), shared with
the offline preview and the tests; `make setup` installs it into the pack's virtualenv.
"""

from gpu_inference_platform.policy.pack import serve

serve()
