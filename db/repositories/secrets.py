"""Secrets (values stay encrypted here; decryption belongs to the service)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Secret


class SecretRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str) -> Secret | None:
        return (await self.session.scalars(select(Secret).where(Secret.name == name))).first()

    async def by_names(self, names: Collection[str]) -> Sequence[Secret]:
        if not names:
            return []
        return (await self.session.scalars(select(Secret).where(Secret.name.in_(names)))).all()

    async def all(self) -> Sequence[Secret]:
        return (await self.session.scalars(select(Secret).order_by(Secret.name))).all()

    async def add(self, secret: Secret) -> Secret:
        self.session.add(secret)
        await self.session.flush()
        return secret

    async def delete(self, secret: Secret) -> None:
        await self.session.delete(secret)
        await self.session.flush()
