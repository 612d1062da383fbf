"""From a step's ``retry`` and ``timeout`` to Temporal activity options."""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from temporal_workflows.definition import StepDefinition
from temporal_workflows.durations import parse_duration

# Without a `retry` block a step gets a few quick retries, not Temporal's unlimited default:
# a definition that retries forever should say so.
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_INITIAL_INTERVAL = timedelta(seconds=1)
DEFAULT_MAX_INTERVAL = timedelta(seconds=30)
DEFAULT_STEP_TIMEOUT = timedelta(minutes=5)


def retry_policy(step: StepDefinition) -> RetryPolicy:
    spec = step.retry
    if spec is None:
        return RetryPolicy(
            initial_interval=DEFAULT_INITIAL_INTERVAL,
            maximum_interval=DEFAULT_MAX_INTERVAL,
            maximum_attempts=DEFAULT_MAX_ATTEMPTS,
        )
    return RetryPolicy(
        initial_interval=_duration(spec.initial_interval, None) or DEFAULT_INITIAL_INTERVAL,
        backoff_coefficient=float(spec.backoff_coefficient or 2.0),
        maximum_interval=_duration(spec.max_interval, None),
        maximum_attempts=int(spec.max_attempts or 0),
        non_retryable_error_types=list(spec.non_retryable_errors or []),
    )


def next_retry_delay(
    policy: RetryPolicy | None, attempt: int, error: ApplicationError
) -> timedelta | None:
    """The delay before the next attempt after ``error``, or None when none follows.

    Temporal's own rule for an activity's retries; express runs retry by it too
    (``express.runtime``), and step activities announce it in ``step.retrying`` events.
    """
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


def step_timeout(step: StepDefinition) -> timedelta:
    return _duration(step.timeout, DEFAULT_STEP_TIMEOUT) or DEFAULT_STEP_TIMEOUT


def _duration(value: str | None, default: timedelta | None) -> timedelta | None:
    return parse_duration(value) if value else default
