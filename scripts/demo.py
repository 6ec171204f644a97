"""`python -m scripts.demo`: the documented command; the code is `gpu_inference_platform.cli.demo`."""

import sys

from gpu_inference_platform.cli.demo import main

if __name__ == "__main__":
    sys.exit(main())
