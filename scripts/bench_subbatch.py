"""`python -m scripts.bench_subbatch`: the documented command; the code is `gpu_inference_platform.cli.bench_subbatch`."""

import sys

from gpu_inference_platform.cli.bench_subbatch import main

if __name__ == "__main__":
    sys.exit(main())
