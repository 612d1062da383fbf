"""Finding and deleting executions past the retention period (``HEADRACE_RETENTION_DAYS``).

Rows are deleted with Core ``DELETE`` statements, on purpose around the ORM: the analytics
rollup's hooks (:mod:`db.execution_stats`) take a deleted row's contribution out of its
cells, and retention must keep the counts of runs it forgets. Events (``execution_logs``)
go with their execution (``ON DELETE CASCADE``; deleted explicitly too, so the statement
does not depend on SQLite's ``foreign_keys`` pragma).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.execution_projection import TERMINAL
from db.models import Execution, ExecutionLog


async def expired_executions(
    session: AsyncSession, ended_before: datetime, limit: int
) -> list[uuid.UUID]:
    """Up to ``limit`` ended executions whose end (or creation) is before ``ended_before``.

    Unfinished runs are never expired, however old: Temporal still runs them.
    """
    ended = func.coalesce(Execution.completed_at, Execution.created_at)
    query = (
        select(Execution.id)
        .where(Execution.status.in_(sorted(TERMINAL)), ended < ended_before)
        .order_by(Execution.created_at)
        .limit(limit)
    )
    return list((await session.scalars(query)).all())


async def delete_executions(session: AsyncSession, ids: list[uuid.UUID]) -> int:
    """Delete these executions and their events; how many executions were deleted."""
    if not ids:
        return 0
    await session.execute(delete(ExecutionLog).where(ExecutionLog.execution_id.in_(ids)))
    result = await session.execute(delete(Execution).where(Execution.id.in_(ids)))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
