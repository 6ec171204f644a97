"""`python -m scripts.serve_local`: the documented command; the code is `gpu_inference_platform.cli.serve_local`."""

import sys

from gpu_inference_platform.cli.serve_local import main

if __name__ == "__main__":
    sys.exit(main())
