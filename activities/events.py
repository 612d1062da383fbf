"""Recording events: stored in ``execution_logs`` (numbered per execution), then published.

Storing comes first and is idempotent (each event carries a dedupe key), so a retried
delivery neither loses nor duplicates an event; publishing to the live bus is best effort,
because a late subscriber replays from the table.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.metrics import observe_events
from core.events.messages import event_message
from core.storage.compact import compact_event_data
from db.execution_projection import apply_event
from db.models import Execution, ExecutionLog
from temporal_workflows.run_types import EventRecord, RecordEventsInput, RunInput

logger = logging.getLogger(__name__)

Publisher = Callable[[str, list[dict[str, Any]]], Awaitable[None]]


@dataclass
class _Pending:
    execution_id: str
    events: Sequence[EventRecord]
    run: RunInput | None
    done: asyncio.Future[list[dict[str, Any]]]
    trigger_type: str = "unknown"
    run_id: str | None = None  # the Temporal run recording them (workflow-side events)


class EventRecorder:
    """Stores events with group commit: concurrent callers share one transaction.

    Every step of every run records events, many at once in a fan-out; one writer per
    process turns N concurrent small transactions (which SQLite would serialise through its
    busy-wait) into one. A caller returns only once its events are committed.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publish: Publisher | None = None,
        *,
        inline_limit: int | None = None,
    ) -> None:
        self._sessions = sessions
        self._publish = publish
        self._inline_limit = inline_limit
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task[None] | None = None

    async def record(
        self,
        execution_id: str,
        events: Sequence[EventRecord],
        run: RunInput | None = None,
        run_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Store the events not stored yet, move the execution row, then publish them."""
        done = asyncio.get_running_loop().create_future()
        pending = _Pending(execution_id, events, run, done, run_id=run_id)
        self._queue.append(pending)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        messages = await pending.done
        observe_events(messages, trigger_type=pending.trigger_type)
        await self._publish_quietly(execution_id, messages)
        return messages

    async def _write_batches(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                results = await self._store_batch(batch)
            except Exception:
                # One bad item (e.g. a row that does not exist yet) must not fail the others.
                for item in batch:
                    await self._store_alone(item)
                continue
            for item, messages in zip(batch, results, strict=True):
                if not item.done.done():
                    item.done.set_result(messages)

    async def _store_alone(self, item: _Pending) -> None:
        try:
            (messages,) = await self._store_batch([item])
        except Exception as exc:
            if not item.done.done():
                item.done.set_exception(exc)
        else:
            if not item.done.done():
                item.done.set_result(messages)

    async def _store_batch(self, batch: list[_Pending]) -> list[list[dict[str, Any]]]:
        results: list[list[dict[str, Any]]] = []
        async with self._sessions() as session, session.begin():
            for item in batch:
                execution = await self._execution(session, uuid.UUID(item.execution_id), item.run)
                item.trigger_type = execution.trigger_type
                if item.run_id and execution.temporal_run_id != item.run_id:
                    # Written here, not by the API after its start call: the API's answer
                    # then needs one commit, not two (docs/performance.md, webhooks).
                    execution.temporal_run_id = item.run_id
                stored = await self._store_new(session, execution, item.events)
                results.append([event_message(log) for log in stored])
        return results

    async def _publish_quietly(self, execution_id: str, messages: list[dict[str, Any]]) -> None:
        if messages and self._publish is not None:
            try:
                await self._publish(execution_id, messages)
            except Exception:  # the table has them; live delivery is best effort
                logger.warning(
                    "publishing %d events of %s failed", len(messages), execution_id, exc_info=True
                )

    async def _execution(
        self, session: AsyncSession, execution_id: uuid.UUID, run: RunInput | None
    ) -> Execution:
        execution = await session.get(Execution, execution_id, with_for_update=True)
        if execution is not None:
            return execution
        if run is None:
            raise LookupError(f"execution {execution_id} has no row yet")
        # Runs started by Temporal itself (schedules, child workflows) get their row here.
        execution = Execution(
            id=execution_id,
            workflow_id=uuid.UUID(run.workflow_id),
            version=run.version,
            status="pending",
            input_data=run.input,
            variables=run.variables,
            temporal_workflow_id=run.execution_id,
            trigger_type=run.trigger_type,
            trigger_id=uuid.UUID(run.trigger_id) if run.trigger_id else None,
            created_by=uuid.UUID(run.created_by) if run.created_by else None,
            parent_execution_id=(
                uuid.UUID(run.parent_execution_id) if run.parent_execution_id else None
            ),
        )
        session.add(execution)
        await session.flush()
        return execution

    async def _store_new(
        self, session: AsyncSession, execution: Execution, events: Sequence[EventRecord]
    ) -> list[ExecutionLog]:
        keys = [e.dedupe_key for e in events]
        known = set(
            (
                await session.scalars(
                    select(ExecutionLog.dedupe_key).where(
                        ExecutionLog.execution_id == execution.id, ExecutionLog.dedupe_key.in_(keys)
                    )
                )
            ).all()
        )
        stored: list[ExecutionLog] = []
        for event in events:
            if event.dedupe_key in known:
                continue
            known.add(event.dedupe_key)
            if self._inline_limit:
                # Large outputs live in object storage (claim-check); the log keeps a preview.
                event = event.model_copy(
                    update={"data": compact_event_data(event.data, self._inline_limit)}
                )
            execution.last_event_seq += 1
            log = ExecutionLog(
                execution_id=execution.id,
                seq=execution.last_event_seq,
                dedupe_key=event.dedupe_key,
                type=event.type,
                step_id=event.step_id,
                attempt=event.attempt,
                level=event.level,
                message=event.message,
                data=event.data,
                ts=event.ts,
            )
            session.add(log)
            apply_event(execution, event)
            stored.append(log)
        await session.flush()
        return stored


class EventActivities:
    def __init__(self, recorder: EventRecorder) -> None:
        self._recorder = recorder

    @activity.defn(name="record_events")
    async def record_events(self, batch: RecordEventsInput) -> None:
        run_id = activity.info().workflow_run_id
        await self._recorder.record(batch.execution_id, batch.events, batch.run, run_id=run_id)
