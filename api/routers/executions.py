from __future__ import annotations

import uuid
from contextlib import suppress
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from api.deps import ContextDep, Executor, Reader, SessionDep, TemporalClientDep
from api.errors import Conflict, UpstreamUnavailable
from api.schemas.common import MAX_DB_INTEGER, Page, PageLimit, PageOffset
from api.schemas.executions import (
    ActionAccepted,
    ApprovalRequest,
    ExecuteRequest,
    ExecuteResult,
    ExecutionPublic,
    ExecutionStatus,
    ExecutionSummary,
    LogEntry,
    ResolveRequest,
    RetryRequest,
    SignalRequest,
)
from api.services import analytics, approvals, executions, redrive, run_control
from api.services.access import (
    ensure_may_override_variables,
    operable_execution,
    visible_execution,
    visible_workflow,
)
from api.services.workflows import workflow_version
from core.access import is_admin
from db.models import User
from db.repositories.executions import ExecutionFilter, ExecutionRepository

router = APIRouter(tags=["executions"])


@router.post(
    "/workflows/{workflow_id}/execute",
    response_model=ExecuteResult,
    responses={202: {"model": ExecuteResult}},
)
async def execute(
    workflow_id: uuid.UUID,
    body: ExecuteRequest,
    user: Executor,
    session: SessionDep,
    client: TemporalClientDep,
    ctx: ContextDep,
    response: Response,
) -> ExecuteResult:
    """Run the workflow's current version; wait for the result unless ``async_mode``."""
    workflow = await visible_workflow(session, user, workflow_id)
    ensure_may_override_variables(user, workflow, body.variables)
    execution = await executions.start_execution(
        session,
        client,
        ctx.settings,
        user.id,
        workflow,
        input_data=body.input_data,
        variables=body.variables,
    )
    if body.async_mode or not executions.started(execution):
        response.status_code = status.HTTP_202_ACCEPTED
        return executions.accepted(execution)  # `pending` while Temporal is away
    result = await executions.wait_for_result(session, client, execution, ctx.settings.sync_wait)
    if result.status == "running":
        response.status_code = status.HTTP_202_ACCEPTED
    return result


@router.get("/executions", response_model=Page[ExecutionSummary])
async def list_executions(
    user: Reader,
    session: SessionDep,
    workflow_id: uuid.UUID | None = None,
    status: ExecutionStatus | None = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Page[ExecutionSummary]:
    flt = ExecutionFilter(
        owner_id=None if is_admin(user) else user.id, workflow_id=workflow_id, status=status
    )
    rows, total = await ExecutionRepository(session).page(flt, limit=limit, offset=offset)
    data = [ExecutionSummary.model_validate(e) for e in rows]
    return Page.of(data, count=total, limit=limit, offset=offset)


@router.get("/executions/{execution_id}", response_model=ExecutionPublic)
async def get_execution(
    execution_id: uuid.UUID,
    user: Reader,
    session: SessionDep,
    ctx: ContextDep,
) -> ExecutionPublic:
    execution, workflow = await visible_execution(session, user, execution_id)
    if execution.status not in ("completed", "failed", "cancelled"):
        with suppress(UpstreamUnavailable):  # the row is still worth showing
            await executions.reconcile(session, await ctx.temporal.client(), execution)
    version = await workflow_version(session, workflow, execution.version)
    public = executions.execution_public(execution, version.definition, ctx.settings)
    if _calls_models(version.definition):
        public.tokens = await analytics.run_tokens(session, execution.id)
    if execution.status == "waiting":
        # What exactly waits (an event name, approvers, a parked step) lives in the run.
        with suppress(UpstreamUnavailable, Conflict):
            snapshot = await run_control.snapshot_of(await ctx.temporal.client(), execution)
            public.waiting_for, public.parked = snapshot.waiting_for, snapshot.parked
    elif execution.status == "queued":
        with suppress(UpstreamUnavailable, Conflict):
            client = await ctx.temporal.client()
            public.queue_position = await run_control.queue_position(client, execution)
    return public


def _calls_models(definition: dict[str, Any]) -> bool:
    steps = definition.get("steps") or []
    return any(isinstance(s, dict) and s.get("type") in ("llm", "agent") for s in steps)


@router.get("/executions/{execution_id}/logs", response_model=Page[LogEntry])
async def execution_logs(
    execution_id: uuid.UUID,
    user: Reader,
    session: SessionDep,
    level: str | None = None,
    step_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        int, Query(ge=0, le=MAX_DB_INTEGER, description="Only entries with a greater id")
    ] = 0,
) -> Page[LogEntry]:
    execution, _ = await visible_execution(session, user, execution_id)
    rows = await ExecutionRepository(session).logs(
        execution.id, after=after, limit=limit, level=level, step_id=step_id
    )
    data = [LogEntry.model_validate(r) for r in rows]
    return Page(
        data=data,
        count=len(data),
        limit=limit,
        offset=after,
        next_offset=data[-1].id if len(data) == limit else None,
    )


