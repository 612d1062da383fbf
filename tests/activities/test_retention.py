"""Retention: on a filled database, ended runs past the period go with their events and
objects; unfinished and recent runs, other workflows' runs and the analytics rollup stay.

Runs on SQLite and PostgreSQL (``db_url``). The data is dated in the 1990s so that the
cut-off used here reaches no other test's rows in the session's shared database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from activities.retention import RetentionActivities
from core.storage import LocalObjectStore, ObjectStore, execution_prefix
from core.storage.codec import payload_prefix
from db.models import Execution, ExecutionLog, User, Workflow, execution_stats
from db.session import create_engine, create_session_factory
from temporal_workflows.retention import HeadraceRetention, PurgeRequest, RetentionInput

CUTOFF = datetime(1995, 1, 1, tzinfo=UTC)
OLD = CUTOFF - timedelta(days=30)
RECENT = CUTOFF + timedelta(days=30)
EVENTS_PER_RUN = 3


@dataclass
class Filled:
    sessions: async_sessionmaker[AsyncSession]
    store: ObjectStore
    workflow_id: uuid.UUID
    expired: list[uuid.UUID]
    kept: list[uuid.UUID]


def _execution(workflow_id: uuid.UUID, status: str, created: datetime) -> Execution:
    execution_id = uuid.uuid4()
    ended = status in ("completed", "failed", "cancelled")
    return Execution(
        id=execution_id,
        temporal_workflow_id=str(execution_id),
        workflow_id=workflow_id,
        version=1,
        status=status,
        created_at=created,
        started_at=created,
        completed_at=created + timedelta(seconds=2) if ended else None,
    )


@pytest.fixture
async def filled(db_url: str, tmp_path: Path) -> AsyncIterator[Filled]:
    """One workflow with 40 old ended runs, 10 old unfinished runs and 20 recent ended runs,
    each with three events, an artifact and a stored payload."""
    engine = create_engine(db_url)
    sessions = create_session_factory(engine)  # with the rollup hooks, as in production
    store = LocalObjectStore(tmp_path / "objects")
    owner = User(
        id=uuid.uuid4(), email=f"ret-{uuid.uuid4().hex[:8]}@example.com", password_hash="x"
    )
    workflow = Workflow(id=uuid.uuid4(), owner_id=owner.id, name="retention", definition={})
    statuses = ("completed", "failed", "cancelled", "completed")
    old_ended = [
        _execution(workflow.id, statuses[i % 4], OLD + timedelta(hours=i)) for i in range(40)
    ]
    old_open = [
        _execution(workflow.id, ("running", "pending", "waiting")[i % 3], OLD) for i in range(10)
    ]
    recent = [_execution(workflow.id, "completed", RECENT + timedelta(hours=i)) for i in range(20)]
    async with sessions() as session:
        session.add(owner)
        await session.flush()
        session.add(workflow)
        await session.flush()
        session.add_all([*old_ended, *old_open, *recent])
        await session.flush()
        for execution in [*old_ended, *old_open, *recent]:
            session.add_all(
                ExecutionLog(
                    execution_id=execution.id, seq=seq, dedupe_key=f"e{seq}", type="step.completed"
                )
                for seq in range(1, EVENTS_PER_RUN + 1)
            )
            name = str(execution.id)
            await store.put(f"{execution_prefix(name)}report.txt", b"artifact", "text/plain")
            await store.put(f"{payload_prefix(name)}digest", b"payload", "application/json")
        await session.commit()
    yield Filled(
        sessions,
        store,
        workflow.id,
        expired=[e.id for e in old_ended],
        kept=[e.id for e in [*old_open, *recent]],
    )
    await engine.dispose()


async def _rollup(filled: Filled) -> list[tuple[object, ...]]:
    async with filled.sessions() as session:
        rows = await session.execute(
            select(execution_stats)
            .where(execution_stats.c.workflow_id == filled.workflow_id)
            .order_by(*execution_stats.primary_key.columns)
        )
        return [tuple(row) for row in rows]


async def _remaining(filled: Filled) -> tuple[set[uuid.UUID], int]:
    async with filled.sessions() as session:
        ids = set(
            await session.scalars(
                select(Execution.id).where(Execution.workflow_id == filled.workflow_id)
            )
        )
        events = await session.scalar(
            select(func.count()).select_from(ExecutionLog).where(ExecutionLog.execution_id.in_(ids))
        )
    return ids, int(events or 0)


async def _objects_of(filled: Filled, execution_id: uuid.UUID) -> int:
    name = str(execution_id)
    return len(await filled.store.list(execution_prefix(name))) + len(
        await filled.store.list(payload_prefix(name))
    )


class TestRetentionOnAFilledDatabase:
    async def test_it_deletes_only_ended_runs_past_the_period_and_keeps_the_rollup(
        self, filled: Filled
    ) -> None:
        rollup_before = await _rollup(filled)
        assert rollup_before, "the ended runs were counted in the rollup"

        result = await RetentionActivities(filled.sessions, filled.store).purge_expired_executions(
            PurgeRequest(ended_before=CUTOFF, batch_size=7)  # several batches, one partial
        )

        assert result.executions == 40
        assert result.objects == 80  # one artifact and one payload each
        ids, events = await _remaining(filled)
        assert ids == set(filled.kept)  # unfinished (however old) and recent runs stay
        assert events == len(filled.kept) * EVENTS_PER_RUN
        for execution_id in filled.expired[:3]:
            assert await _objects_of(filled, execution_id) == 0
        for execution_id in filled.kept[:3]:
            assert await _objects_of(filled, execution_id) == 2
        # Analytics still counts the forgotten runs.
        assert await _rollup(filled) == rollup_before

    async def test_a_second_run_finds_nothing_to_do(self, filled: Filled) -> None:
        purge = RetentionActivities(filled.sessions, filled.store).purge_expired_executions
        await purge(PurgeRequest(ended_before=CUTOFF))
        again = await purge(PurgeRequest(ended_before=CUTOFF))
        assert (again.executions, again.objects) == (0, 0)

    async def test_a_worker_without_object_store_still_deletes_rows(self, filled: Filled) -> None:
        result = await RetentionActivities(filled.sessions, None).purge_expired_executions(
            PurgeRequest(ended_before=CUTOFF)
        )
        assert (result.executions, result.objects) == (40, 0)


class TestRetentionWorkflow:
    async def test_the_workflow_computes_the_cut_off_from_its_clock_and_purges(
        self, filled: Filled, temporal_env: WorkflowEnvironment
    ) -> None:
        task_queue = f"retention-{uuid.uuid4().hex[:8]}"
        # Whole days from now back to the cut-off: the rows above are on either side of it.
        days = (datetime.now(UTC) - CUTOFF).days
        async with Worker(
            temporal_env.client,
            task_queue=task_queue,
            workflows=[HeadraceRetention],
            activities=[
                RetentionActivities(filled.sessions, filled.store).purge_expired_executions
            ],
        ):
            result = await temporal_env.client.execute_workflow(
                HeadraceRetention.run,
                RetentionInput(older_than_days=days, batch_size=25),
                id=f"retention-{uuid.uuid4().hex}",
                task_queue=task_queue,
            )
        assert result.executions == 40
        ids, _ = await _remaining(filled)
        assert ids == set(filled.kept)
