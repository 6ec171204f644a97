"""Pulumi entry point: `pulumi up -s <stack>` runs this."""

from stacks.platform import main

main()
