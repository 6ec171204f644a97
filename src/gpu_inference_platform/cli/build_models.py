"""Build, verify and compare Triton model repositories.

    python -m scripts.build_models --target cpu --out build/models/cpu
    python -m scripts.build_models --target gpu --stack prod --out build/models/prod
    python -m scripts.build_models verify DIR
    python -m scripts.build_models diff OLD NEW

Exit codes: 0 ok, 1 verification found differences or parity failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from gpu_inference_platform.components.model_manifest import diff, load_manifest
from gpu_inference_platform.components.model_manifest import main as verify_main
from gpu_inference_platform.components.tensorrt_engines import ngc_release
from gpu_inference_platform.ops.modelbuild.assemble import TARGETS, build_repository
from gpu_inference_platform.ops.modelbuild.export import ParityError
from gpu_inference_platform.ops.modelbuild.generation import load_generation_specs
from gpu_inference_platform.ops.modelbuild.spec import load_specs
from gpu_inference_platform.program.config import ConfigError
from gpu_inference_platform.program.stack_files import load_stack_file, stack_file


def _diff(old: Path, new: Path) -> int:
    for line in diff(load_manifest(old), load_manifest(new)):
        print(line)
    return 0


def _stack_targets(stack: str) -> tuple[list[str], str]:
    """(engine targets, NGC release) a stack's config asks for."""
    config = load_stack_file(stack_file(stack), stack)
    return list(config.model_repository.engine_targets), ngc_release(config.serving[0].triton_image) or ""


def _build(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.build_models", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=TARGETS, required=True)
    parser.add_argument("--out", type=Path, required=True, help="output folder (a previous build there is replaced)")
    parser.add_argument("--stack", help="gpu target: take engine targets and the NGC release from Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    capabilities, release = _stack_targets(args.stack) if args.stack else ([], "")
    if args.target == "gpu" and not args.stack:
        parser.error("--target gpu needs --stack (its fleet's engine targets and Triton release)")
    started = time.perf_counter()
    result = build_repository(
        load_specs(), target=args.target, out=args.out, compute_capabilities=capabilities, ngc_release=release, generators=load_generation_specs()
    )
    for check in result.parity:
        print(check)
    for plan, step in result.engine_plan.items():
        built_with = step.get("tensorrt_image_release") or step.get("triton_image_release")
        print(f"engine plan ({step.get('kind', 'tensorrt')}, cc {step['compute_capability']}, NGC {built_with}): {plan}")
    elapsed = time.perf_counter() - started
    print(f"built {args.out} ({args.target}) in {elapsed:.1f} s: tree {result.manifest.tree_hash}, {len(result.manifest.files)} files")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        if argv[:1] == ["verify"] and len(argv) == 2:
            return verify_main(argv[1:])
        if argv[:1] == ["diff"] and len(argv) == 3:
            return _diff(Path(argv[1]), Path(argv[2]))
        return _build(argv)
    except ParityError as error:
        print(f"parity check failed: {error}", file=sys.stderr)
        return 1
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (FileNotFoundError, FileExistsError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
