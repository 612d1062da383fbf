"""The client side of concurrency limits: asking a group's limiter, checking its holders.

Used by the worker's activities (for runs) and by the API (to refuse a ``cancel_newest``
start with a 409 before it is recorded). The limiter itself is
:class:`temporal_workflows.concurrency.ConcurrencyGroup`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowExecutionStatus
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.service import RPCError, RPCStatusCode
from tenacity import (
    AsyncRetrying,
    retry_if_exception,
    stop_after_delay,
    wait_random_exponential,
)

from temporal_workflows.concurrency import (
    ACQUIRE_UPDATE,
    ASK_SIGNAL,
    ATTEMPT_SEPARATOR,
    LIMITER_WORKFLOW,
    GroupState,
    PermitAnswer,
    PermitRequest,
)

# A burst over the cap is refused as RESOURCE_EXHAUSTED, or (update with start) as an
# aborted multi-operation with UNAVAILABLE.
_BUSY = frozenset({RPCStatusCode.RESOURCE_EXHAUSTED, RPCStatusCode.UNAVAILABLE})


def _limiter_busy(exc: BaseException) -> bool:
    return isinstance(exc, RPCError) and exc.status in _BUSY


async def ask_by_signal(client: Client, request: PermitRequest, task_queue: str) -> None:
    """Ask the group's limiter for a permit with signal-with-start (starting the limiter if
    the group has none), without waiting for the answer.

    Signals have no in-flight cap, unlike Updates, so a burst of asks is never refused. The
    limiter answers a run with a ``permit_answer`` signal; an activity attempt watches its
    place with the ``position`` query. Idempotent per holder, like :func:`request_permit`.
    """
    await client.start_workflow(
        LIMITER_WORKFLOW,
        GroupState(),
        id=request.group,
        task_queue=task_queue,
        start_signal=ASK_SIGNAL,
        start_signal_args=[request],
    )


async def request_permit(
    client: Client, request: PermitRequest, task_queue: str, *, patience: float = 30.0
) -> PermitAnswer:
    """Ask the group's limiter for a permit with the ``acquire`` update, starting the limiter
    if the group has none, and return its answer. For callers that need it at once (the API's
    ``cancel_newest`` check); runs ask with :func:`ask_by_signal`.

    Idempotent per holder: asking again answers as the first time did. Temporal lets a
    workflow have only so many Updates in flight (10 by default): a burst of asks over that
    is refused, and those are asked again shortly, for up to ``patience`` seconds.
    """
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(_limiter_busy),
        wait=wait_random_exponential(multiplier=0.02, max=1),
        stop=stop_after_delay(patience),
        reraise=True,
    ):
        with attempt:
            return await _ask(client, request, task_queue)
    raise AssertionError("unreachable: the last attempt raised or returned")


async def _ask(client: Client, request: PermitRequest, task_queue: str) -> PermitAnswer:
    start: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
        LIMITER_WORKFLOW,
        GroupState(),
        id=request.group,
        task_queue=task_queue,
        # Of two first runs of a group at once, one starts the limiter, both ask it.
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
    )
    answer: PermitAnswer = await client.execute_update_with_start_workflow(
        ACQUIRE_UPDATE, request, start_workflow_operation=start, result_type=PermitAnswer
    )
    return answer


async def closed_runs(client: Client, workflow_ids: list[str]) -> list[str]:
    """Which of these holders are gone: closed runs (or unknown to Temporal), and activity
    attempts (``<workflow id>|<activity id>|<attempt>``) no longer running. Their permits
    are free."""

    async def closed(holder: str) -> bool:
        workflow_id, _, attempt = holder.partition(ATTEMPT_SEPARATOR)
        try:
            description = await client.get_workflow_handle(workflow_id).describe()
        except RPCError as exc:
            if exc.status == RPCStatusCode.NOT_FOUND:
                return True
            raise
        if description.status != WorkflowExecutionStatus.RUNNING:
            return True
        if not attempt:
            return False
        activity_id, _, number = attempt.partition(ATTEMPT_SEPARATOR)
        # A timed-out attempt is retried under a new number: the old one is gone.
        return not any(
            pending.activity_id == activity_id and str(pending.attempt) == number
            for pending in description.raw_description.pending_activities
        )

    answers = await asyncio.gather(*(closed(w) for w in workflow_ids))
    return [w for w, done in zip(workflow_ids, answers, strict=True) if done]
