"""The API's part in concurrency limits: refuse a ``cancel_newest`` start with a 409.

Everything else (queueing, cancelling the oldest run, giving permits back) happens in the
runs and their group's limiter (temporal_workflows/concurrency.py); see
docs/architecture.md.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError

from api.errors import ConcurrencyLimitReached
from api.temporal_client import connect_failed
from core.concurrency import request_permit
from core.settings import Settings
from db.models import Workflow
from temporal_workflows.concurrency import PermitRequest, group_id
from temporal_workflows.definition import WorkflowDefinition
from temporal_workflows.expressions import ExpressionError, build_context

logger = logging.getLogger(__name__)


async def claim_start_permit(
    client: Client,
    settings: Settings,
    workflow: Workflow,
    definition: WorkflowDefinition,
    *,
    execution_id: uuid.UUID,
    input_data: Any,
    variables: dict[str, Any],
) -> None:
    """For a workflow with ``on_limit: cancel_newest``, take the run's permit now.

    A full group refuses with :class:`ConcurrencyLimitReached` before anything is recorded.
    A granted permit is held under the execution id, so the run, when it asks, finds it
    already has it. Other workflows pay nothing here. When the limiter cannot be asked
    (Temporal away) or the key cannot be rendered, the run decides when it starts.
    """
    spec = definition.concurrency
    if spec is None or spec.on_limit != "cancel_newest":
        return
    context = build_context(
        input=input_data,
        vars={**definition.variables, **(workflow.variables or {}), **variables},
        steps={},
        execution_id=str(execution_id),
        workflow_id=str(workflow.id),
    )
    try:
        group = group_id(str(workflow.id), spec, context)
    except ExpressionError:
        return  # the run fails on it, with the error in its record
    request = PermitRequest(
        group=group,
        holder=str(execution_id),
        limit=spec.limit,
        on_limit=spec.on_limit,
        reclaim_seconds=settings.concurrency_reclaim_seconds,
    )
    try:
        # Briefly: a start must not hang on a busy limiter; the run asks again anyway.
        answer = await request_permit(client, request, settings.task_queue, patience=2.0)
    except (RPCError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and not connect_failed(exc):
            raise
        logger.warning("concurrency limiter unreachable (%s): the run will ask itself", exc)
        return
    if answer.outcome == "refused":
        raise ConcurrencyLimitReached(
            detail=f"{spec.limit} runs of this workflow"
            + (" with this concurrency key" if spec.key else "")
            + " are running (concurrency.on_limit: cancel_newest); start again when one ends"
        )
