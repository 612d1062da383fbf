"""What the interpreter needs from where it runs: the engine/runtime split.

The interpreter (:mod:`temporal_workflows.interpreter` and its mixins) holds the semantics
of a definition: the DAG, ``when`` and ``join``, loops, ``on_error``, outputs. Everything
it asks of its environment goes through a :class:`Runtime`: calling a step's activity,
sleeping, reading the clock, asking whether a patch applies, a fresh uuid, waiting for a
condition, starting a child run, showing state in the Web UI.

:class:`TemporalRuntime` answers with ``workflow.*`` calls, one for one, so a durable run's
commands (and every committed history) are what they were. ``express.runtime`` answers with
direct async calls in one process, for express runs (no history, at least once).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from temporalio import workflow
from temporalio.common import RetryPolicy, SearchAttributeUpdate

if TYPE_CHECKING:
    from temporal_workflows.event_emitter import EventEmitter
    from temporal_workflows.run_types import RunInput


class Emitter(Protocol):
    """Where a run's events go, in order: ``emit`` never blocks, ``close`` waits for all."""

    def start(self) -> None: ...

    def emit(
        self,
        type_: str,
        *,
        step_id: str | None = None,
        attempt: int | None = None,
        level: str = "info",
        message: str = "",
        data: Any = None,
    ) -> None: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...


class Runtime(Protocol):
    """The interpreter's environment (durable: Temporal; express: one process)."""

    #: Whether runs here have a Temporal history (pause, resume and parking need one).
    durable: bool

    def now(self) -> datetime: ...

    def start_time(self) -> datetime: ...

    def run_id(self) -> str:
        """The id this run is known by to its runtime (Temporal's workflow id)."""
        ...

    def patched(self, patch_id: str) -> bool: ...

    def uuid4(self) -> uuid.UUID: ...

    async def sleep(self, delay: timedelta) -> None: ...

    async def wait_condition(
        self, condition: Callable[[], bool], *, timeout: timedelta | None = None
    ) -> None:
        """Return once ``condition()`` holds; ``TimeoutError`` after ``timeout``."""
        ...

    async def execute_activity(
        self,
        name: str,
        arg: Any,
        *,
        local: bool,
        start_to_close_timeout: timedelta,
        retry_policy: RetryPolicy,
        summary: str,
        result_type: type | None = None,
        heartbeat_timeout: timedelta | None = None,
    ) -> Any:
        """Run the activity ``name`` with retries; its failure raises ``ApplicationError``
        (local, or express) or ``ActivityError`` (a regular activity of a durable run)."""
        ...

    async def execute_child(
        self, workflow_name: str, arg: Any, *, id: str, result_type: type, **options: Any
    ) -> Any:
        """Run a child run to its end; its failure raises ``ChildWorkflowError``."""
        ...

    def upsert_search_attributes(self, updates: list[SearchAttributeUpdate[Any]]) -> None: ...

    def cancellation_reason(self) -> str | None: ...

    def event_emitter(self, run: RunInput) -> Emitter:
        """Where the run's events go (``start``, ``emit``, ``flush``, ``close``)."""
        ...


class TemporalRuntime:
    """The durable runtime: each call is the ``workflow.*`` call it always was."""

    durable = True

    def now(self) -> datetime:
        return workflow.now()

    def start_time(self) -> datetime:
        return workflow.info().start_time

    def run_id(self) -> str:
        return workflow.info().workflow_id

    def patched(self, patch_id: str) -> bool:
        return workflow.patched(patch_id)

    def uuid4(self) -> uuid.UUID:
        return workflow.uuid4()

    async def sleep(self, delay: timedelta) -> None:
        await workflow.sleep(delay)

    async def wait_condition(
        self, condition: Callable[[], bool], *, timeout: timedelta | None = None
    ) -> None:
        await workflow.wait_condition(condition, timeout=timeout)

    async def execute_activity(
        self,
        name: str,
        arg: Any,
        *,
        local: bool,
        start_to_close_timeout: timedelta,
        retry_policy: RetryPolicy,
        summary: str,
        result_type: type | None = None,
        heartbeat_timeout: timedelta | None = None,
    ) -> Any:
        if local:
            return await workflow.execute_local_activity(
                name,
                arg,
                start_to_close_timeout=start_to_close_timeout,
                retry_policy=retry_policy,
                summary=summary,
                result_type=result_type,
            )
        return await workflow.execute_activity(
            name,
            arg,
            start_to_close_timeout=start_to_close_timeout,
            retry_policy=retry_policy,
            summary=summary,
            result_type=result_type,
            heartbeat_timeout=heartbeat_timeout,
        )

    async def execute_child(
        self, workflow_name: str, arg: Any, *, id: str, result_type: type, **options: Any
    ) -> Any:
        return await workflow.execute_child_workflow(
            workflow_name, arg, id=id, result_type=result_type, **options
        )

    def upsert_search_attributes(self, updates: list[SearchAttributeUpdate[Any]]) -> None:
        workflow.upsert_search_attributes(updates)

    def cancellation_reason(self) -> str | None:
        return workflow.cancellation_reason()

    def event_emitter(self, run: RunInput) -> EventEmitter:
        from temporal_workflows.event_emitter import EventEmitter

        return EventEmitter(run, self)
