"""Workflow tests share the root fixtures; ``Runner`` lives in tests/support/runner.py."""

from tests.support.runner import Runner, steps_by_id

__all__ = ["Runner", "steps_by_id"]
