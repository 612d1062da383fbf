"""Activities of concurrency limits: a run asks its group for a permit; a limiter checks
which of its holders have closed. All need the Temporal client, so they run here."""

from __future__ import annotations

from temporalio import activity

from core.concurrency import ask_by_signal, closed_runs, request_permit
from temporal_workflows.concurrency import (
    CLOSED_RUNS_ACTIVITY,
    REQUEST_PERMIT_ACTIVITY,
    SEND_ASK_ACTIVITY,
    PermitAnswer,
    PermitRequest,
)


@activity.defn(name=REQUEST_PERMIT_ACTIVITY)
async def request_run_permit(request: PermitRequest) -> PermitAnswer:
    # Runs recorded before they asked by signal (temporal_workflows/concurrency.ASK_BY_SIGNAL).
    # The limiter runs on the run's task queue, so the workers that run runs run it too.
    return await request_permit(activity.client(), request, activity.info().task_queue)


@activity.defn(name=SEND_ASK_ACTIVITY)
async def send_run_permit_ask(request: PermitRequest) -> None:
    # The answer comes to the run as a signal; see request_run_permit for the task queue.
    await ask_by_signal(activity.client(), request, activity.info().task_queue)


@activity.defn(name=CLOSED_RUNS_ACTIVITY)
async def closed_holders(workflow_ids: list[str]) -> list[str]:
    return await closed_runs(activity.client(), workflow_ids)
