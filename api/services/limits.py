"""The limits a run enforces itself, taken from the settings when the run is started.

Workflow code cannot read settings, so they travel in the run's input
(:class:`~temporal_workflows.run_types.RunLimits`) and every child run inherits them.
"""

from __future__ import annotations

from core.settings import Settings
from temporal_workflows.run_types import RunLimits


def run_limits(settings: Settings) -> RunLimits:
    return RunLimits(
        max_child_depth=settings.max_child_workflow_depth,
        max_foreach_items=settings.max_foreach_items,
        local_step_max_timeout_seconds=settings.local_step_max_timeout,
        concurrency_reclaim_seconds=settings.concurrency_reclaim_seconds,
    )
