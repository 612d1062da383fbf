"""Retrying an execution: from scratch, or from its failed steps on (redrive)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.errors import Conflict, InvalidInput, ProblemDetail
from api.services.executions import Redrive, completed_outputs, start_execution
from api.services.workflows import check_definition, workflow_version
from core.settings import Settings
from db.execution_projection import TERMINAL
from db.models import Execution, User, Workflow
from temporal_workflows.definition import WorkflowDefinition


async def retry_execution(
    session: AsyncSession,
    client: Client,
    settings: Settings,
    user: User,
    workflow: Workflow,
    original: Execution,
    *,
    from_failed: bool,
    version: int | None,
) -> Execution:
    """A new execution with the same input; ``from_failed`` reuses completed steps' outputs."""
    if original.status not in TERMINAL:
        raise Conflict(detail=f"Execution {original.id} is still {original.status}")
    if from_failed and original.execution_mode == "express":
        raise Conflict(
            detail=f"Execution {original.id} is an express run: retry it as a whole run "
            "(from_failed reuses step outputs of a durable run's history)"
        )
    target = await workflow_version(session, workflow, version or original.version)
    reused: dict[str, Any] = {}
    if from_failed:
        retried = await workflow_version(session, workflow, original.version)
        before = check_definition(retried.definition)
        after = check_definition(target.definition)
        reused = completed_outputs(original)
        _check_same_upstream(before, after, sorted(reused))
    return await start_execution(
        session,
        client,
        settings,
        user.id,
        workflow,
        input_data=original.input_data,
        variables=original.variables or {},
        trigger_type="retry",
        version_number=target.version,
        redrive=Redrive(original.id, reused),
    )


def _ancestors(definition: WorkflowDefinition, step_id: str) -> set[str]:
    steps = definition.step_map()
    seen: set[str] = set()
    pending = list(steps[step_id].depends_on)
    while pending:
        current = pending.pop()
        if current not in seen:
            seen.add(current)
            pending.extend(steps[current].depends_on)
    return seen


def _check_same_upstream(
    before: WorkflowDefinition, after: WorkflowDefinition, reused: list[str]
) -> None:
    """A reused output is only valid if its step still exists downstream of the same steps."""
    new_steps = after.step_map()
    problems = []
    for step_id in reused:
        if step_id not in new_steps:
            problems.append(
                ProblemDetail(
                    "/version",
                    f"step {step_id!r} completed in the retried run but does not exist "
                    "in the target version, so its output cannot be reused",
                    "reused_step_missing",
                )
            )
            continue
        was, now = _ancestors(before, step_id), _ancestors(after, step_id)
        if was != now:
            problems.append(
                ProblemDetail(
                    "/version",
                    f"step {step_id!r} has different upstream steps in the target version "
                    f"(was {sorted(was)}, now {sorted(now)}), so its output cannot be reused",
                    "reused_step_upstream_changed",
                )
            )
    if problems:
        raise InvalidInput(detail="; ".join(p.detail for p in problems), errors=problems)
