"""Ownership checks of the API: the rules of :mod:`core.access`, as 403s and 404s.

Every ownership check of a route goes through here (docs/security.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import PermissionDenied, not_found
from core.access import can_edit, can_operate, can_see
from db.models import Execution, User, Workflow
from db.repositories.workflows import WorkflowRepository


async def visible_workflow(session: AsyncSession, user: User, workflow_id: uuid.UUID) -> Workflow:
    """The workflow if the caller may see it; 404 otherwise (its existence is not revealed)."""
    workflow = await WorkflowRepository(session).get(workflow_id)
    if workflow is None or not can_see(user, workflow):
        raise not_found("Workflow", workflow_id)
    return workflow


async def editable_workflow(session: AsyncSession, user: User, workflow_id: uuid.UUID) -> Workflow:
    workflow = await visible_workflow(session, user, workflow_id)
    if not can_edit(user, workflow):
        raise PermissionDenied(detail="Only the owner (a developer) or an admin may change it")
    return workflow


def ensure_may_override_variables(
    user: User, workflow: Workflow, variables: Mapping[str, Any]
) -> None:
    """Overriding ``variables`` changes what the workflow does: only its editors may."""
    if variables and not can_edit(user, workflow):
        raise PermissionDenied(
            detail="Only the workflow's owner (a developer) or an admin may override its "
            "variables; run it without `variables`"
        )


def ensure_may_patch_step(user: User, workflow: Workflow) -> None:
    """A ``with`` patch rewrites a step of the workflow for this run: an edit of it."""
    if not can_edit(user, workflow):
        raise PermissionDenied(
            detail="Only the workflow's owner (a developer) or an admin may retry a step with "
            "a changed `with`; retry it as it is, skip or abort it"
        )


async def visible_execution(
    session: AsyncSession, user: User, execution_id: uuid.UUID
) -> tuple[Execution, Workflow]:
    execution = await session.get(Execution, execution_id)
    workflow = await session.get(Workflow, execution.workflow_id) if execution else None
    if execution is None or workflow is None or not can_see(user, workflow):
        raise not_found("Execution", execution_id)
    return execution, workflow


async def operable_execution(
    session: AsyncSession, user: User, execution_id: uuid.UUID
) -> tuple[Execution, Workflow]:
    """The run if the caller may change it: 404 if it may not even see it, else 403."""
    execution, workflow = await visible_execution(session, user, execution_id)
    if not can_operate(user, execution, workflow):
        raise PermissionDenied(
            detail="Only the run's starter, the workflow's owner or an admin may operate it"
        )
    return execution, workflow
