"""The retention Schedule, created or updated idempotently by every worker at start.

Every worker calls :func:`ensure_retention_schedule`; the first creates the Schedule, the
others (and later starts) update it to the current settings, so changing
``HEADRACE_RETENTION_*`` and rolling the workers is all it takes. With retention off the
Schedule is deleted. Overlaps are skipped: a run still deleting a backlog is not doubled.
"""

from __future__ import annotations

import logging

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.service import RPCError, RPCStatusCode

from core.settings import Settings
from temporal_workflows.retention import HeadraceRetention, RetentionInput

logger = logging.getLogger("headrace.retention")

RETENTION_SCHEDULE_ID = "headrace-retention"


def retention_schedule(settings: Settings, older_than_days: int) -> Schedule:
    """The Schedule that starts :class:`HeadraceRetention` on ``HEADRACE_RETENTION_CRON``."""
    return Schedule(
        action=ScheduleActionStartWorkflow(
            HeadraceRetention.run,
            RetentionInput(
                older_than_days=older_than_days, batch_size=settings.retention_batch_size
            ),
            id=RETENTION_SCHEDULE_ID,
            task_queue=settings.task_queue,
        ),
        spec=ScheduleSpec(cron_expressions=[settings.retention_cron]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
    )


async def ensure_retention_schedule(client: Client, settings: Settings) -> None:
    """Create, update or (retention off) delete the retention Schedule."""
    handle = client.get_schedule_handle(RETENTION_SCHEDULE_ID)
    if settings.retention_days is None:
        try:
            await handle.delete()
            logger.info("retention is off: deleted the %s schedule", RETENTION_SCHEDULE_ID)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
        return
    schedule = retention_schedule(settings, settings.retention_days)
    try:
        await client.create_schedule(RETENTION_SCHEDULE_ID, schedule)
    except ScheduleAlreadyRunningError:

        def replace(_: ScheduleUpdateInput) -> ScheduleUpdate:
            return ScheduleUpdate(schedule=schedule)

        await handle.update(replace)
