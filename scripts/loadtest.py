"""`python -m scripts.loadtest`: the documented command; the code is `gpu_inference_platform.cli.loadtest`."""

import sys

from gpu_inference_platform.cli.loadtest import main

if __name__ == "__main__":
    sys.exit(main())
