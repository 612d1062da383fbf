"""Reading stored definitions for ``workflow`` steps (child workflows).

A ``workflow`` step runs its child with the rights of the parent workflow's owner, so the
loader refuses (``ChildWorkflowForbidden``, not retried) a child that owner may not run:
the rule of :func:`core.access.can_see` (the owner's own, shared, or any if the
owner is an admin). The owner is read now, not taken from the run's input.
"""

from __future__ import annotations

import uuid
from secrets import token_hex

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from core.access import can_see
from db.models import Workflow, WorkflowVersion
from db.repositories.workflows import WorkflowRepository
from temporal_workflows.run_types import ChildDefinition, ChildDefinitionInput
from temporal_workflows.validation import DefinitionInvalid, validate_definition


class DefinitionActivities:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    @activity.defn(name="load_child_definition")
    async def load_child_definition(self, request: ChildDefinitionInput) -> ChildDefinition:
        async with self._sessions() as session:
            workflow, version = await self._find(session, request)
            if request.parent_workflow_id is not None:
                await self._check_owner_may_run(session, request.parent_workflow_id, workflow)
        try:
            definition = validate_definition(version.definition)
        except DefinitionInvalid as exc:
            raise ApplicationError(
                f"workflow {workflow.id} v{version.version} is invalid",
                type="InvalidChildDefinition",
                non_retryable=True,
            ) from exc
        return ChildDefinition(
            workflow_id=str(workflow.id),
            version=version.version,
            definition=definition,
            variables=workflow.variables or {},
            secret_key=token_hex(16),
            name=workflow.name,
        )

    async def _check_owner_may_run(
        self, session: AsyncSession, parent_workflow_id: str, child: Workflow
    ) -> None:
        owner = await WorkflowRepository(session).owner(parent_workflow_id)
        if owner is None or not can_see(owner, child):
            raise ApplicationError(
                f"workflow {parent_workflow_id} may not run workflow {child.id}: "
                "its owner may run only their own workflows and shared ones",
                type="ChildWorkflowForbidden",
                non_retryable=True,
            )

    async def _find(
        self, session: AsyncSession, request: ChildDefinitionInput
    ) -> tuple[Workflow, WorkflowVersion]:
        workflow_id = _uuid(request.workflow_id)
        repo = WorkflowRepository(session)
        workflow = await repo.get(workflow_id) if workflow_id else None
        if workflow is None:
            raise ApplicationError(
                f"workflow {request.workflow_id} does not exist",
                type="ChildWorkflowNotFound",
                non_retryable=True,
            )
        version = await repo.version(workflow.id, request.version or workflow.version)
        if version is None:
            raise ApplicationError(
                f"workflow {workflow.id} has no version {request.version}",
                type="ChildWorkflowNotFound",
                non_retryable=True,
            )
        return workflow, version


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None