@router.post("/executions/{execution_id}/cancel", status_code=202, response_model=ActionAccepted)
async def cancel_execution(
    execution_id: uuid.UUID,
    user: Executor,
    session: SessionDep,
    client: TemporalClientDep,
) -> ActionAccepted:
    execution, _ = await operable_execution(session, user, execution_id)
    await run_control.cancel(client, execution)
    return ActionAccepted(execution_id=execution.id, status="cancelling")


@router.post("/executions/{execution_id}/signal", status_code=202, response_model=ActionAccepted)
async def signal_execution(
    execution_id: uuid.UUID,
    body: SignalRequest,
    user: Executor,
    session: SessionDep,
    client: TemporalClientDep,
) -> ActionAccepted:
    """Deliver an event to the ``wait_for_event`` step waiting for ``name`` (409 if none)."""
    execution, _ = await operable_execution(session, user, execution_id)
    step_id = await run_control.deliver_event(client, execution, body.name, body.payload)
    return ActionAccepted(execution_id=execution.id, status="delivered", step_id=step_id)


async def _decide(
    execution_id: uuid.UUID,
    body: ApprovalRequest | None,
    user: User,
    session: SessionDep,
    client: TemporalClientDep,
    approved: bool,
) -> ActionAccepted:
    body = body or ApprovalRequest()
    step_id = await approvals.decide(
        session,
        client,
        user,
        execution_id,
        approved=approved,
        comment=body.comment,
        step_id=body.step_id,
    )
    return ActionAccepted(
        execution_id=execution_id, status="approved" if approved else "rejected", step_id=step_id
    )


@router.post("/executions/{execution_id}/approve", status_code=202, response_model=ActionAccepted)
async def approve(
    execution_id: uuid.UUID,
    body: ApprovalRequest | None = None,
    *,
    user: Executor,
    session: SessionDep,
    client: TemporalClientDep,
) -> ActionAccepted:
    return await _decide(execution_id, body, user, session, client, approved=True)


@router.post("/executions/{execution_id}/reject", status_code=202, response_model=ActionAccepted)
async def reject(
    execution_id: uuid.UUID,
    body: ApprovalRequest,
    user: Executor,
    session: SessionDep,
    client: TemporalClientDep,
) -> ActionAccepted:
    return await _decide(execution_id, body, user, session, client, approved=False)


@router.post("/executions/{execution_id}/pause", status_code=202, response_model=ActionAccepted)
async def pause_execution(
    execution_id: uuid.UUID,
    user: Executor,
    session: SessionDep,
    client: TemporalClientDep,
) -> ActionAccepted:
    """No new step starts until resumed; running steps finish (409 if already paused)."""
    execution, _ = await operable_execution(session, user, execution_id)
    status = await run_control.pause(client, user, execution)
    return ActionAccepted(execution_id=execution.id, status=status)


@router.post("/executions/{execution_id}/resume", status_code=202, response_model=ActionAccepted)
async def resume_execution(
    execution_id: uuid.UUID,
    user: Executor,
    session: SessionDep,
    client: TemporalClientDep,
) -> ActionAccepted:
    execution, _ = await operable_execution(session, user, execution_id)
    status = await run_control.resume(client, user, execution)
    return ActionAccepted(execution_id=execution.id, status=status)


@router.post(
    "/executions/{execution_id}/steps/{step_id}/resolve",
    status_code=202,
    response_model=ActionAccepted,
)
async def resolve_step(
    execution_id: uuid.UUID,
    step_id: str,
    body: ResolveRequest,
    user: Executor,
    session: SessionDep,
    client: TemporalClientDep,
) -> ActionAccepted:
    """Decide on a parked step (409 when that step is not parked)."""
    execution, workflow = await operable_execution(session, user, execution_id)
    version = await workflow_version(session, workflow, execution.version)
    action = await run_control.resolve(
        client,
        user,
        workflow,
        execution,
        version.definition,
        step_id,
        action=body.action,
        output=body.output,
        with_=body.with_,
    )
    return ActionAccepted(execution_id=execution.id, status=action, step_id=step_id)


@router.post("/executions/{execution_id}/retry", status_code=202, response_model=ExecuteResult)
async def retry_execution(
    execution_id: uuid.UUID,
    user: Executor,
    session: SessionDep,
    client: TemporalClientDep,
    ctx: ContextDep,
    body: RetryRequest | None = None,
) -> ExecuteResult:
    """A new execution of the same input; ``from_failed`` reuses completed steps' outputs."""
    body = body or RetryRequest()
    execution, workflow = await operable_execution(session, user, execution_id)
    created = await redrive.retry_execution(
        session,
        client,
        ctx.settings,
        user,
        workflow,
        execution,
        from_failed=body.from_failed,
        version=body.version,
    )
    return executions.accepted(created)
