"""Offline preview of any Pulumi program folder that uses this library (the examples, your own stacks).

    python -m gpu_inference_platform.preview.program examples/spot-fleet-on-existing-cluster --stack example

Runs the folder's `__main__.py` as stack `<stack>` of the project its `Pulumi.yaml` names,
with the config of `Pulumi.<stack>.yaml`, under the same mocks as the platform preview.
Exit codes: 0 planned, 2 configuration error (message, no traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import sys
from pathlib import Path

import yaml

from gpu_inference_platform.components.validation import ConfigError
from gpu_inference_platform.preview.harness import Plan, run_program, summary
from gpu_inference_platform.program.stack_files import read_stack_file

EXIT_CONFIG_ERROR = 2


def plan_program(directory: Path, stack: str) -> Plan:
    """Plan the program in `directory` as `stack` (its working directory while it runs, as with `pulumi up`)."""
    directory = directory.resolve()
    project = yaml.safe_load((directory / "Pulumi.yaml").read_text())["name"]
    config = read_stack_file(directory / f"Pulumi.{stack}.yaml")
    previous = Path.cwd()

    def program() -> None:
        runpy.run_path(str(directory / "__main__.py"), run_name="__main__")

    os.chdir(directory)
    try:
        return run_program(program, stack=stack, pulumi_config=config, project=project)
    finally:
        os.chdir(previous)


def main(argv: list[str] | None = None) -> int:
    """The command line: print the plan's tree, optionally write it as JSON."""
    parser = argparse.ArgumentParser(
        prog="python -m gpu_inference_platform.preview.program", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("directory", type=Path, help="folder with Pulumi.yaml, Pulumi.<stack>.yaml and __main__.py")
    parser.add_argument("--stack", required=True)
    parser.add_argument("--json", type=Path, dest="json_path", help="write the plan as JSON to this path")
    args = parser.parse_args(argv)
    try:
        plan = plan_program(args.directory, args.stack)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    print(summary(plan))
    if args.json_path:
        args.json_path.parent.mkdir(parents=True, exist_ok=True)
        args.json_path.write_text(json.dumps(plan.to_json(), indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
