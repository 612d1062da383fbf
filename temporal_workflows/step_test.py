"""One ``http`` step run alone, for the builder's "Test this step" (POST /workflows/test-step).

The API renders the step's templates with the sample data; this workflow runs the same
``run_http_step`` activity a run does, on the worker, so the request goes through the same
network guard (SSRF), size and time limits. Once, without retries, and without recording
anything: there is no execution behind it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from temporal_workflows.run_types import HttpStepInput, StepLifecycle, StepOutcome
    from temporal_workflows.step_runners import cause_message

STEP_TEST_WORKFLOW = "HeadraceStepTest"


class StepTestInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    request: dict[str, Any]  # HttpStepInput's fields
    timeout_seconds: float


class StepTestOutcome(BaseModel):
    model_config = ConfigDict(frozen=True)

    completed: bool
    output: Any = None
    error: str | None = None
    error_type: str | None = None


def http_step_request(step_id: str, params: dict[str, Any]) -> dict[str, Any]:
    """An http step's evaluated ``with`` as ``run_http_step``'s input, as the interpreter
    builds it, minus what only a run has (its execution, its owner's secrets and connections).
    """
    return {
        "step_id": step_id,
        "execution_id": "",
        "method": str(params.get("method", "GET")).upper(),
        "url": params.get("url"),
        "headers": params.get("headers") or {},
        "query": params.get("query") or {},
        "json": params.get("json"),
        "body": params.get("body"),
        "form": params.get("form"),
        "auth": params.get("auth"),
        "expect_status": params.get("expect_status") or [],
        "follow_redirects": params.get("follow_redirects", True),
        "paginate": params.get("paginate"),
    }


@workflow.defn(name=STEP_TEST_WORKFLOW)
class HeadraceStepTest:
    @workflow.run
    async def run(self, test: StepTestInput) -> StepTestOutcome:
        request = HttpStepInput(
            **test.request, lifecycle=StepLifecycle(emit=False, step_type="http")
        )
        try:
            outcome: StepOutcome = await workflow.execute_activity(
                "run_http_step",
                request,
                start_to_close_timeout=timedelta(seconds=test.timeout_seconds),
                retry_policy=RetryPolicy(maximum_attempts=1),
                summary=f"test {request.step_id}",
                result_type=StepOutcome,
            )
        except ActivityError as exc:
            cause = exc.cause
            error_type = cause.type if isinstance(cause, ApplicationError) else None
            return StepTestOutcome(
                completed=False,
                error=cause_message(exc),
                error_type=error_type or type(cause or exc).__name__,
            )
        return StepTestOutcome(completed=True, output=outcome.output)
