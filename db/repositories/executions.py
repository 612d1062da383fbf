"""Executions and their event log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from db.base import utcnow
from db.models import UNFINISHED, Execution, ExecutionLog, Workflow

_T = TypeVar("_T")
EXECUTIONS: Table = Execution.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class ExecutionFilter:
    owner_id: uuid.UUID | None = None  # None: all (admins); else own or shared workflows
    workflow_id: uuid.UUID | None = None
    status: str | None = None


class ExecutionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, execution: Execution) -> Execution:
        self.session.add(execution)
        await self.session.flush()
        return execution

    async def insert_pending(self, **values: Any) -> Execution:
        """Insert a ``pending`` row with one Core ``INSERT``; the returned object is persistent.

        Cheaper than ``add()`` + flush on the start path: no unit of work, no mapper hooks
        (a pending row adds nothing to the analytics rollup, db/execution_stats.py). The
        object then joins the session as if loaded, so later changes are flushed as usual.
        """
        now = utcnow()
        row: dict[str, Any] = {
            "status": "pending",
            "steps": {},
            "reuses_outputs": False,
            "last_event_seq": 0,
            "created_at": now,
            "updated_at": now,
            **values,
        }
        # Every other column gets its scalar default or NULL, so the object has every
        # attribute loaded (an async session refuses the lazy load of an expired one).
        for column in EXECUTIONS.columns:
            if column.key not in row:
                default = column.default
                if isinstance(default, ScalarElementColumnDefault):
                    row[column.key] = default.arg
                else:
                    row[column.key] = None
        await self.session.execute(insert(EXECUTIONS), [row])
        execution = Execution(**row)
        make_transient_to_detached(execution)
        self.session.add(execution)
        return execution

    async def count_unfinished_by(self, user_id: uuid.UUID) -> int:
        """Runs ``user_id`` started (or owns, for webhook and schedule runs) not yet ended.

        Through the partial index ``ix_executions_unfinished_by``, whose predicate this
        query repeats word for word (docs/performance.md, start path).
        """
        stmt = (
            select(func.count())
            .select_from(Execution)
            .where(Execution.created_by == user_id, text(UNFINISHED))
        )
        return await self.session.scalar(stmt) or 0

    async def page(
        self, flt: ExecutionFilter, *, limit: int, offset: int
    ) -> tuple[Sequence[Execution], int]:
        stmt = self._filtered(select(Execution), flt)
        total = await self.session.scalar(
            self._filtered(select(func.count()).select_from(Execution), flt)
        )
        stmt = stmt.order_by(Execution.created_at.desc(), Execution.id).limit(limit).offset(offset)
        return (await self.session.scalars(stmt)).all(), total or 0

    @staticmethod
    def _filtered(stmt: Select[_T], flt: ExecutionFilter) -> Select[_T]:
        if flt.owner_id is not None:
            stmt = stmt.join(Workflow, Workflow.id == Execution.workflow_id).where(
                (Workflow.owner_id == flt.owner_id) | Workflow.shared.is_(True)
            )
        if flt.workflow_id is not None:
            stmt = stmt.where(Execution.workflow_id == flt.workflow_id)
        if flt.status is not None:
            stmt = stmt.where(Execution.status == flt.status)
        return stmt

    async def logs(
        self,
        execution_id: uuid.UUID,
        *,
        after: int = 0,
        limit: int = 100,
        level: str | None = None,
        step_id: str | None = None,
        types: Sequence[str] = (),
    ) -> Sequence[ExecutionLog]:
        stmt = select(ExecutionLog).where(
            ExecutionLog.execution_id == execution_id, ExecutionLog.seq > after
        )
        if level:
            stmt = stmt.where(ExecutionLog.level == level)
        if step_id:
            stmt = stmt.where(ExecutionLog.step_id == step_id)
        if types:
            stmt = stmt.where(ExecutionLog.type.in_(types))
        return (await self.session.scalars(stmt.order_by(ExecutionLog.seq).limit(limit))).all()
