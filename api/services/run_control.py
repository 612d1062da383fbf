"""Acting on a live run: cancel, deliver an event, approve or reject, resolve a parked step.

Who may do it is decided before these run (:func:`api.services.access.operable_execution`),
except approvals, whose listed ``approvers`` are only known to the run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from temporalio.client import (
    Client,
    WorkflowHandle,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from api.errors import Conflict, InvalidInput, PermissionDenied, ProblemDetail, UpstreamUnavailable
from api.services.access import ensure_may_patch_step
from core.access import can_decide
from db.execution_projection import TERMINAL
from db.models import Execution, User, Workflow
from temporal_workflows.run_types import (
    ApprovalDecision,
    EventDelivery,
    RunControl,
    RunSnapshot,
    StepResolution,
)
from temporal_workflows.step_patches import step_patch_problems


def _ensure_durable(execution: Execution) -> None:
    """Operator actions act on a Temporal run; an express run has none (409)."""
    if execution.execution_mode == "express":
        raise Conflict(
            detail=f"Execution {execution.id} is an express run: it has no history to pause, "
            "resume, cancel, resolve or signal (it ends within HEADRACE_EXPRESS_MAX_DURATION); "
            "retry it as a whole run instead"
        )


def _ensure_live(execution: Execution) -> None:
    _ensure_durable(execution)
    if execution.status in TERMINAL:
        raise Conflict(detail=f"Execution {execution.id} has already ended ({execution.status})")


def _handle(client: Client, execution: Execution) -> WorkflowHandle[Any, Any]:
    return client.get_workflow_handle(execution.temporal_workflow_id)


async def cancel(client: Client, execution: Execution) -> None:
    _ensure_live(execution)
    try:
        await _handle(client, execution).cancel()
    except RPCError as exc:
        raise _rpc_problem(exc) from exc


async def deliver_event(client: Client, execution: Execution, name: str, payload: Any) -> str:
    _ensure_live(execution)
    return await _update(
        client, execution, "deliver_event", EventDelivery(name=name, payload=payload)
    )


async def decide(
    client: Client,
    user: User,
    workflow: Workflow,
    execution: Execution,
    *,
    approved: bool,
    comment: str | None,
    step_id: str | None,
) -> str:
    """Approve or reject: see :func:`api.services.access.can_decide`."""
    target, info = await waiting_approval(client, execution, step_id)
    if not can_decide(user, execution, workflow, info.get("approvers") or []):
        raise PermissionDenied(detail=f"You are not an approver of step {target}")
    return await send_decision(client, execution, target, approved, user.email, comment)


async def waiting_approvals(client: Client, execution: Execution) -> dict[str, dict[str, Any]]:
    """The run's approval steps waiting now: step id -> ``waiting_for`` entry."""
    _ensure_live(execution)
    snapshot = await snapshot_of(client, execution)
    return {sid: w for sid, w in snapshot.waiting_for.items() if w.get("kind") == "approval"}


async def waiting_approval(
    client: Client, execution: Execution, step_id: str | None
) -> tuple[str, dict[str, Any]]:
    """The approval step ``step_id`` (or the first one) waiting now; 409 if none is."""
    waiting = {
        sid: w
        for sid, w in (await waiting_approvals(client, execution)).items()
        if step_id is None or sid == step_id
    }
    if not waiting:
        raise Conflict(detail="No step of this execution is waiting for an approval")
    return next(iter(waiting.items()))


async def send_decision(
    client: Client,
    execution: Execution,
    step_id: str,
    approved: bool,
    by: str,
    comment: str | None,
) -> str:
    decision = ApprovalDecision(approved=approved, by=by, comment=comment, step_id=step_id)
    return await _update(client, execution, "decide_approval", decision)


async def pause(client: Client, user: User, execution: Execution) -> str:
    """No new step starts until :func:`resume`; running steps finish, timers keep running."""
    _ensure_live(execution)
    return await _update(client, execution, "pause", RunControl(by=user.email))


async def resume(client: Client, user: User, execution: Execution) -> str:
    _ensure_live(execution)
    return await _update(client, execution, "resume", RunControl(by=user.email))


async def resolve(
    client: Client,
    user: User,
    workflow: Workflow,
    execution: Execution,
    definition: Mapping[str, Any],
    step_id: str,
    *,
    action: str,
    output: Any,
    with_: dict[str, Any] | None,
) -> str:
    """Decide on a parked step: ``retry`` (optionally with a patched ``with``), ``skip``
    (it counts as completed with ``output``) or ``abort`` (the run fails).

    A ``with`` patch needs edit rights on the workflow and must pass the definition's own
    validation against the step type, without reading secrets (422 with ``/with/...``).
    """
    _ensure_live(execution)
    if with_ is not None:
        ensure_may_patch_step(user, workflow)
        problems = step_patch_problems(definition, step_id, with_)
        if problems:
            raise InvalidInput(
                detail=f"{problems[0].pointer}: {problems[0].message}",
                errors=[ProblemDetail(p.pointer, p.message, p.code) for p in problems],
            )
    resolution = StepResolution.model_validate(
        {"step_id": step_id, "action": action, "output": output, "with": with_, "by": user.email}
    )
    return await _update(client, execution, "resolve_step", resolution)


async def snapshot_of(client: Client, execution: Execution) -> RunSnapshot:
    _ensure_durable(execution)
    try:
        snapshot: RunSnapshot = await _handle(client, execution).query(
            "state", result_type=RunSnapshot
        )
    except WorkflowQueryFailedError as exc:
        raise UpstreamUnavailable(detail=f"The run could not answer: {exc.message}") from exc
    except RPCError as exc:
        raise _rpc_problem(exc) from exc
    return snapshot


async def queue_position(client: Client, execution: Execution) -> int | None:
    """A queued run's 1-based place in its concurrency group's queue (None if unknown)."""
    group = (await snapshot_of(client, execution)).concurrency_group
    if group is None:
        return None
    try:
        place = await client.get_workflow_handle(group).query(
            "position", execution.temporal_workflow_id
        )
    except (WorkflowQueryFailedError, RPCError):
        return None  # the grant may be on its way: the row says queued a moment longer
    return place if isinstance(place, int) and place > 0 else None


async def _update(client: Client, execution: Execution, name: str, arg: Any) -> str:
    try:
        result: str = await _handle(client, execution).execute_update(name, arg, result_type=str)
    except WorkflowUpdateFailedError as exc:
        reason = exc.cause.message if hasattr(exc.cause, "message") else str(exc.cause)
        raise Conflict(detail=str(reason)) from exc
    except WorkflowUpdateRPCTimeoutOrCancelledError as exc:
        raise UpstreamUnavailable(detail="The run did not answer in time") from exc
    except RPCError as exc:
        raise _rpc_problem(exc) from exc
    return result


def _rpc_problem(exc: RPCError) -> Conflict | UpstreamUnavailable:
    if exc.status in (RPCStatusCode.NOT_FOUND, RPCStatusCode.FAILED_PRECONDITION):
        return Conflict(detail=f"The run is not running: {exc.message}")
    return UpstreamUnavailable(detail=f"Temporal: {exc.message}")
