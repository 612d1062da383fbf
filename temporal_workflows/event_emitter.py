"""Workflow-side event emission: ordered batches delivered by one local activity at a time.

Emitting never blocks a step: events queue in memory (they are part of the workflow's
deterministic state, so a replay rebuilds them) and a single pump delivers them in order.
The local activity retries until the database answers; ``flush`` waits for delivery before
the run ends, so a finished run has all of its events stored.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from temporalio.common import RetryPolicy

from temporal_workflows.run_types import EventRecord, RecordEventsInput, RunInput

if TYPE_CHECKING:
    from temporal_workflows.runtime import Runtime

RECORD_EVENTS_ACTIVITY = "record_events"
_DELIVERY_RETRY = RetryPolicy(
    initial_interval=timedelta(milliseconds=200), maximum_interval=timedelta(seconds=30)
)


class EventQueue:
    """A run's events in emission order. Each is numbered (``wf:<n>``, its dedupe key), so
    a batch delivered twice (a retried delivery, a re-run) is stored once."""

    def __init__(self) -> None:
        self._pending: list[EventRecord] = []
        self._count = 0

    def emit(
        self,
        type_: str,
        *,
        step_id: str | None = None,
        attempt: int | None = None,
        level: str = "info",
        message: str = "",
        data: Any = None,
    ) -> None:
        self._count += 1
        self._pending.append(
            EventRecord(
                type=type_,
                dedupe_key=f"wf:{self._count}",
                step_id=step_id,
                attempt=attempt,
                level=level,
                message=message,
                data=data,
                ts=self._now(),
            )
        )
        self._queued()

    def _now(self) -> datetime:
        raise NotImplementedError

    def _queued(self) -> None:
        """An event joined the queue (a pump that sleeps may want to know)."""


class EventEmitter(EventQueue):
    def __init__(self, run: RunInput, runtime: Runtime) -> None:
        super().__init__()
        self._run = run
        self._rt = runtime
        self._in_flight = False
        self._sent_first = False
        self._pump: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._pump = asyncio.create_task(self._deliver_forever())

    def _now(self) -> datetime:
        return self._rt.now()

    async def flush(self) -> None:
        await self._rt.wait_condition(lambda: not self._pending and not self._in_flight)

    async def close(self) -> None:
        await self.flush()
        if self._pump is not None:
            self._pump.cancel()

    async def _deliver_forever(self) -> None:
        while True:
            await self._rt.wait_condition(lambda: bool(self._pending))
            batch, self._pending = self._pending, []
            self._in_flight = True
            try:
                await self._rt.execute_activity(
                    RECORD_EVENTS_ACTIVITY,
                    RecordEventsInput(
                        execution_id=self._run.execution_id,
                        events=batch,
                        run=None if self._sent_first else self._run,
                    ),
                    local=True,
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=_DELIVERY_RETRY,
                    summary=f"events {batch[0].dedupe_key}…{batch[-1].dedupe_key}",
                )
                self._sent_first = True
            finally:
                self._in_flight = False
