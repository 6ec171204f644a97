"""Check a deployed stack with boto3: `python -m scripts.verify_stack --stack prod [--endpoint-url URL]`.

Budget with actual and forecast notifications, an alert topic with a confirmed
subscriber and a policy Budgets can publish through, load-balancer alarms with actions
enabled, and every model object's checksum against the build manifest.
Exit codes: 0 all checks pass, 1 a check failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import boto3

from gpu_inference_platform.components.model_manifest import load_manifest
from gpu_inference_platform.ops.verify import verify_deployed_stack
from gpu_inference_platform.program.config import ConfigError
from gpu_inference_platform.program.stack_files import load_stack_file, stack_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.verify_stack", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", required=True)
    parser.add_argument("--endpoint-url", help="AWS API endpoint (e.g. a local emulator); default: the real AWS")
    parser.add_argument("--config", type=Path, help="stack config file (default Pulumi.<stack>.yaml)")
    args = parser.parse_args(argv)
    try:
        config = load_stack_file(args.config or stack_file(args.stack), args.stack)
        manifest = load_manifest(Path(config.model_repository.build_dir))
    except (ConfigError, OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    checks = verify_deployed_stack(boto3.Session(region_name=config.region), stack=args.stack, manifest=manifest, endpoint_url=args.endpoint_url)
    for check in checks:
        print(check)
    return 0 if all(check.ok for check in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
