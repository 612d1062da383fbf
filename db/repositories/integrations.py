"""Integrations, and the workflows linked to n8n workflows through their ``source``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Integration, Workflow

N8N_SOURCE_KIND = "n8n"


class IntegrationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, integration_id: uuid.UUID) -> Integration | None:
        return await self.session.get(Integration, integration_id)

    async def add(self, integration: Integration) -> Integration:
        self.session.add(integration)
        await self.session.flush()
        return integration

    async def delete(self, integration: Integration) -> None:
        await self.session.delete(integration)
        await self.session.flush()

    async def list(self, owner_id: uuid.UUID | None) -> Sequence[Integration]:
        """An owner's integrations (every one for ``None``), oldest first."""
        stmt = select(Integration).order_by(Integration.created_at, Integration.id)
        if owner_id is not None:
            stmt = stmt.where(Integration.owner_id == owner_id)
        return (await self.session.scalars(stmt)).all()

    async def by_name(self, owner_id: uuid.UUID, name: str) -> Integration | None:
        stmt = select(Integration).where(Integration.owner_id == owner_id, Integration.name == name)
        return (await self.session.scalars(stmt)).first()

    async def n8n_synced_workflows(self, owner_id: uuid.UUID, n8n_url: str) -> dict[str, Workflow]:
        """The owner's workflows synced from the n8n at ``n8n_url``, by n8n workflow id."""
        stmt = select(Workflow).where(
            Workflow.owner_id == owner_id,
            Workflow.source["kind"].as_string() == N8N_SOURCE_KIND,
            Workflow.source["n8n_url"].as_string() == n8n_url,
        )
        rows = (await self.session.scalars(stmt)).all()
        return {str((w.source or {}).get("n8n_id")): w for w in rows}
