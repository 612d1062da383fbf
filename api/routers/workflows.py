from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from api.deps import ContextDep, Reader, SessionDep, Writer
from api.schemas.common import Page, PageLimit, PageOffset
from api.schemas.storable import StorableText
from api.schemas.workflows import (
    DefinitionCheck,
    StepTest,
    StepTestResult,
    ValidationResult,
    WorkflowCreate,
    WorkflowPatch,
    WorkflowPublic,
    WorkflowReplace,
    WorkflowStatus,
    WorkflowVersionPublic,
)
from api.services import step_test, workflows
from api.services.access import visible_workflow
from api.services.executions import temporal_runs_url
from db.repositories.workflows import WorkflowRepository

router = APIRouter(prefix="/workflows", tags=["workflows"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WorkflowPublic)
async def create_workflow(
    data: WorkflowCreate, user: Writer, session: SessionDep, ctx: ContextDep
) -> WorkflowPublic:
    return WorkflowPublic.model_validate(await workflows.create_workflow(session, ctx, user, data))


@router.post("/validate", response_model=ValidationResult)
async def validate_definition(
    body: DefinitionCheck, user: Reader, session: SessionDep, ctx: ContextDep
) -> ValidationResult:
    """Check a definition without storing it: 200, or 422 with one pointer per problem.

    It is checked as the caller's own: child workflows they may not run are refused.
    """
    definition = await workflows.check_saved_definition(
        session, ctx.settings, user, body.definition
    )
    return ValidationResult(valid=True, steps=len(definition.steps))


@router.get("/definition-schema")
async def definition_schema(user: Reader) -> dict[str, Any]:
    """The definition's JSON Schema; ``x-step-with`` holds each step type's ``with`` schema."""
    return step_test.definition_schema()


@router.post("/test-step", response_model=StepTestResult)
async def test_step(body: StepTest, user: Reader, ctx: ContextDep) -> StepTestResult:
    """Run one step of a definition with sample input and upstream outputs, without saving.

    transform, log and fail are evaluated with the run's expression sandbox; http runs once on
    the worker with the run's network guard and limits; other types are a 422 pointing at the
    step's ``type``.
    """
    return await step_test.test_step(body, ctx.temporal, ctx.settings)


@router.get("", response_model=Page[WorkflowPublic])
async def list_workflows(
    user: Reader,
    session: SessionDep,
    status: WorkflowStatus | None = None,
    q: Annotated[StorableText | None, Query(max_length=200)] = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Page[WorkflowPublic]:
    rows, total = await workflows.list_workflows(
        session, user, status=status, q=q, limit=limit, offset=offset
    )
    data = [WorkflowPublic.model_validate(w) for w in rows]
    return Page.of(data, count=total, limit=limit, offset=offset)


@router.get("/{workflow_id}", response_model=WorkflowPublic)
async def get_workflow(
    workflow_id: uuid.UUID, user: Reader, session: SessionDep, ctx: ContextDep
) -> WorkflowPublic:
    workflow = await visible_workflow(session, user, workflow_id)
    public = WorkflowPublic.model_validate(workflow)
    public.temporal_ui_url = temporal_runs_url(ctx.settings, str(workflow.id), workflow.name)
    return public


@router.put("/{workflow_id}", response_model=WorkflowPublic)
async def replace_workflow(
    workflow_id: uuid.UUID,
    data: WorkflowReplace,
    user: Writer,
    session: SessionDep,
    ctx: ContextDep,
) -> WorkflowPublic:
    patch = WorkflowPatch.model_validate(data.model_dump())
    return WorkflowPublic.model_validate(
        await workflows.update_workflow(session, ctx, user, workflow_id, patch)
    )


@router.patch("/{workflow_id}", response_model=WorkflowPublic)
async def patch_workflow(
    workflow_id: uuid.UUID,
    data: WorkflowPatch,
    user: Writer,
    session: SessionDep,
    ctx: ContextDep,
) -> WorkflowPublic:
    return WorkflowPublic.model_validate(
        await workflows.update_workflow(session, ctx, user, workflow_id, data)
    )


@router.delete("/{workflow_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_workflow(
    workflow_id: uuid.UUID, user: Writer, session: SessionDep, ctx: ContextDep
) -> None:
    await workflows.delete_workflow(session, ctx, user, workflow_id)


@router.get("/{workflow_id}/versions", response_model=list[WorkflowVersionPublic])
async def list_versions(
    workflow_id: uuid.UUID, user: Reader, session: SessionDep
) -> list[WorkflowVersionPublic]:
    workflow = await visible_workflow(session, user, workflow_id)
    rows = await WorkflowRepository(session).versions(workflow.id)
    return [WorkflowVersionPublic.model_validate(v) for v in rows]
