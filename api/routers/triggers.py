"""Triggers of a workflow: schedules (Temporal Schedules), webhooks and manual triggers."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, status

from api.deps import ContextDep, Executor, Reader, SessionDep, Writer
from api.schemas.triggers import (
    BackfillRequest,
    TriggerActionAccepted,
    TriggerPatch,
    TriggerPublic,
)
from api.services import triggers
from api.services.triggers import TriggerDeps

router = APIRouter(tags=["triggers"])

TRIGGER_EXAMPLES = {
    "cron": {"value": {"type": "schedule", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}},
    "interval": {"value": {"type": "schedule", "interval": "15m", "overlap": "skip"}},
    "webhook": {"value": {"type": "webhook", "authentication": {"type": "hmac"}}},
}


def trigger_deps(ctx: ContextDep) -> TriggerDeps:
    return TriggerDeps.of(ctx)


TriggerDepsDep = Annotated[TriggerDeps, Depends(trigger_deps)]


@router.get("/workflows/{workflow_id}/triggers", response_model=list[TriggerPublic])
async def list_triggers(
    workflow_id: uuid.UUID, user: Reader, session: SessionDep, deps: TriggerDepsDep
) -> list[TriggerPublic]:
    """The workflow's triggers; schedules with their next run times and recent actions."""
    return await triggers.list_triggers(session, deps, user, workflow_id)


@router.post(
    "/workflows/{workflow_id}/triggers",
    status_code=status.HTTP_201_CREATED,
    response_model=TriggerPublic,
)
async def add_trigger(
    workflow_id: uuid.UUID,
    spec: Annotated[dict[str, Any], Body(openapi_examples=TRIGGER_EXAMPLES)],
    user: Writer,
    session: SessionDep,
    deps: TriggerDepsDep,
) -> TriggerPublic:
    """Add one trigger, as in the workflow's ``triggers`` (a generated secret is shown once)."""
    return await triggers.add_trigger(session, deps, user, workflow_id, spec)


@router.get("/triggers/{trigger_id}", response_model=TriggerPublic)
async def get_trigger(
    trigger_id: uuid.UUID, user: Reader, session: SessionDep, deps: TriggerDepsDep
) -> TriggerPublic:
    return await triggers.get_trigger(session, deps, user, trigger_id)


@router.patch("/triggers/{trigger_id}", response_model=TriggerPublic)
async def update_trigger(
    trigger_id: uuid.UUID,
    patch: TriggerPatch,
    user: Writer,
    session: SessionDep,
    deps: TriggerDepsDep,
) -> TriggerPublic:
    """Change some fields (``paused``, the spec); a schedule's Temporal Schedule follows."""
    return await triggers.update_trigger(session, deps, user, trigger_id, patch)


@router.delete("/triggers/{trigger_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_trigger(
    trigger_id: uuid.UUID, user: Writer, session: SessionDep, deps: TriggerDepsDep
) -> None:
    await triggers.delete_trigger(session, deps, user, trigger_id)


@router.post(
    "/triggers/{trigger_id}/run-now",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TriggerActionAccepted,
)
async def run_now(
    trigger_id: uuid.UUID, user: Executor, session: SessionDep, deps: TriggerDepsDep
) -> TriggerActionAccepted:
    """Fire a schedule trigger once, now."""
    trigger = await triggers.run_now(session, deps, user, trigger_id)
    return TriggerActionAccepted(trigger_id=trigger.id, status="triggered")


@router.post(
    "/triggers/{trigger_id}/backfill",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TriggerActionAccepted,
)
async def backfill(
    trigger_id: uuid.UUID,
    request: BackfillRequest,
    user: Executor,
    session: SessionDep,
    deps: TriggerDepsDep,
) -> TriggerActionAccepted:
    """Take every action the schedule would have taken between ``start`` and ``end``."""
    trigger = await triggers.backfill(session, deps, user, trigger_id, request)
    return TriggerActionAccepted(trigger_id=trigger.id, status="backfilling")
