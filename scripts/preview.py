"""`python -m scripts.preview`: the documented command; the code is `gpu_inference_platform.cli.preview`."""

import sys

from gpu_inference_platform.cli.preview import main

if __name__ == "__main__":
    sys.exit(main())
