"""`headrace schedules move`: after a deployment on a new task queue, schedule triggers start
their runs there (a Temporal Schedule keeps the queue it was created with)."""

from __future__ import annotations

import uuid

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleSpec,
    ScheduleState,
)
from temporalio.testing import WorkflowEnvironment

from api.services.schedules import move_schedules, schedule_id_for
from tests.support.polling import eventually


async def _create(client: Client, schedule_id: str, task_queue: str) -> None:
    await client.create_schedule(
        schedule_id,
        Schedule(
            action=ScheduleActionStartWorkflow(
                "HeadraceScheduledRun", id=f"{schedule_id}-run", task_queue=task_queue
            ),
            spec=ScheduleSpec(cron_expressions=["0 0 1 1 *"]),
            state=ScheduleState(paused=True),  # nothing runs during the test
        ),
    )


async def _queue_of(client: Client, schedule_id: str) -> str:
    action = (await client.get_schedule_handle(schedule_id).describe()).schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    return action.task_queue


class TestMoveSchedules:
    async def test_headrace_schedules_move_once_and_others_are_left_alone(
        self, temporal_env: WorkflowEnvironment
    ) -> None:
        client = temporal_env.client
        old, new = f"old-{uuid.uuid4().hex[:6]}", f"new-{uuid.uuid4().hex[:6]}"
        ours = schedule_id_for(uuid.uuid4())
        foreign = f"someone-else-{uuid.uuid4().hex[:6]}"
        await _create(client, ours, old)
        await _create(client, foreign, old)

        async def listed() -> set[str]:
            return {s.id async for s in await client.list_schedules()}

        # Listing goes through Temporal's visibility store, which catches up shortly after.
        await eventually(listed, lambda ids: {ours, foreign} <= ids, what="the listing")

        assert ours in await move_schedules(client, new)
        assert await _queue_of(client, ours) == new
        assert await _queue_of(client, foreign) == old  # not a Headrace schedule trigger
        assert ours not in await move_schedules(client, new)  # already there: unchanged
        for schedule_id in (ours, foreign):
            await client.get_schedule_handle(schedule_id).delete()
