"""Reading stored definitions for ``workflow`` steps (child workflows)."""

from __future__ import annotations

import uuid
from secrets import token_hex

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

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
        )

    async def _find(
        self, session: AsyncSession, request: ChildDefinitionInput
    ) -> tuple[Workflow, WorkflowVersion]:
        try:
            workflow_id = uuid.UUID(request.workflow_id)
        except ValueError:
            workflow_id = None
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
