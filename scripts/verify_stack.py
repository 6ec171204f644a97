"""`python -m scripts.verify_stack`: the documented command; the code is `gpu_inference_platform.cli.verify_stack`."""

import sys

from gpu_inference_platform.cli.verify_stack import main

if __name__ == "__main__":
    sys.exit(main())
