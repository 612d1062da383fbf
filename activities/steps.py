"""The bridge between the interpreter and the step families.

The interpreter calls one activity per I/O step (``run_http_step``, ...). These wrap the
family's activity with what every step needs: the attempt number in failures, a
``step.retrying`` event (with the error and the next delay) when Temporal will try again, and,
for plain steps (no ``foreach``/``until``), the ``step.started``/``step.completed`` events;
also ``step.progress`` reporting (:mod:`activities.progress`) and secrets.

Secrets: the workflow only ever holds markers for ``{{ secrets.<name> }}``. The wrapper
replaces those carrying the run's key with the values just before the call
(:mod:`activities.secrets`), and redacts the values (and their URL-, JSON- and
basic-auth-encoded forms) from the output and from errors before anything is recorded or
returned, so a value never reaches Temporal history, the database or the event stream.

Recording those two here rather than from the workflow saves a local-activity round trip per
step (the workflow task would stay open while it runs). Recording never fails the step: when
the database cannot take an event, the outcome says so and the workflow delivers it instead.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.events import EventRecorder, retrying_event
from activities.http import HttpActivities, HttpRequestInput
from activities.progress import ProgressReporter, reporting
from activities.secrets import SecretResolver, redacted_error
from core.connection_limits import ConnectionGate
from core.connections import (
    AppliedConnection,
    ConnectionConfig,
    ConnectionRefused,
    ConnectionUnavailable,
)
from temporal_workflows.expressions import redact_secrets
from temporal_workflows.run_types import EventRecord, HttpStepInput, StepLifecycle, StepOutcome

logger = logging.getLogger(__name__)

# (workflow id, connection name, request) -> (the request made whole, credential values)
ConnectionLookup = Callable[[str, str, dict[str, Any]], Awaitable[AppliedConnection]]


# What of an http step's input makes the request itself: the fields both types have.
REQUEST_FIELDS = tuple(
    f.name
    for f in fields(HttpRequestInput)
    if f.name in {step_field.name for step_field in fields(HttpStepInput)}
)


@dataclass(frozen=True)
class StepCall:
    execution_id: str
    step_id: str
    lifecycle: StepLifecycle


class StepActivities:
    def __init__(
        self,
        http: HttpActivities,
        recorder: EventRecorder,
        secrets: SecretResolver | None = None,
        connections: ConnectionLookup | None = None,
        gate: ConnectionGate | None = None,
    ) -> None:
        self._http = http
        self._recorder = recorder
        self._secrets = secrets or SecretResolver(None)
        self._connections = connections
        self._gate = gate

    @activity.defn(name="run_http_step")
    async def run_http_step(self, step: HttpStepInput) -> StepOutcome:
        call = StepCall(step.execution_id, step.step_id, step.lifecycle)
        # Recording the start overlaps the call itself; completion is recorded after both.
        started = asyncio.create_task(self._record_started(call))
        hidden: list[str] = []
        try:
            request, hidden = await self._with_secrets(step)
            request, connection = await self._with_connection(step, request, hidden)
            async with self._slot(connection):
                with reporting(ProgressReporter(self._recorder, call.execution_id, call.step_id)):
                    output = await self._http.request(HttpRequestInput(**request))
        except ApplicationError as error:
            await asyncio.shield(started)
            error = redacted_error(error, hidden)
            await self._report_failure(call, error)
            raise _with_attempt(error) from None
        finally:
            started_recorded = await asyncio.shield(started)
        output = redact_secrets(output, hidden)
        return await self._complete(call, output, started_recorded=started_recorded)

    def _slot(self, connection: ConnectionConfig | None) -> AbstractAsyncContextManager[None]:
        """Where the request waits for its connection's max_concurrency and rate_limit."""
        if connection is None or self._gate is None:
            return contextlib.nullcontext()
        return self._gate.slot(connection)

    async def _with_connection(
        self, step: HttpStepInput, request: dict[str, Any], hidden: list[str]
    ) -> tuple[dict[str, Any], ConnectionConfig | None]:
        """Resolve a named ``connection`` (base URL + auth) into the request; its credentials
        join the values hidden from the output."""
        name, path = step.connection, request.pop("path", None)
        if not name:
            return request, None
        if self._connections is None:
            raise ApplicationError(
                "connections are not available on this worker",
                type="HttpConnectionError",
                non_retryable=True,
            )
        try:
            with_path = {**request, "connection": name, "path": path}
            applied = await self._connections(str(step.workflow_id), str(name), with_path)
        except ConnectionRefused as exc:
            raise ApplicationError(
                str(exc), type="HttpConnectionError", non_retryable=True
            ) from None
        except ConnectionUnavailable as exc:
            raise ApplicationError(str(exc), type="HttpConnectionUnavailable") from None
        hidden.extend(applied.credentials)
        return applied.request, applied.connection

    async def _with_secrets(self, step: HttpStepInput) -> tuple[dict[str, Any], list[str]]:
        """The request, with the run's secret references replaced, and every form of the
        values to hide."""
        request = {name: getattr(step, name) for name in (*REQUEST_FIELDS, "path")}
        resolved, hidden = await self._secrets.resolve(
            request,
            key=step.secret_key,
            workflow_id=str(step.workflow_id),
            location=f"steps.{step.step_id}.with",
        )
        return resolved, hidden + _basic_auth_forms(hidden, resolved.get("auth"))

    async def _record_started(self, call: StepCall) -> bool:
        if not call.lifecycle.emit:
            return True
        info = activity.info()
        # One key for every attempt: a retried attempt does not start the step again.
        return await self._record_quietly(
            call.execution_id,
            EventRecord(
                type="step.started",
                dedupe_key=f"act:{info.activity_id}:started",
                step_id=call.step_id,
                attempt=info.attempt,
                data={"step_type": call.lifecycle.step_type},
                ts=datetime.now(UTC),
            ),
        )

    async def _complete(
        self, call: StepCall, output: Any, *, started_recorded: bool
    ) -> StepOutcome:
        """The step's outcome; records ``step.completed`` (with this output) for plain steps."""
        info = activity.info()
        completed = True
        if call.lifecycle.emit:
            completed = await self._record_quietly(
                call.execution_id,
                EventRecord(
                    type="step.completed",
                    dedupe_key=f"act:{info.activity_id}:completed",
                    step_id=call.step_id,
                    attempt=info.attempt,
                    data={"output": output, "step_type": call.lifecycle.step_type},
                    ts=datetime.now(UTC),
                ),
            )
        return StepOutcome(
            output=output,
            attempt=info.attempt,
            started_recorded=started_recorded,
            completed_recorded=completed,
        )

    async def _record_quietly(self, execution_id: str, event: EventRecord) -> bool:
        try:
            await self._recorder.record(execution_id, [event])
        except Exception:  # the workflow delivers it instead (StepOutcome flags)
            logger.warning("could not record %s for %s", event.type, execution_id, exc_info=True)
            return False
        return True

    async def _report_failure(self, call: StepCall, error: ApplicationError) -> None:
        event = retrying_event(call.step_id, call.lifecycle.step_type, error)
        if event is None:
            return
        await self._record_quietly(call.execution_id, event)


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


def _basic_auth_forms(values: list[str], auth: Any) -> list[str]:
    """A basic-auth header built from a secret, as a response may echo it."""
    if not (values and isinstance(auth, dict) and auth.get("type") == "basic"):
        return []
    pair = f"{auth.get('username', '')}:{auth.get('password', '')}"
    if not any(value in pair for value in values):
        return []
    return [base64.b64encode(pair.encode()).decode()]
