"""Recording events: stored in ``execution_logs`` (numbered per execution), then published.

Storing comes first and is idempotent (each event carries a dedupe key), so a retried
delivery neither loses nor duplicates an event; publishing to the live bus is best effort,
because a late subscriber replays from the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.metrics import observe_events
from core.events.messages import row_message
from core.storage.compact import compact_event_data
from db.execution_projection import apply_event
from db.models import Execution, ExecutionLog
from temporal_workflows.retry import next_retry_delay
from temporal_workflows.run_types import EventRecord, RecordEventsInput, RunInput

logger = logging.getLogger(__name__)

EXECUTION_LOGS: Table = ExecutionLog.__table__  # type: ignore[assignment]

Publisher = Callable[[str, list[dict[str, Any]]], Awaitable[None]]


def retrying_event(
    step_id: str, step_type: str | None, error: ApplicationError, **data: Any
) -> EventRecord | None:
    """This attempt's ``step.retrying`` event, written by the activity itself (a local
    activity's retries never reach the history), or None when no attempt follows."""
    info = activity.info()
    delay = next_retry_delay(info.retry_policy, info.attempt, error)
    if delay is None:
        return None
    return EventRecord(
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
            "step_type": step_type,
            **data,
        },
        ts=datetime.now(UTC),
    )


@dataclass
class _Pending:
    execution_id: str
    events: Sequence[EventRecord]
    run: RunInput | None
    done: asyncio.Future[list[dict[str, Any]]]
    trigger_type: str = "unknown"
    run_id: str | None = None  # the Temporal run recording them (workflow-side events)


