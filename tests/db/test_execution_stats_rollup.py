"""The analytics rollup (``execution_stats``) equals the executions table, on both databases.

Each test owns its workflows (the session's database is shared), writes executions through
the ORM as the API and the event recorder do, and compares every rollup cell with the
same figures computed from the executions table.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.services.analytics import rebuild_rollup
from db.execution_projection import TERMINAL, apply_event
from db.execution_stats import (
    HISTOGRAM_BUCKETS,
    bucket_bounds,
    duration_bucket,
    histogram_column,
)
from db.models import Execution, User, Workflow, execution_stats
from db.session import create_engine, create_session_factory

START = datetime(2002, 3, 1, tzinfo=UTC)
STATUSES = ("completed", "completed", "completed", "failed", "cancelled", "running", "pending")
Cells = dict[tuple[str, datetime, uuid.UUID, str], dict[str, Any]]


@dataclass
class Fixture:
    sessions: async_sessionmaker[AsyncSession]
    workflows: list[uuid.UUID]


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[Fixture]:
    engine = create_engine(db_url)
    sessions = create_session_factory(engine)
    owner = User(
        id=uuid.uuid4(), email=f"rollup-{uuid.uuid4().hex[:8]}@example.com", password_hash="x"
    )
    workflows = [
        Workflow(id=uuid.uuid4(), owner_id=owner.id, name=f"rollup-{i}", definition={})
        for i in range(3)
    ]
    async with sessions() as session:
        session.add(owner)
        await session.flush()
        session.add_all(workflows)
        await session.commit()
    yield Fixture(sessions, [w.id for w in workflows])
    await engine.dispose()


def _execution(workflow_id: uuid.UUID, status: str, created: datetime, seconds: float) -> Execution:
    execution_id = uuid.uuid4()
    started = created + timedelta(milliseconds=20)
    return Execution(
        id=execution_id,
        temporal_workflow_id=str(execution_id),
        workflow_id=workflow_id,
        version=1,
        status=status,
        created_at=created,
        started_at=None if status == "pending" else started,
        completed_at=started + timedelta(seconds=seconds) if status in TERMINAL else None,
    )


def _random_executions(workflows: list[uuid.UUID], n: int, seed: int) -> list[Execution]:
    rng = random.Random(seed)
    return [
        _execution(
            rng.choice(workflows),
            rng.choice(STATUSES),
            START + timedelta(seconds=rng.uniform(0, 3 * 86400)),
            rng.lognormvariate(0.5, 2.0),
        )
        for _ in range(n)
    ]


async def _rollup(fx: Fixture) -> Cells:
    """The rollup's non-empty cells of the fixture's workflows."""
    async with fx.sessions() as session:
        rows = (
            await session.execute(
                select(execution_stats).where(execution_stats.c.workflow_id.in_(fx.workflows))
            )
        ).mappings()
        cells: Cells = {}
        for row in rows:
            if row["runs"] == 0:
                assert row["timed_runs"] == row["duration_sum_us"] == 0
                continue
            key = (row["grain"], row["start"], row["workflow_id"], row["status"])
            cells[key] = {
                "runs": row["runs"],
                "timed_runs": row["timed_runs"],
                "duration_sum_us": row["duration_sum_us"],
                "duration_max_us": row["duration_max_us"],
                "histogram": {
                    b: row[histogram_column(b)]
                    for b in range(HISTOGRAM_BUCKETS)
                    if row[histogram_column(b)]
                },
            }
        return cells


async def _from_table(fx: Fixture) -> Cells:
    """The same cells, computed from the executions table the plain way."""
    async with fx.sessions() as session:
        executions = (
            await session.scalars(select(Execution).where(Execution.workflow_id.in_(fx.workflows)))
        ).all()
    cells: Cells = {}
    for e in executions:
        if e.status not in TERMINAL:
            continue
        for grain in ("hour", "day"):
            start = e.created_at.replace(minute=0, second=0, microsecond=0)
            if grain == "day":
                start = start.replace(hour=0)
            cell = cells.setdefault(
                (grain, start, e.workflow_id, e.status),
                {
                    "runs": 0,
                    "timed_runs": 0,
                    "duration_sum_us": 0,
                    "duration_max_us": None,
                    "histogram": {},
                },
            )
            cell["runs"] += 1
            if e.status == "completed" and e.started_at and e.completed_at:
                took = (e.completed_at - e.started_at) // timedelta(microseconds=1)
                cell["timed_runs"] += 1
                cell["duration_sum_us"] += took
                cell["duration_max_us"] = max(cell["duration_max_us"] or took, took)
                bucket = duration_bucket(took)
                cell["histogram"][bucket] = cell["histogram"].get(bucket, 0) + 1
    return cells


async def _add(fx: Fixture, executions: list[Execution]) -> None:
    async with fx.sessions() as session:
        session.add_all(executions)
        await session.commit()


def _event(kind: str, ts: datetime, **data: Any) -> SimpleNamespace:
    return SimpleNamespace(type=kind, step_id=None, attempt=None, data=data, ts=ts)


class TestHistogramBuckets:
    def test_four_buckets_per_doubling_from_one_millisecond(self) -> None:
        assert duration_bucket(0) == 0
        assert duration_bucket(-5) == 0  # a skewed clock
        assert duration_bucket(999) == 0
        assert duration_bucket(1000) == 1
        assert duration_bucket(2000) == 5
        assert duration_bucket(1_000_000) == 1 + int(4 * 9.965784)
        assert duration_bucket(10**13) == HISTOGRAM_BUCKETS - 1

    def test_every_duration_lies_in_its_buckets_bounds(self) -> None:
        rng = random.Random(7)
        for _ in range(2000):
            us = int(10 ** rng.uniform(0, 12))
            low, high = bucket_bounds(duration_bucket(us))
            assert low <= us / 1e6 * (1 + 1e-12)
            assert high is None or us / 1e6 < high * (1 + 1e-12)
            if high is not None and low > 0:
                assert high / low == pytest.approx(2**0.25)


class TestRollupFollowsTheTable:
    async def test_seeded_executions_are_rolled_up_exactly(self, db: Fixture) -> None:
        await _add(db, _random_executions(db.workflows, 400, seed=1))
        expected = await _from_table(db)
        assert expected  # the data set has ended runs in many cells
        assert await _rollup(db) == expected

    async def test_a_rebuild_gives_the_same_cells(self, db: Fixture) -> None:
        await _add(db, _random_executions(db.workflows, 300, seed=2))
        live = await _rollup(db)
        counted = await rebuild_rollup(db.sessions, START, START + timedelta(days=3))
        assert counted >= sum(c["runs"] for k, c in live.items() if k[0] == "day")
        assert await _rollup(db) == live

    async def test_unfinished_runs_are_not_rolled_up_until_they_end(self, db: Fixture) -> None:
        execution = _execution(db.workflows[0], "running", START, 0)
        await _add(db, [execution])
        assert await _rollup(db) == {}
        async with db.sessions() as session:
            row = await session.get(Execution, execution.id)
            assert row is not None
            apply_event(row, _event("execution.completed", START + timedelta(seconds=3)))
            await session.commit()
        cells = await _rollup(db)
        assert {(k[0], k[3], c["runs"]) for k, c in cells.items()} == {
            ("hour", "completed", 1),
            ("day", "completed", 1),
        }
        assert cells == await _from_table(db)


class TestRewrites:
    async def test_a_terminal_event_applied_twice_counts_once(self, db: Fixture) -> None:
        execution = _execution(db.workflows[0], "running", START, 0)
        await _add(db, [execution])
        ended = _event("execution.failed", START + timedelta(seconds=2), error="boom")
        for _ in range(2):
            async with db.sessions() as session:
                row = await session.get(Execution, execution.id)
                assert row is not None
                apply_event(row, ended)
                await session.commit()
        cells = await _rollup(db)
        assert [c["runs"] for c in cells.values()] == [1, 1]
        assert cells == await _from_table(db)

    async def test_a_rewritten_terminal_status_moves_the_run(self, db: Fixture) -> None:
        slow = _execution(db.workflows[0], "completed", START, 50)
        fast = _execution(db.workflows[0], "completed", START + timedelta(minutes=5), 2)
        await _add(db, [slow, fast])
        async with db.sessions() as session:
            row = await session.get(Execution, slow.id)
            assert row is not None
            apply_event(row, _event("execution.failed", START + timedelta(seconds=80)))
            await session.commit()
        cells = await _rollup(db)
        assert cells == await _from_table(db)
        hour = ("hour", START, db.workflows[0])
        assert cells[(*hour, "completed")]["runs"] == 1
        assert cells[(*hour, "completed")]["duration_max_us"] == 2_000_000  # not 50 s any more
        assert cells[(*hour, "failed")]["runs"] == 1

    async def test_a_rewrite_of_a_partly_expired_row_still_moves_the_run(self, db: Fixture) -> None:
        execution = _execution(db.workflows[1], "completed", START, 4)
        await _add(db, [execution])
        async with db.sessions() as session:
            row = await session.get(Execution, execution.id)
            assert row is not None
            session.expire(row, ["created_at", "workflow_id", "started_at"])
            row.status = "cancelled"
            await session.commit()
        cells = await _rollup(db)
        assert cells == await _from_table(db)
        assert {(k[0], k[3]) for k in cells} == {("hour", "cancelled"), ("day", "cancelled")}

    async def test_a_rewritten_end_time_moves_the_duration(self, db: Fixture) -> None:
        execution = _execution(db.workflows[1], "completed", START, 1)
        await _add(db, [execution])
        async with db.sessions() as session:
            row = await session.get(Execution, execution.id)
            assert row is not None
            assert row.started_at is not None
            row.completed_at = row.started_at + timedelta(seconds=30)
            await session.commit()
        cells = await _rollup(db)
        assert cells == await _from_table(db)
        assert {c["duration_sum_us"] for c in cells.values()} == {30_000_000}

    async def test_a_retry_is_a_run_of_its_own(self, db: Fixture) -> None:
        original = _execution(db.workflows[2], "failed", START, 1)
        await _add(db, [original])
        retry = _execution(db.workflows[2], "completed", START + timedelta(minutes=1), 1)
        retry.retry_of = original.id
        await _add(db, [retry])
        cells = await _rollup(db)
        assert cells == await _from_table(db)
        day = ("day", START, db.workflows[2])
        assert (cells[(*day, "failed")]["runs"], cells[(*day, "completed")]["runs"]) == (1, 1)

    async def test_deleted_executions_and_workflows_leave_the_rollup(self, db: Fixture) -> None:
        executions = _random_executions(db.workflows, 60, seed=3)
        await _add(db, executions)
        async with db.sessions() as session:
            for execution in executions[:20]:
                row = await session.get(Execution, execution.id)
                await session.delete(row)
            await session.commit()
        assert await _rollup(db) == await _from_table(db)
        async with db.sessions() as session:
            await session.execute(delete(Workflow).where(Workflow.id == db.workflows[0]))
            await session.commit()
        cells = await _rollup(db)
        assert cells == await _from_table(db)
        assert all(key[2] != db.workflows[0] for key in cells)


class TestRegistration:
    """The rollup's ORM hooks are registered by ``create_session_factory``, once a process."""

    async def test_a_second_session_factory_does_not_count_runs_twice(
        self, db: Fixture, db_url: str
    ) -> None:
        engine = create_engine(db_url)
        try:
            again = Fixture(create_session_factory(engine), db.workflows)
            await _add(again, [_execution(db.workflows[0], "completed", START, 1)])
        finally:
            await engine.dispose()
        cells = await _rollup(db)
        assert {(k[0], c["runs"]) for k, c in cells.items()} == {("hour", 1), ("day", 1)}
        assert cells == await _from_table(db)
