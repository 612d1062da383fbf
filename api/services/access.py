"""Who may see and change what. Every ownership check goes through here.

The rules (docs/security-authorization.md):

- see a workflow and its runs: an admin, its owner, anyone when it is ``shared``;
- edit a workflow (and override its ``variables`` when running it): an admin, or its owner
  if a developer;
- API key scopes: a key holds some of its user's role scopes (:data:`ROLE_SCOPES`); a request
  made with the key has only those. A logged-in user (a JWT) has all of its role's scopes.
- operate a run (cancel, pause, resume, signal, approve, reject, retry, resolve a parked
  step): an admin, the workflow's owner, or the run's starter (``Execution.created_by``);
  a listed approver may also approve or reject that approval step.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import PermissionDenied, not_found
from api.schemas.api_keys import Scope
from db.models import Execution, User, Workflow
from db.repositories.workflows import WorkflowFilter, WorkflowRepository

SCOPES: tuple[Scope, ...] = get_args(Scope)
ROLE_SCOPES: Mapping[str, frozenset[str]] = {
    "admin": frozenset(SCOPES),
    "developer": frozenset({"read", "write", "execute"}),
    "user": frozenset({"read", "write", "execute"}),
}
# Keys stored with no permissions were made before scopes were enforced: read-only.
LEGACY_KEY_SCOPES = frozenset({"read"})


def role_scopes(role: str) -> frozenset[str]:
    return ROLE_SCOPES.get(role, frozenset())


def key_scopes(user: User, permissions: Sequence[str]) -> frozenset[str]:
    """What a request made with an API key may do: its permissions within its user's role."""
    return role_scopes(user.role) & (frozenset(permissions) or LEGACY_KEY_SCOPES)


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


def can_operate(user: User, execution: Execution, workflow: Workflow) -> bool:
    """Admins, the workflow's owner and the run's starter may change a run."""
    return (
        is_admin(user)
        or workflow.owner_id == user.id
        or (execution.created_by is not None and execution.created_by == user.id)
    )


def can_decide(
    user: User, execution: Execution, workflow: Workflow, approvers: Sequence[str]
) -> bool:
    """Who may approve or reject a step: its listed ``approvers`` (when it lists any), else
    whoever may operate the run. Admins and the workflow's owner always may."""
    if approvers:
        listed = {a.lower() for a in approvers}
        return is_admin(user) or workflow.owner_id == user.id or user.email.lower() in listed
    return can_operate(user, execution, workflow)


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
