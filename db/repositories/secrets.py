"""Secrets (values stay encrypted here; decryption belongs to the service)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Secret


class SecretRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str) -> Secret | None:
        return (await self.session.scalars(select(Secret).where(Secret.name == name))).first()

    async def by_names(
        self, names: Collection[str], *, usable_by: uuid.UUID | None = None
    ) -> Sequence[Secret]:
        """Secrets by name; with ``usable_by``, only that user's own and the shared ones."""
        if not names:
            return []
        query = _usable_by(select(Secret).where(Secret.name.in_(names)), usable_by)
        return (await self.session.scalars(query)).all()

    async def usable_by(self, user_id: uuid.UUID | None) -> Sequence[Secret]:
        """Every secret (``None``), or that user's own and the shared ones, by name."""
        query = _usable_by(select(Secret).order_by(Secret.name), user_id)
        return (await self.session.scalars(query)).all()

    async def add(self, secret: Secret) -> Secret:
        self.session.add(secret)
        await self.session.flush()
        return secret

    async def delete(self, secret: Secret) -> None:
        await self.session.delete(secret)
        await self.session.flush()


def _usable_by(query: Select[Secret], user_id: uuid.UUID | None) -> Select[Secret]:
    if user_id is None:
        return query
    return query.where(or_(Secret.owner_id == user_id, Secret.shared.is_(True)))
