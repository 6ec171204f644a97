"""`python -m scripts.build_models`: the documented command; the code is `gpu_inference_platform.cli.build_models`."""

import sys

from gpu_inference_platform.cli.build_models import main

if __name__ == "__main__":
    sys.exit(main())
