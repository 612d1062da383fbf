"""Executions and their event log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.execution_projection import TERMINAL
from db.models import Execution, ExecutionLog, Workflow

_T = TypeVar("_T")


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

    async def count_unfinished_by(self, user_id: uuid.UUID) -> int:
        """Runs ``user_id`` started (or owns, for webhook and schedule runs) not yet ended."""
        stmt = (
            select(func.count())
            .select_from(Execution)
            .where(Execution.created_by == user_id, Execution.status.not_in(TERMINAL))
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
