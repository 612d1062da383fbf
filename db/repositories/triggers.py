"""Triggers and the webhooks that belong to them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import Select, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Execution, Trigger, Webhook, Workflow

_T = TypeVar("_T")


class TriggerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, trigger_id: uuid.UUID) -> Trigger | None:
        return await self.session.get(Trigger, trigger_id)

    async def for_workflow(self, workflow_id: uuid.UUID) -> Sequence[Trigger]:
        stmt = (
            select(Trigger)
            .where(Trigger.workflow_id == workflow_id)
            .order_by(Trigger.created_at, Trigger.id)
        )
        return (await self.session.scalars(stmt)).all()

    async def add(self, trigger: Trigger) -> Trigger:
        self.session.add(trigger)
        await self.session.flush()
        return trigger

    async def delete(self, trigger: Trigger) -> None:
        await self.session.delete(trigger)
        await self.session.flush()


class WebhookRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, webhook_id: uuid.UUID) -> Webhook | None:
        return await self.session.get(Webhook, webhook_id)

    async def for_trigger(self, trigger_id: uuid.UUID) -> Webhook | None:
        stmt = select(Webhook).where(Webhook.trigger_id == trigger_id)
        return (await self.session.scalars(stmt)).first()

    async def for_triggers(self, trigger_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Webhook]:
        if not trigger_ids:
            return {}
        stmt = select(Webhook).where(Webhook.trigger_id.in_(trigger_ids))
        return {w.trigger_id: w for w in (await self.session.scalars(stmt)).all() if w.trigger_id}

    async def receiving(self, url_path: str) -> tuple[Webhook, Trigger, Workflow] | None:
        """The webhook at ``url_path`` with its trigger and workflow, in one query."""
        stmt = (
            select(Webhook, Trigger, Workflow)
            .join(Trigger, Trigger.id == Webhook.trigger_id)
            .join(Workflow, Workflow.id == Webhook.workflow_id)
            .where(Webhook.url_path == url_path)
        )
        row = (await self.session.execute(stmt)).first()
        return None if row is None else (row[0], row[1], row[2])

    async def path_taken(self, url_path: str, *, except_id: uuid.UUID | None = None) -> bool:
        stmt = select(func.count()).select_from(Webhook).where(Webhook.url_path == url_path)
        if except_id is not None:
            stmt = stmt.where(Webhook.id != except_id)
        return bool(await self.session.scalar(stmt))

    async def page(
        self,
        *,
        owner_id: uuid.UUID | None,
        workflow_id: uuid.UUID | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Webhook], int]:
        """Webhooks of workflows the owner may see (``owner_id`` None: all of them)."""
        stmt = self._filtered(select(Webhook), owner_id, workflow_id)
        total = await self.session.scalar(
            self._filtered(select(func.count()).select_from(Webhook), owner_id, workflow_id)
        )
        stmt = stmt.order_by(Webhook.created_at.desc(), Webhook.id).limit(limit).offset(offset)
        return (await self.session.scalars(stmt)).all(), total or 0

    @staticmethod
    def _filtered(
        stmt: Select[_T], owner_id: uuid.UUID | None, workflow_id: uuid.UUID | None
    ) -> Select[_T]:
        if owner_id is not None:
            stmt = stmt.join(Workflow, Workflow.id == Webhook.workflow_id).where(
                or_(Workflow.owner_id == owner_id, Workflow.shared.is_(True))
            )
        if workflow_id is not None:
            stmt = stmt.where(Webhook.workflow_id == workflow_id)
        return stmt

    async def add(self, webhook: Webhook) -> Webhook:
        self.session.add(webhook)
        await self.session.flush()
        return webhook


async def execution_by_id(session: AsyncSession, execution_id: uuid.UUID) -> Execution | None:
    """The execution row, read fresh (a concurrent request may just have written it)."""
    stmt = (
        select(Execution)
        .where(Execution.id == execution_id)
        .execution_options(populate_existing=True)
    )
    return (await session.scalars(stmt)).first()