class EventRecorder:
    """Stores events in batches: concurrent callers share one transaction and one insert.

    Every step of every run records events, many at once in a fan-out. One writer per
    process takes what the callers queued (up to ``max_batch`` calls) and stores it in one
    transaction: one locking read of the executions concerned, one read of the dedupe keys
    already stored, one bulk Core ``INSERT`` of the new events (no ORM object per event),
    and one ``UPDATE`` per execution row, so a batch costs O(events), not one ORM round
    trip per event. While a batch commits, the next one gathers.

    A caller returns only once its events are committed (the at-least-once contract: an
    activity that records events does not complete before they are stored), so a crash
    loses nothing a retry would not record again. :meth:`aclose` flushes what is queued.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publish: Publisher | None = None,
        *,
        inline_limit: int | None = None,
        flush_interval: float = 0.0,
        max_batch: int = 500,
    ) -> None:
        """A recorder writing through ``sessions``.

        Args:
            sessions: Where events are stored.
            publish: Live delivery of stored events (best effort), if any.
            inline_limit: Event data over this many bytes is stored as a preview.
            flush_interval: Seconds a batch waits for more callers once the writer is idle
                (0: it takes what is queued at once; callers arriving during a commit make
                the next batch). Every caller waits for its commit, so this is latency added
                to each step's event writes.
            max_batch: Calls stored in one transaction at most; a full batch is written
                without waiting ``flush_interval``.
        """
        self._sessions = sessions
        self._publish = publish
        self._inline_limit = inline_limit
        self._flush_interval = flush_interval
        self._max_batch = max_batch
        self._queue: list[_Pending] = []
        self._full = asyncio.Event()
        self._closing = False  # aclose(): no more waiting for the timer
        self._writer: asyncio.Task[None] | None = None

    async def record(
        self,
        execution_id: str,
        events: Sequence[EventRecord],
        run: RunInput | None = None,
        run_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Store the events not stored yet, move the execution row, then publish them.

        A step tested alone (temporal_workflows/step_test.py) has no execution (an empty
        id): its events, progress included, are not stored anywhere.
        """
        if not execution_id:
            return []
        done = asyncio.get_running_loop().create_future()
        pending = _Pending(execution_id, events, run, done, run_id=run_id)
        self._queue.append(pending)
        if len(self._queue) >= self._max_batch:
            self._full.set()
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches())
        messages = await pending.done
        observe_events(messages, trigger_type=pending.trigger_type)
        await self._publish_quietly(execution_id, messages)
        return messages

    async def aclose(self) -> None:
        """Store what is queued (the worker calls this on shutdown, before the engine goes)."""
        self._closing = True
        self._full.set()
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write_batches(self) -> None:
        while self._queue:
            if self._flush_interval > 0 and not (self._full.is_set() or self._closing):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._flush_interval)
            batch = self._queue[: self._max_batch]
            self._queue = self._queue[self._max_batch :]
            if len(self._queue) < self._max_batch:
                self._full.clear()
            try:
                results = await self._store_batch(batch)
            except Exception:
                # One bad item (e.g. data the database refuses) must not fail the others.
                for item in batch:
                    await self._store_alone(item)
                continue
            for item, result in zip(batch, results, strict=True):
                _settle(item, result)

    async def _store_alone(self, item: _Pending) -> None:
        try:
            (result,) = await self._store_batch([item])
        except Exception as exc:
            result = exc
        _settle(item, result)

    async def _store_batch(self, batch: list[_Pending]) -> list[list[dict[str, Any]] | Exception]:
        """Each item's stored messages, or the reason it was not stored (no row yet)."""
        results: list[list[dict[str, Any]] | Exception] = []
        async with self._sessions() as session, session.begin():
            executions = await self._executions(session, batch)
            known = await self._known_keys(session, batch)
            rows: list[dict[str, Any]] = []
            for item in batch:
                execution = executions.get(item.execution_id)
                if execution is None:
                    if item.run is None:
                        # An activity's event before its run's first one: it fails alone
                        # (the workflow delivers it instead), the batch goes on.
                        results.append(LookupError(f"execution {item.execution_id} has no row yet"))
                        continue
                    # Runs started by Temporal itself (schedules, child workflows) get their
                    # row with their first events.
                    execution = self._create(session, uuid.UUID(item.execution_id), item.run)
                    executions[item.execution_id] = execution
                item.trigger_type = execution.trigger_type
                if item.run_id and execution.temporal_run_id != item.run_id:
                    # Written here, not by the API after its start call: the API's answer
                    # then needs one commit, not two (docs/performance.md, webhooks).
                    execution.temporal_run_id = item.run_id
                new = self._new_rows(execution, item.events, known)
                rows.extend(new)
                results.append([row_message(row) for row in new])
            await session.flush()  # execution rows created here exist before their events
            if rows:
                # The table, not the class: one executemany of every row (the ORM's bulk
                # insert would split the rows by which values are None).
                await session.execute(insert(EXECUTION_LOGS), rows)
        return results

    async def _publish_quietly(self, execution_id: str, messages: list[dict[str, Any]]) -> None:
        if messages and self._publish is not None:
            try:
                await self._publish(execution_id, messages)
            except Exception:  # the table has them; live delivery is best effort
                logger.warning(
                    "publishing %d events of %s failed", len(messages), execution_id, exc_info=True
                )

    async def _executions(
        self, session: AsyncSession, batch: list[_Pending]
    ) -> dict[str, Execution]:
        """The batch's execution rows that exist, locked, by id."""
        ids = {item.execution_id: uuid.UUID(item.execution_id) for item in batch}
        # Locked in id order: two workers locking overlapping batches cannot deadlock.
        found = await session.scalars(
            select(Execution)
            .where(Execution.id.in_(ids.values()))
            .order_by(Execution.id)
            .with_for_update()
        )
        return {str(execution.id): execution for execution in found}

    @staticmethod
    def _create(session: AsyncSession, execution_id: uuid.UUID, run: RunInput) -> Execution:
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
            last_event_seq=0,
            steps={},
        )
        session.add(execution)
        return execution

    @staticmethod
    async def _known_keys(session: AsyncSession, batch: list[_Pending]) -> set[tuple[str, str]]:
        """(execution id, dedupe key) of the batch's events stored already (redeliveries)."""
        ids = {uuid.UUID(item.execution_id) for item in batch}
        keys = {event.dedupe_key for item in batch for event in item.events}
        if not keys:
            return set()
        stored = await session.execute(
            select(ExecutionLog.execution_id, ExecutionLog.dedupe_key).where(
                ExecutionLog.execution_id.in_(ids), ExecutionLog.dedupe_key.in_(keys)
            )
        )
        return {(str(execution_id), key) for execution_id, key in stored}

    def _new_rows(
        self, execution: Execution, events: Sequence[EventRecord], known: set[tuple[str, str]]
    ) -> list[dict[str, Any]]:
        """The rows of the events not stored yet; moves the execution row with each one."""
        rows: list[dict[str, Any]] = []
        execution_key = str(execution.id)
        for event in events:
            if (execution_key, event.dedupe_key) in known:
                continue
            known.add((execution_key, event.dedupe_key))
            if self._inline_limit:
                # Large outputs live in object storage (claim-check); the log keeps a preview.
                event = event.model_copy(
                    update={"data": compact_event_data(event.data, self._inline_limit)}
                )
            execution.last_event_seq += 1
            rows.append(
                {
                    "execution_id": execution.id,
                    "seq": execution.last_event_seq,
                    "dedupe_key": event.dedupe_key,
                    "type": event.type,
                    "step_id": event.step_id,
                    "attempt": event.attempt,
                    "level": event.level,
                    "message": event.message,
                    "data": event.data,
                    "ts": event.ts,
                }
            )
            apply_event(execution, event)
        return rows


def _settle(item: _Pending, result: list[dict[str, Any]] | Exception) -> None:
    if item.done.done():
        return
    if isinstance(result, Exception):
        item.done.set_exception(result)
    else:
        item.done.set_result(result)


class EventActivities:
    def __init__(self, recorder: EventRecorder) -> None:
        self._recorder = recorder

    @activity.defn(name="record_events")
    async def record_events(self, batch: RecordEventsInput) -> None:
        run_id = activity.info().workflow_run_id
        await self._recorder.record(batch.execution_id, batch.events, batch.run, run_id=run_id)
