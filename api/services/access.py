"""Who may see and change what. Every ownership check goes through here."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import PermissionDenied, not_found
from db.models import Execution, User, Workflow
from db.repositories.workflows import WorkflowFilter, WorkflowRepository


def is_admin(user: User) -> bool:
    return user.role == "admin"


def can_see(user: User, workflow: Workflow) -> bool:
    return is_admin(user) or workflow.owner_id == user.id or workflow.shared


def can_edit(user: User, workflow: Workflow) -> bool:
    return is_admin(user) or (user.role == "developer" and workflow.owner_id == user.id)


def visibility_filter(user: User) -> WorkflowFilter:
    if is_admin(user):
        return WorkflowFilter()
    return WorkflowFilter(owner_id=user.id, include_shared=True)


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


async def visible_execution(
    session: AsyncSession, user: User, execution_id: uuid.UUID
) -> tuple[Execution, Workflow]:
    execution = await session.get(Execution, execution_id)
    workflow = await session.get(Workflow, execution.workflow_id) if execution else None
    if execution is None or workflow is None or not can_see(user, workflow):
        raise not_found("Execution", execution_id)
    return execution, workflow
