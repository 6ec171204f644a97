"""The checks of policy-checks.md, one module per area."""
