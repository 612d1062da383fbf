"""Workflows: validated definitions, versions on every definition change, ownership."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from api.context import AppContext
from api.errors import InvalidInput, PermissionDenied, ProblemDetail, not_found
from api.problems import json_pointer
from api.schemas.triggers import ScheduleTrigger, triggers_adapter
from api.schemas.workflows import WorkflowCreate, WorkflowPatch
from api.services.access import editable_workflow
from api.services.artifacts import delete_workflow_artifacts
from api.services.schedules import check_spec
from api.services.trigger_problems import trigger_problems
from api.services.triggers import (
    TriggerDeps,
    delete_workflow_triggers,
    follow_workflow_status,
    replace_workflow_triggers,
    trigger_change,
)
from core.access import can_see, visibility_filter
from core.settings import Settings
from db.models import User, Workflow, WorkflowVersion
from db.repositories.workflows import WorkflowFilter, WorkflowRepository
from temporal_workflows.definition import CompensateSpec, StepDefinition, WorkflowDefinition
from temporal_workflows.jinja_statements import statement_problems
from temporal_workflows.templates import is_template
from temporal_workflows.validation import DefinitionInvalid, validate_definition


def check_definition(raw: dict[str, Any], *, pointer: str = "/definition") -> WorkflowDefinition:
    """Parse and validate a definition; every problem becomes a 422 entry under ``pointer``."""
    try:
        return validate_definition(raw)
    except DefinitionInvalid as exc:
        errors = [ProblemDetail(pointer + p.pointer, p.message, p.code) for p in exc.problems]
        raise InvalidInput(detail=_summary(errors), errors=errors) from exc


async def check_saved_definition(
    session: AsyncSession, settings: Settings, owner: User, raw: dict[str, Any]
) -> WorkflowDefinition:
    """:func:`check_definition`, plus what needs the settings and the database.

    A step's ``concurrency`` and a literal ``foreach`` list are within the settings'
    limits, and a ``workflow`` step whose ``workflow_id`` is literal names a workflow that
    ``owner`` (the owner of the workflow being saved) may run; one named by an expression
    is checked when it runs.
    """
    statements = _statement_problems(raw)
    try:
        definition = check_definition(raw)
    except InvalidInput as exc:
        errors = exc.errors + statements
        raise InvalidInput(detail=_summary(errors), errors=errors) from None
    errors = statements + _limit_problems(definition, settings)
    errors += await _child_workflow_problems(session, owner, definition)
    if errors:
        raise InvalidInput(detail=_summary(errors), errors=errors)
    return definition


def _statement_problems(raw: dict[str, Any], pointer: str = "/definition") -> list[ProblemDetail]:
    """Jinja statements, refused when saving only (see temporal_workflows.jinja_statements)."""
    return [ProblemDetail(pointer + p.pointer, p.message, p.code) for p in statement_problems(raw)]


def _limit_problems(definition: WorkflowDefinition, settings: Settings) -> list[ProblemDetail]:
    errors = []
    for index, step in enumerate(definition.steps):
        if step.concurrency is not None and step.concurrency > settings.max_foreach_concurrency:
            errors.append(
                ProblemDetail(
                    f"/definition/steps/{index}/concurrency",
                    f"at most {settings.max_foreach_concurrency} "
                    "(HEADRACE_MAX_FOREACH_CONCURRENCY)",
                    "limit_exceeded",
                )
            )
        if isinstance(step.foreach, list) and len(step.foreach) > settings.max_foreach_items:
            errors.append(
                ProblemDetail(
                    f"/definition/steps/{index}/foreach",
                    f"at most {settings.max_foreach_items} items (HEADRACE_MAX_FOREACH_ITEMS)",
                    "limit_exceeded",
                )
            )
    return errors


async def _child_workflow_problems(
    session: AsyncSession, owner: User, definition: WorkflowDefinition
) -> list[ProblemDetail]:
    errors = []
    repo = WorkflowRepository(session)
    for pointer, action in _workflow_actions(definition.steps):
        child_id = action.with_.get("workflow_id")
        if not isinstance(child_id, str) or is_template(child_id):
            continue
        try:
            child = await repo.get(uuid.UUID(child_id))
        except ValueError:
            child = None
        if child is None or not can_see(owner, child):
            errors.append(
                ProblemDetail(
                    f"{pointer}/with/workflow_id",
                    f"no workflow {child_id} that this workflow's owner may run "
                    "(their own, or shared)",
                    "forbidden_child_workflow",
                )
            )
    return errors


def _workflow_actions(
    steps: Sequence[StepDefinition],
) -> list[tuple[str, StepDefinition | CompensateSpec]]:
    actions: list[tuple[str, StepDefinition | CompensateSpec]] = []
    for index, step in enumerate(steps):
        if step.type == "workflow":
            actions.append((f"/definition/steps/{index}", step))
        if step.compensate is not None and step.compensate.type == "workflow":
            actions.append((f"/definition/steps/{index}/compensate", step.compensate))
    return actions


def check_triggers(raw: list[dict[str, Any]]) -> list[dict[str, Any]]:
    try:
        parsed = triggers_adapter.validate_python(raw)
    except ValidationError as exc:
        errors = trigger_problems(exc.errors(), "/triggers", indexed=True)
        raise InvalidInput(detail=_summary(errors), errors=errors) from exc
    return [t.model_dump(exclude_none=True) for t in parsed]


def document_problems(raw: object) -> list[ProblemDetail]:
    """Every problem of a ``POST /workflows`` body that can be told offline (no database,
    no Temporal): the body's fields, the definition, the triggers and their schedule specs.

    What it cannot tell: limits of this server's settings, a ``workflow`` step's target, and
    a cron the shape checks pass but Temporal's own parser refuses.
    """
    try:
        data = WorkflowCreate.model_validate(raw)
    except ValidationError as exc:
        return [
            ProblemDetail(json_pointer(list(e["loc"])), e["msg"], e["type"]) for e in exc.errors()
        ]
    problems: list[ProblemDetail] = []
    try:
        check_definition(data.definition)
    except InvalidInput as exc:
        problems += exc.errors
    problems += _statement_problems(data.definition)
    try:
        triggers = check_triggers(data.triggers)
    except InvalidInput as exc:
        return problems + exc.errors
    for index, trigger in enumerate(triggers):
        if trigger["type"] == "schedule":
            spec = ScheduleTrigger.model_validate(trigger)
            problems += check_spec(spec, f"/triggers/{index}")
    return problems


def _summary(errors: list[ProblemDetail]) -> str:
    shown = "; ".join(f"{e.pointer}: {e.detail}" for e in errors[:3])
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return f"{len(errors)} problem(s): {shown}{more}"


async def create_workflow(
    session: AsyncSession, ctx: AppContext, owner: User, data: WorkflowCreate
) -> Workflow:
    if owner.role not in ("admin", "developer"):
        raise PermissionDenied(detail="Only developers and admins create workflows")
    await check_saved_definition(session, ctx.settings, owner, data.definition)
    triggers = check_triggers(data.triggers)
    repo = WorkflowRepository(session)
    # One unit: if the commit fails, the schedules made for the triggers are deleted again.
    async with trigger_change(session, TriggerDeps.of(ctx)) as change:
        workflow = await repo.add(
            Workflow(
                owner_id=owner.id,
                name=data.name,
                description=data.description,
                status=data.status,
                shared=data.shared,
                definition=data.definition,
                variables=data.variables,
                triggers=triggers,
                version=1,
            )
        )
        await repo.add_version(
            WorkflowVersion(
                workflow_id=workflow.id, version=1, definition=data.definition, created_by=owner.id
            )
        )
        await replace_workflow_triggers(change, workflow, triggers)
    return workflow


async def update_workflow(
    session: AsyncSession, ctx: AppContext, user: User, workflow_id: uuid.UUID, data: WorkflowPatch
) -> Workflow:
    """Apply the given fields; a changed definition becomes a new version.

    A workflow that stops being active pauses its schedules (it starts no runs, and the
    Temporal Web UI shows why); becoming active again resumes those the user did not pause.
    """
    workflow = await editable_workflow(session, user, workflow_id)
    changes = data.model_dump(exclude_unset=True)
    if changes.get("definition") is not None:
        owner = await session.get(User, workflow.owner_id)
        assert owner is not None  # users' workflows are deleted with them
        await check_saved_definition(session, ctx.settings, owner, changes["definition"])
    if changes.get("triggers") is not None:
        changes["triggers"] = check_triggers(changes["triggers"])
    new_definition = changes.pop("definition", None)
    previous_status = workflow.status
    async with trigger_change(session, TriggerDeps.of(ctx)) as change:
        for name, value in changes.items():
            if value is not None:
                setattr(workflow, name, value)
        if new_definition is not None and new_definition != workflow.definition:
            await _new_version(session, user, workflow, new_definition)
        if changes.get("triggers") is not None:
            await replace_workflow_triggers(change, workflow, changes["triggers"])
        if workflow.status != previous_status:
            await follow_workflow_status(change, workflow, previous_status)
    return workflow


async def _new_version(
    session: AsyncSession, user: User, workflow: Workflow, definition: dict[str, Any]
) -> None:
    workflow.version += 1
    workflow.definition = definition
    await WorkflowRepository(session).add_version(
        WorkflowVersion(
            workflow_id=workflow.id,
            version=workflow.version,
            definition=definition,
            created_by=user.id,
        )
    )


async def list_workflows(
    session: AsyncSession, user: User, *, status: str | None, q: str | None, limit: int, offset: int
) -> tuple[Sequence[Workflow], int]:
    base = visibility_filter(user)
    flt = WorkflowFilter(
        owner_id=base.owner_id, include_shared=base.include_shared, status=status, q=q
    )
    return await WorkflowRepository(session).page(flt, limit=limit, offset=offset)


async def delete_workflow(
    session: AsyncSession, ctx: AppContext, user: User, workflow_id: uuid.UUID
) -> None:
    workflow = await editable_workflow(session, user, workflow_id)
    # If the commit fails, the deleted schedules are re-created.
    async with trigger_change(session, TriggerDeps.of(ctx)) as change:
        await delete_workflow_triggers(change, workflow)
        await delete_workflow_artifacts(session, ctx.store, workflow)
        await WorkflowRepository(session).delete(workflow)


async def workflow_version(
    session: AsyncSession, workflow: Workflow, version: int | None
) -> WorkflowVersion:
    number = workflow.version if version is None else version
    found = await WorkflowRepository(session).version(workflow.id, number)
    if found is None:
        raise not_found(f"Version {number} of workflow", workflow.id)
    return found
