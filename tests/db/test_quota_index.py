"""The unfinished-runs quota, counted on every start, is served by its partial index."""

from __future__ import annotations

import uuid

from sqlalchemy import delete, func, inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from db.execution_projection import TERMINAL
from db.models import UNFINISHED, Execution, User, Workflow
from db.repositories.executions import ExecutionRepository
from db.session import create_engine, create_session_factory

STATUSES = ["pending", "running", "waiting", "paused", "queued", *sorted(TERMINAL)]


async def _user_with_runs(session: AsyncSession) -> tuple[uuid.UUID, uuid.UUID]:
    """A user with one run in each status, and another user with one running run."""
    ids = []
    for _ in range(2):
        user = User(email=f"quota-{uuid.uuid4().hex[:8]}@example.com", password_hash="x")
        session.add(user)
        await session.flush()
        ids.append(user.id)
    workflow = Workflow(owner_id=ids[0], name="quota", definition={"steps": []})
    session.add(workflow)
    await session.flush()
    for created_by, statuses in ((ids[0], STATUSES), (ids[1], ["running"])):
        for status in statuses:
            session.add(
                Execution(
                    workflow_id=workflow.id,
                    version=1,
                    status=status,
                    created_by=created_by,
                    temporal_workflow_id=str(uuid.uuid4()),
                )
            )
    await session.flush()
    return ids[0], ids[1]


class TestUnfinishedQuotaIndex:
    async def test_the_count_is_the_users_runs_not_in_a_terminal_status(self, db_url: str) -> None:
        engine = create_engine(db_url)
        async with create_session_factory(engine)() as session:
            user, _ = await _user_with_runs(session)
            assert await ExecutionRepository(session).count_unfinished_by(user) == 5
            await session.rollback()
        await engine.dispose()

    async def test_the_quota_query_can_use_the_partial_index(self, db_url: str) -> None:
        """The query repeats the index's predicate as written; a planner proves the match.

        PostgreSQL may prefer a sequential scan of a near-empty table, so sequential scans
        are priced out here: the question is whether the index *can* serve the query.
        """
        stmt = (
            select(func.count())
            .select_from(Execution)
            .where(Execution.created_by == uuid.uuid4(), text(UNFINISHED))
        )
        engine = create_engine(db_url)
        async with engine.connect() as conn:
            compiled = stmt.compile(engine.sync_engine)
            sql = str(compiled)
            if db_url.startswith("sqlite"):
                params: tuple[object, ...] = (uuid.uuid4().hex,)
                plan = await conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
            else:
                await conn.exec_driver_sql("SET enable_seqscan = off")
                params = (uuid.uuid4(),)
                plan = await conn.exec_driver_sql(f"EXPLAIN {sql.replace('%s', '$1')}", params)
            text_plan = " ".join(str(value) for row in plan.all() for value in row)
        await engine.dispose()
        assert "ix_executions_unfinished_by" in text_plan, text_plan


class TestPendingInsert:
    async def test_the_row_inserted_by_core_is_a_loaded_object_of_the_session(
        self, db_url: str
    ) -> None:
        """Every column is set (no lazy load, which async sessions refuse), and a change
        made afterwards is flushed like any loaded row's."""
        engine = create_engine(db_url)
        sessions = create_session_factory(engine)
        async with sessions() as session:
            user, other = await _user_with_runs(session)
            workflow_id = (
                await session.scalars(select(Workflow.id).where(Workflow.owner_id == user))
            ).one()
            execution = await ExecutionRepository(session).insert_pending(
                id=uuid.uuid4(),
                temporal_workflow_id=str(uuid.uuid4()),
                workflow_id=workflow_id,
                version=1,
                input_data={"a": 1},
                variables={},
                created_by=user,
                trigger_type="manual",
                trigger_id=None,
            )
            assert inspect(execution).persistent
            assert not inspect(execution).expired_attributes
            await session.commit()
            execution.temporal_run_id = "run-1"
            await session.commit()
        async with sessions() as session:
            stored = await session.get(Execution, execution.id)
            assert stored is not None
            assert (stored.status, stored.input_data, stored.temporal_run_id) == (
                "pending",
                {"a": 1},
                "run-1",
            )
            assert stored.steps == {} and stored.last_event_seq == 0
            # Leave no pending row behind: the app's outbox sweep (tests/deploy) would try
            # to start it, and this workflow has no version.
            await session.execute(delete(Workflow).where(Workflow.id == workflow_id))
            await session.execute(delete(User).where(User.id.in_([user, other])))
            await session.commit()
        await engine.dispose()
