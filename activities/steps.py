"""The bridge between the interpreter and the step families.

The interpreter calls one activity per I/O step (``run_http_step``, ...). These wrap the
family's activity with what every step needs: the attempt number in failures, and a
``step.retrying`` event (with the error and the next delay) when Temporal will try again.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from temporalio import activity
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from activities.events import EventRecorder
from activities.http import HttpActivities, HttpRequestInput
from temporal_workflows.run_types import EventRecord, StepOutcome


class StepActivities:
    def __init__(self, http: HttpActivities, recorder: EventRecorder) -> None:
        self._http = http
        self._recorder = recorder

    @activity.defn(name="run_http_step")
    async def run_http_step(self, request: dict[str, Any]) -> StepOutcome:
        try:
            output = await self._http.request(HttpRequestInput(**request))
        except ApplicationError as error:
            await self._report_failure(
                str(request.get("execution_id")), str(request.get("step_id")), error
            )
            raise _with_attempt(error) from None
        return StepOutcome(output=output, attempt=activity.info().attempt)

    async def _report_failure(
        self, execution_id: str, step_id: str, error: ApplicationError
    ) -> None:
        info = activity.info()
        delay = _next_delay(info.retry_policy, info.attempt, error)
        if delay is None:
            return
        event = EventRecord(
            type="step.retrying",
            dedupe_key=f"act:{info.activity_id}:{info.attempt}:retrying",
            step_id=step_id,
            attempt=info.attempt,
            level="warning",
            message=error.message,
            data={
                "error": error.message,
                "error_type": error.type,
                "next_attempt": info.attempt + 1,
                "delay_seconds": delay.total_seconds(),
            },
            ts=datetime.now(UTC),
        )
        await self._recorder.record(execution_id, [event])


def _next_delay(
    policy: RetryPolicy | None, attempt: int, error: ApplicationError
) -> timedelta | None:
    """The delay before Temporal's next attempt, or None when it will not retry."""
    if error.non_retryable or policy is None:
        return None
    if policy.maximum_attempts and attempt >= policy.maximum_attempts:
        return None
    if error.type and error.type in (policy.non_retryable_error_types or []):
        return None
    if error.next_retry_delay is not None:
        return error.next_retry_delay
    seconds = policy.initial_interval.total_seconds() * policy.backoff_coefficient ** (attempt - 1)
    if policy.maximum_interval is not None:
        seconds = min(seconds, policy.maximum_interval.total_seconds())
    return timedelta(seconds=seconds)


def _with_attempt(error: ApplicationError) -> ApplicationError:
    details = dict(error.details[0]) if error.details and isinstance(error.details[0], dict) else {}
    details["attempt"] = activity.info().attempt
    return ApplicationError(
        error.message,
        details,
        type=error.type,
        non_retryable=error.non_retryable,
        next_retry_delay=error.next_retry_delay,
    )
