"""Run one step of an unsaved definition with sample data (the builder's "Test this step").

Templates are evaluated here with the same expression sandbox and work budget as the
interpreter. Pure steps (transform, log, fail) then run here; an ``http`` step runs on the
worker (temporal_workflows/step_test.py), through the same activity, network guard (SSRF) and
limits as in a run: the API itself never makes the request. Secrets and named connections
belong to a saved workflow's owner and are not available to a test.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from temporalio.client import WorkflowFailureError
from temporalio.service import RPCError

from api.errors import InvalidInput, ProblemDetail, UpstreamUnavailable
from api.problems import json_pointer
from api.schemas.workflows import StepTest, StepTestResult
from api.temporal_client import TemporalGateway
from core.settings import Settings
from temporal_workflows.clock import iso
from temporal_workflows.definition import STEP_TYPES, StepDefinition, WorkflowDefinition, is_pure
from temporal_workflows.expressions import ExpressionError, build_context, evaluate
from temporal_workflows.retry import step_timeout
from temporal_workflows.step_test import (
    STEP_TEST_WORKFLOW,
    StepTestInput,
    StepTestOutcome,
    http_step_request,
)
from temporal_workflows.step_types import WITH_MODELS, parse_with

# The pure steps whose result is a function of their evaluated ``with`` alone; waits
# (sleep, wait_for_event, approval) need a run to wait in.
TESTABLE_STEP_TYPES = frozenset({"transform", "log", "fail", "http"})
# A tested request waits at most this long, whatever the step's own timeout says.
MAX_TEST_TIMEOUT = timedelta(seconds=30)


async def test_step(
    request: StepTest, temporal: TemporalGateway, settings: Settings
) -> StepTestResult:
    """Evaluate ``request.step_id``'s ``with`` against the sample data and run the step.

    Raises:
        InvalidInput: The definition is invalid, the step is unknown, or its type cannot be
            tested here (the pointer names the step's ``type``).
    """
    # Only the step itself must be valid: the rest of a definition being built may not be yet.
    raw_steps = request.definition.get("steps")
    raw_steps = raw_steps if isinstance(raw_steps, list) else []
    index = next(
        (
            i
            for i, s in enumerate(raw_steps)
            if isinstance(s, dict) and s.get("id") == request.step_id
        ),
        None,
    )
    if index is None:
        raise InvalidInput(
            detail=f"no step {request.step_id!r} in the definition",
            errors=[ProblemDetail("/step_id", "no such step in the definition", "unknown_step")],
        )
    step = _checked_step(raw_steps[index], index)
    if step.type not in TESTABLE_STEP_TYPES:
        raise InvalidInput(
            detail=f"a {step.type} step cannot be tested on its own yet: run the workflow",
            errors=[
                ProblemDetail(
                    f"/definition/steps/{index}/type",
                    f"only {', '.join(sorted(TESTABLE_STEP_TYPES))} steps can be tested alone",
                    "not_testable",
                )
            ],
        )
    variables = request.definition.get("variables")
    started = datetime.now(UTC)
    context = build_context(
        input=request.input,
        vars=variables if isinstance(variables, dict) else {},
        steps={sid: {"output": out, "status": "completed"} for sid, out in request.outputs.items()},
        execution_id="test-step",
        workflow_id="test-step",
        secrets={},  # a test has no owner whose secrets it could read
        # As a manual run started now: execution.started_at, trigger and now().
        started_at=iso(started),
        trigger={"type": "manual", "id": None, "scheduled_at": None},
        now=lambda: iso(datetime.now(UTC)),
    )
    try:
        params: Any = evaluate(step.with_, context, location=f"steps.{step.id}.with")
    except ExpressionError as exc:
        return _failed(step.id, step.type, str(exc), "ExpressionError")
    if step.type == "http":
        if params.get("connection"):
            raise InvalidInput(
                detail="named connections are available to runs only",
                errors=[
                    ProblemDetail(
                        f"/definition/steps/{index}/with/connection",
                        "a test cannot use a connection: give the url instead",
                        "not_testable",
                    )
                ],
            )
        return await _run_on_worker(step, params, temporal, settings)
    return _run(step.id, step.type, params)


async def _run_on_worker(
    step: StepDefinition, params: dict[str, Any], temporal: TemporalGateway, settings: Settings
) -> StepTestResult:
    timeout = min(step_timeout(step), MAX_TEST_TIMEOUT)
    test = StepTestInput(
        request=http_step_request(step.id, params), timeout_seconds=timeout.total_seconds()
    )
    try:
        client = await temporal.client()
        outcome: StepTestOutcome = await client.execute_workflow(
            STEP_TEST_WORKFLOW,
            test,
            id=f"step-test-{uuid.uuid4()}",
            task_queue=settings.task_queue,
            result_type=StepTestOutcome,
            execution_timeout=timeout + timedelta(seconds=15),
        )
    except (RPCError, WorkflowFailureError, OSError, RuntimeError) as exc:
        raise UpstreamUnavailable(detail=f"the worker could not run the step: {exc}") from exc
    if outcome.completed:
        return StepTestResult(
            step_id=step.id, type=step.type, status="completed", output=outcome.output
        )
    return _failed(step.id, step.type, outcome.error or "failed", outcome.error_type or "Error")


def _checked_step(raw: Any, index: int) -> StepDefinition:
    pointer = f"/definition/steps/{index}"
    try:
        step = StepDefinition.model_validate(raw)
    except ValidationError as exc:
        raise _invalid(index, pointer, exc) from exc
    try:
        parse_with(step.type, step.with_)
    except ValidationError as exc:
        raise _invalid(index, f"{pointer}/with", exc) from exc
    return step


def _invalid(index: int, pointer: str, exc: ValidationError) -> InvalidInput:
    errors = [ProblemDetail(pointer + json_pointer(e["loc"]), e["msg"]) for e in exc.errors()]
    return InvalidInput(detail=f"step {index} is invalid", errors=errors)


def _run(step_id: str, step_type: str, params: dict[str, Any]) -> StepTestResult:
    # The same results as the interpreter's _step_transform / _step_log / _step_fail.
    if step_type == "transform":
        output: Any = params
    elif step_type == "log":
        output = {
            "message": str(params.get("message", "")),
            "level": str(params.get("level", "info")),
        }
    else:
        message = str(params.get("message", "failed"))
        return _failed(step_id, step_type, message, str(params.get("error_type") or "FailStep"))
    return StepTestResult(step_id=step_id, type=step_type, status="completed", output=output)


def _failed(step_id: str, step_type: str, error: str, error_type: str) -> StepTestResult:
    return StepTestResult(
        step_id=step_id, type=step_type, status="failed", error=error, error_type=error_type
    )


def definition_schema() -> dict[str, Any]:
    """The definition's JSON Schema, with each step type's ``with`` schema under ``x-step-with``.

    The builder derives its palette and its forms from this, so a new step type gets a form
    without new UI code.
    """
    schema = WorkflowDefinition.model_json_schema(by_alias=True, mode="validation")
    free_form = {"type": "object", "additionalProperties": True, "description": "Any fields."}
    schema["x-step-with"] = {
        name: {
            "pure": is_pure(name),
            "testable": name in TESTABLE_STEP_TYPES,
            "with": WITH_MODELS[name].model_json_schema(by_alias=True, mode="validation")
            if name in WITH_MODELS
            else free_form,
        }
        for name in STEP_TYPES
    }
    return schema
