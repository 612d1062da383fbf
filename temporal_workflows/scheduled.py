"""The action of every schedule trigger: load the workflow's latest version, then run it.

A Temporal Schedule starts ``HeadraceScheduledRun`` with an id it makes unique by appending
the fire time. The launcher reads the definition at fire time (so an edited workflow runs
its newest version) and starts the interpreter as a child whose id — the execution id — is
a UUIDv5 of the launcher's id: the API can name the execution of any recent schedule action
without asking anyone. The launcher waits for the run, so the schedule's overlap policy
applies to runs, not to launchers.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ActivityError, ApplicationError, ChildWorkflowError

with workflow.unsafe.imports_passed_through():
    from temporal_workflows.run_types import (
        INTERPRETER_WORKFLOW,
        ChildDefinition,
        ChildDefinitionInput,
        RunInput,
        RunLimits,
        RunResult,
    )
    from temporal_workflows.validation import validate_input
    from temporal_workflows.visibility import (
        RUN_VISIBILITY,
        run_details,
        run_search_attributes,
        run_summary,
    )

SCHEDULED_WORKFLOW = "HeadraceScheduledRun"
# Fixed forever: execution ids of past schedule actions are derived from it.
EXECUTION_NAMESPACE = uuid.UUID("6f1d3c52-9a4e-4f8e-b7a1-3c2d9e5f0a17")
# The trigger's rows are committed just after its schedule is created; a fire in between
# finds no workflow yet, so "not found" is retried this many times, a second apart.
NOT_FOUND_RETRIES = 5
LOAD_TIMEOUT = timedelta(seconds=30)
# Temporal sets it on every workflow a Schedule starts: the time the action was due.
SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")


class ScheduledRunInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workflow_id: str
    trigger_id: str
    input: Any = None
    variables: dict[str, Any] = Field(default_factory=dict)
    created_by: str | None = None
    # Set when the schedule is created or updated; older schedules get the defaults.
    limits: RunLimits = Field(default_factory=RunLimits)
    dashboard_url: str = ""  # HEADRACE_PUBLIC_URL, for the run's details in the Web UI


def execution_id_for(launcher_workflow_id: str) -> uuid.UUID:
    """The execution id of the run a schedule action (this launcher id) starts."""
    return uuid.uuid5(EXECUTION_NAMESPACE, launcher_workflow_id)


@workflow.defn(name=SCHEDULED_WORKFLOW)
class HeadraceScheduledRun:
    @workflow.run
    async def run(self, request: ScheduledRunInput) -> RunResult:
        child = await self._load(request.workflow_id)
        problems = validate_input(child.definition, request.input)
        if problems:
            raise ApplicationError(
                f"the trigger's input_data does not match the input_schema: {problems[0].message}",
                type="InvalidInput",
                non_retryable=True,
            )
        execution_id = str(execution_id_for(workflow.info().workflow_id))
        run = RunInput(
            execution_id=execution_id,
            workflow_id=child.workflow_id,
            version=child.version,
            definition=child.definition,
            input=request.input,
            variables={**child.variables, **request.variables},
            trigger_type="schedule",
            trigger_id=request.trigger_id,
            scheduled_at=workflow.info().typed_search_attributes.get(SCHEDULED_START_TIME),
            created_by=request.created_by,
            secret_key=child.secret_key,
            limits=request.limits,
            workflow_name=child.name,
            dashboard_url=request.dashboard_url,
        )
        visibility: dict[str, Any] = {"static_summary": f"scheduled run {execution_id}"}
        if workflow.patched(RUN_VISIBILITY):
            visibility = {
                "search_attributes": run_search_attributes(run),
                "static_summary": run_summary(run),
                "static_details": run_details(run),
            }
        try:
            result: RunResult = await workflow.execute_child_workflow(
                INTERPRETER_WORKFLOW,
                run,
                id=execution_id,
                result_type=RunResult,
                **visibility,
            )
        except ChildWorkflowError as exc:
            return RunResult(status="failed", error=str(exc.cause or exc))
        return result

    async def _load(self, workflow_id: str) -> ChildDefinition:
        attempt = 0
        while True:
            try:
                loaded: ChildDefinition = await workflow.execute_activity(
                    "load_child_definition",
                    ChildDefinitionInput(workflow_id=workflow_id),
                    result_type=ChildDefinition,
                    start_to_close_timeout=LOAD_TIMEOUT,
                    retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=10)),
                )
                return loaded
            except ActivityError as exc:
                cause = exc.cause
                not_found = isinstance(cause, ApplicationError) and (
                    cause.type == "ChildWorkflowNotFound"
                )
                if not not_found or attempt >= NOT_FOUND_RETRIES:
                    raise ApplicationError(
                        f"cannot load workflow {workflow_id}: {cause or exc}",
                        type="ScheduledWorkflowUnavailable",
                        non_retryable=True,
                    ) from exc
            attempt += 1
            await workflow.sleep(timedelta(seconds=1))
