"""Express runs: the interpreter without a Temporal history (docs/architecture.md)."""
