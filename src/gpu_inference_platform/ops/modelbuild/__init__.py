"""Model repository builds: export, parity checks, assembly, provenance."""
