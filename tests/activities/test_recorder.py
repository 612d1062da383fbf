"""The event recorder: batches of concurrent callers stored in one transaction and insert.

Real databases (SQLite and PostgreSQL, through the session's ``db_url``); no Temporal.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from activities.events import EventRecorder
from db.models import Execution, ExecutionLog, User, Workflow
from db.session import create_engine, create_session_factory
from temporal_workflows.definition import WorkflowDefinition
from temporal_workflows.run_types import EventRecord, RunInput


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url, serialize_writes=True)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
async def workflow_id(sessions: async_sessionmaker[AsyncSession]) -> uuid.UUID:
    async with sessions() as session, session.begin():
        user = User(email=f"rec-{uuid.uuid4().hex[:8]}@example.com", password_hash="x")
        session.add(user)
        await session.flush()
        workflow = Workflow(owner_id=user.id, name="recorder", definition={"steps": []})
        session.add(workflow)
    return workflow.id


async def new_execution(sessions: async_sessionmaker[AsyncSession], workflow_id: uuid.UUID) -> str:
    async with sessions() as session, session.begin():
        execution = Execution(
            workflow_id=workflow_id,
            version=1,
            status="running",
            temporal_workflow_id=str(uuid.uuid4()),
        )
        session.add(execution)
    return str(execution.id)


def step_event(kind: str, step: int, key: str | None = None) -> EventRecord:
    data: dict[str, Any] = {"step_type": "http"}
    if kind == "completed":
        data["output"] = {"n": step}
    return EventRecord(
        type=f"step.{kind}",
        dedupe_key=key or f"act:{step}:{kind}",
        step_id=f"s{step}",
        attempt=1,
        data=data,
        ts=datetime.now(UTC),
    )


async def stored(
    sessions: async_sessionmaker[AsyncSession], execution_id: str
) -> tuple[Execution, list[ExecutionLog]]:
    async with sessions() as session:
        execution = await session.get(Execution, uuid.UUID(execution_id))
        assert execution is not None
        logs = (
            await session.scalars(
                select(ExecutionLog)
                .where(ExecutionLog.execution_id == execution.id)
                .order_by(ExecutionLog.seq)
            )
        ).all()
        return execution, list(logs)


@contextmanager
def log_inserts(engine: AsyncEngine) -> Iterator[list[int]]:
    """Counts, per INSERT statement into execution_logs, the rows it carried."""
    inserts: list[int] = []

    def before(
        conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool
    ) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO EXECUTION_LOGS"):
            inserts.append(len(params) if many else 1)

    event.listen(engine.sync_engine, "before_cursor_execute", before)
    try:
        yield inserts
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before)


class TestBatches:
    async def test_a_fan_out_of_concurrent_calls_is_one_insert_with_every_event(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        workflow_id: uuid.UUID,
    ) -> None:
        first = await new_execution(sessions, workflow_id)
        second = await new_execution(sessions, workflow_id)
        recorder = EventRecorder(sessions)
        with log_inserts(engine) as inserts:
            answers = await asyncio.gather(
                *(recorder.record(first, [step_event("started", i)]) for i in range(50)),
                *(recorder.record(second, [step_event("started", i)]) for i in range(30)),
            )
        assert inserts == [80]  # one statement for the whole batch
        # Each caller gets its own event back, numbered in its execution's sequence.
        assert [a[0]["step_id"] for a in answers[:50]] == [f"s{i}" for i in range(50)]
        assert [a[0]["id"] for a in answers[:50]] == list(range(1, 51))
        assert [a[0]["id"] for a in answers[50:]] == list(range(1, 31))
        for execution_id, count in ((first, 50), (second, 30)):
            execution, logs = await stored(sessions, execution_id)
            assert [log.seq for log in logs] == list(range(1, count + 1))
            assert execution.last_event_seq == count
            assert {s["status"] for s in execution.steps.values()} == {"running"}
            assert len(execution.steps) == count

    async def test_later_batches_continue_the_sequence_and_move_the_row(
        self, sessions: async_sessionmaker[AsyncSession], workflow_id: uuid.UUID
    ) -> None:
        execution_id = await new_execution(sessions, workflow_id)
        recorder = EventRecorder(sessions)
        await asyncio.gather(
            *(recorder.record(execution_id, [step_event("started", i)]) for i in range(3))
        )
        await asyncio.gather(
            *(recorder.record(execution_id, [step_event("completed", i)]) for i in range(3))
        )
        await recorder.record(
            execution_id,
            [
                EventRecord(
                    type="execution.completed",
                    dedupe_key="wf:end",
                    data={"output": {"done": True}},
                    ts=datetime.now(UTC),
                )
            ],
        )
        execution, logs = await stored(sessions, execution_id)
        assert [log.seq for log in logs] == list(range(1, 8))
        assert execution.status == "completed"
        assert execution.output_data == {"done": True}
        assert execution.steps["s2"]["status"] == "completed"
        assert execution.steps["s2"]["output"] == {"n": 2}

    async def test_a_redelivered_event_is_stored_once_even_within_one_batch(
        self, sessions: async_sessionmaker[AsyncSession], workflow_id: uuid.UUID
    ) -> None:
        execution_id = await new_execution(sessions, workflow_id)
        recorder = EventRecorder(sessions)
        first = await recorder.record(execution_id, [step_event("started", 1)])
        again = await asyncio.gather(
            recorder.record(execution_id, [step_event("started", 1)]),  # a retried delivery
            recorder.record(execution_id, [step_event("started", 2)]),
            recorder.record(execution_id, [step_event("started", 2)]),  # twice in this batch
        )
        assert [m["id"] for m in first] == [1]
        assert [len(a) for a in again] == [0, 1, 0]
        assert again[1][0]["id"] == 2
        _, logs = await stored(sessions, execution_id)
        assert [(log.seq, log.dedupe_key) for log in logs] == [
            (1, "act:1:started"),
            (2, "act:2:started"),
        ]

    async def test_an_execution_without_row_fails_alone(
        self, sessions: async_sessionmaker[AsyncSession], workflow_id: uuid.UUID
    ) -> None:
        execution_id = await new_execution(sessions, workflow_id)
        recorder = EventRecorder(sessions)
        good: Any
        bad: Any
        good, bad = await asyncio.gather(
            recorder.record(execution_id, [step_event("started", 1)]),
            recorder.record(str(uuid.uuid4()), [step_event("started", 1)]),
            return_exceptions=True,
        )
        assert isinstance(bad, LookupError)
        assert isinstance(good, list) and good[0]["id"] == 1
        _, logs = await stored(sessions, execution_id)
        assert len(logs) == 1

    async def test_an_event_ahead_of_its_runs_row_fails_alone_and_the_batch_is_one_insert(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        workflow_id: uuid.UUID,
    ) -> None:
        existing = await new_execution(sessions, workflow_id)
        execution_id = str(uuid.uuid4())
        run = RunInput(
            execution_id=execution_id,
            workflow_id=str(workflow_id),
            version=1,
            definition=WorkflowDefinition.model_validate(
                {"steps": [{"id": "s1", "type": "transform", "with": {"value": 1}}]}
            ),
            trigger_type="schedule",
        )
        started = EventRecord(type="execution.started", dedupe_key="wf:1", ts=datetime.now(UTC))
        recorder = EventRecorder(sessions)
        early: Any
        first: Any
        other: Any
        with log_inserts(engine) as inserts:
            early, first, other = await asyncio.gather(
                recorder.record(execution_id, [step_event("started", 1)]),  # before the row
                recorder.record(execution_id, [started], run),
                recorder.record(existing, [step_event("started", 1)]),
                return_exceptions=True,
            )
        assert isinstance(early, LookupError)
        assert isinstance(first, list) and [m["type"] for m in first] == ["execution.started"]
        assert isinstance(other, list) and [m["id"] for m in other] == [1]
        assert inserts == [2]  # the other two in one statement, not one transaction each
        _, logs = await stored(sessions, execution_id)
        assert [(log.seq, log.type) for log in logs] == [(1, "execution.started")]

    async def test_a_run_temporal_started_gets_its_row_with_its_first_events(
        self, sessions: async_sessionmaker[AsyncSession], workflow_id: uuid.UUID
    ) -> None:
        execution_id = str(uuid.uuid4())
        run = RunInput(
            execution_id=execution_id,
            workflow_id=str(workflow_id),
            version=1,
            definition=WorkflowDefinition.model_validate(
                {"steps": [{"id": "s1", "type": "transform", "with": {"value": 1}}]}
            ),
            input={"a": 1},
            trigger_type="schedule",
        )
        recorder = EventRecorder(sessions)
        started = EventRecord(type="execution.started", dedupe_key="wf:1", ts=datetime.now(UTC))
        await recorder.record(execution_id, [started, step_event("started", 1)], run, run_id="r1")
        execution, logs = await stored(sessions, execution_id)
        assert (execution.status, execution.trigger_type, execution.temporal_run_id) == (
            "running",
            "schedule",
            "r1",
        )
        assert execution.input_data == {"a": 1}
        assert [log.type for log in logs] == ["execution.started", "step.started"]


class TestFlushing:
    async def test_a_timer_gathers_callers_that_arrive_apart(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        workflow_id: uuid.UUID,
    ) -> None:
        execution_id = await new_execution(sessions, workflow_id)
        recorder = EventRecorder(sessions, flush_interval=0.5)
        with log_inserts(engine) as inserts:
            calls = []
            for i in range(3):
                calls.append(
                    asyncio.create_task(recorder.record(execution_id, [step_event("started", i)]))
                )
                await asyncio.sleep(0.05)  # apart, but within the interval
            await asyncio.gather(*calls)
        assert inserts == [3]

    async def test_a_full_batch_is_written_without_waiting_for_the_timer(
        self,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        workflow_id: uuid.UUID,
    ) -> None:
        execution_id = await new_execution(sessions, workflow_id)
        recorder = EventRecorder(sessions, flush_interval=600, max_batch=4)
        with log_inserts(engine) as inserts:
            await asyncio.wait_for(
                asyncio.gather(
                    *(recorder.record(execution_id, [step_event("started", i)]) for i in range(8))
                ),
                30,
            )
        assert inserts == [4, 4]

    async def test_aclose_stores_what_waits_for_the_timer(
        self, sessions: async_sessionmaker[AsyncSession], workflow_id: uuid.UUID
    ) -> None:
        execution_id = await new_execution(sessions, workflow_id)
        recorder = EventRecorder(sessions, flush_interval=600)
        call = asyncio.create_task(recorder.record(execution_id, [step_event("started", 1)]))
        await asyncio.sleep(0.05)
        assert not call.done()  # waiting for the timer, nothing stored yet
        await asyncio.wait_for(recorder.aclose(), 30)
        assert [m["id"] for m in await asyncio.wait_for(call, 5)] == [1]
        _, logs = await stored(sessions, execution_id)
        assert len(logs) == 1
