"""Offline, credential-free preview of a stack: `python -m scripts.preview <stack>`.

Exit codes: 0 planned, 2 configuration error (stack or policy config; message, no traceback),
3 blocked: a mandatory policy is violated or the always-on cost exceeds the budget.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from gpu_inference_platform.policy.config import PolicyConfigError
from gpu_inference_platform.preview.cost import estimate
from gpu_inference_platform.preview.guardrails import check_plan
from gpu_inference_platform.preview.harness import plan_stack, render_kubernetes, summary
from gpu_inference_platform.program.config import ConfigError

EXIT_CONFIG_ERROR = 2
EXIT_BLOCKED = 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.preview", description=__doc__)
    parser.add_argument("stack", help="stack name (reads Pulumi.<stack>.yaml unless --config is given)")
    parser.add_argument("--config", type=Path, help="stack config file shaped like Pulumi.<stack>.yaml")
    parser.add_argument("--policy-config", type=Path, help="policy config (default: policy/config/<stack>.json)")
    parser.add_argument("--json", type=Path, dest="json_path", help="write the plan as JSON to this path")
    parser.add_argument("--render-k8s", type=Path, dest="render_dir", help="write every Kubernetes object as YAML into this folder")
    args = parser.parse_args(argv)

    try:
        plan = plan_stack(args.stack, args.config)
        report = check_plan(plan, args.policy_config)
    except (ConfigError, PolicyConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    except (OSError, ValueError, yaml.YAMLError) as error:
        print(f"error: cannot read stack config: {error}", file=sys.stderr)
        return EXIT_CONFIG_ERROR

    cost = estimate(plan, plan.region)
    print(summary(plan))
    print("\n".join(cost.lines()))
    print("\n".join(report.lines()))
    if args.json_path:
        args.json_path.parent.mkdir(parents=True, exist_ok=True)
        document = {**plan.to_json(), "cost": cost.to_json(), **report.to_json()}
        args.json_path.write_text(json.dumps(document, indent=2, sort_keys=True))
        print(f"plan written to {args.json_path}")
    if args.render_dir:
        written = render_kubernetes(plan, args.render_dir)
        print(f"{len(written)} Kubernetes objects written to {args.render_dir}")
    blocked = False
    for violation in report.mandatory:
        print(f"error: mandatory policy violated: {violation.line()}", file=sys.stderr)
        blocked = True
    if cost.floor_exceeds_budget:
        print(f"error: the always-on cost ({cost.total('floor'):.2f} USD/month) exceeds the budget ({cost.budget_usd:.2f})", file=sys.stderr)
        blocked = True
    return EXIT_BLOCKED if blocked else 0


if __name__ == "__main__":
    sys.exit(main())
