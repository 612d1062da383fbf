"""Workflows and their immutable versions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import User, Workflow, WorkflowVersion

_T = TypeVar("_T")


@dataclass(frozen=True)
class WorkflowFilter:
    owner_id: uuid.UUID | None = None  # None: every owner (admins)
    include_shared: bool = False
    status: str | None = None
    q: str | None = None


class WorkflowRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, workflow_id: uuid.UUID) -> Workflow | None:
        return await self.session.get(Workflow, workflow_id)

    async def owner(self, workflow_id: str) -> User | None:
        """The owner of the workflow ``workflow_id`` (an id as text, as runs carry it)."""
        try:
            workflow = await self.get(uuid.UUID(workflow_id))
        except ValueError:
            return None
        return await self.session.get(User, workflow.owner_id) if workflow is not None else None

    async def add(self, workflow: Workflow) -> Workflow:
        self.session.add(workflow)
        await self.session.flush()
        return workflow

    async def add_version(self, version: WorkflowVersion) -> WorkflowVersion:
        self.session.add(version)
        await self.session.flush()
        return version

    async def version(self, workflow_id: uuid.UUID, number: int) -> WorkflowVersion | None:
        stmt = select(WorkflowVersion).where(
            WorkflowVersion.workflow_id == workflow_id, WorkflowVersion.version == number
        )
        return (await self.session.scalars(stmt)).first()

    async def versions(self, workflow_id: uuid.UUID) -> Sequence[WorkflowVersion]:
        stmt = (
            select(WorkflowVersion)
            .where(WorkflowVersion.workflow_id == workflow_id)
            .order_by(WorkflowVersion.version.desc())
        )
        return (await self.session.scalars(stmt)).all()

    async def page(
        self, flt: WorkflowFilter, *, limit: int, offset: int
    ) -> tuple[Sequence[Workflow], int]:
        base = self._filtered(select(Workflow), flt)
        total = await self.session.scalar(
            self._filtered(select(func.count()).select_from(Workflow), flt)
        )
        stmt = base.order_by(Workflow.created_at.desc(), Workflow.id).limit(limit).offset(offset)
        return (await self.session.scalars(stmt)).all(), total or 0

    @classmethod
    def ids(cls, flt: WorkflowFilter) -> Select[tuple[uuid.UUID]]:
        """The ids of the workflows ``flt`` passes, as a subquery (``column.in_(...)``)."""
        return cls._filtered(select(Workflow.id), flt)

    @staticmethod
    def _filtered(stmt: Select[_T], flt: WorkflowFilter) -> Select[_T]:
        if flt.owner_id is not None:
            own = Workflow.owner_id == flt.owner_id
            stmt = stmt.where(or_(own, Workflow.shared.is_(True)) if flt.include_shared else own)
        if flt.status:
            stmt = stmt.where(Workflow.status == flt.status)
        if flt.q:
            pattern = f"%{flt.q.lower()}%"
            stmt = stmt.where(
                or_(
                    func.lower(Workflow.name).like(pattern),
                    func.lower(Workflow.description).like(pattern),
                )
            )
        return stmt

    async def delete(self, workflow: Workflow) -> None:
        await self.session.delete(workflow)
        await self.session.flush()
