"""Users and their API keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ApiKey, User


class UserRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: uuid.UUID) -> User | None:
        return await self.session.get(User, user_id)

    async def by_email(self, email: str) -> User | None:
        stmt = select(User).where(func.lower(User.email) == email.lower())
        return (await self.session.scalars(stmt)).first()

    async def add(self, user: User) -> User:
        self.session.add(user)
        await self.session.flush()
        return user

    async def page(self, *, limit: int, offset: int) -> tuple[Sequence[User], int]:
        total = await self.session.scalar(select(func.count()).select_from(User)) or 0
        stmt = select(User).order_by(User.created_at, User.id).limit(limit).offset(offset)
        return (await self.session.scalars(stmt)).all(), total

    async def delete(self, user: User) -> None:
        await self.session.delete(user)
        await self.session.flush()


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        await self.session.flush()
        return key

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        return (
            await self.session.scalars(select(ApiKey).where(ApiKey.key_hash == key_hash))
        ).first()

    async def get(self, key_id: uuid.UUID) -> ApiKey | None:
        return await self.session.get(ApiKey, key_id)

    async def for_user(self, user_id: uuid.UUID | None) -> Sequence[ApiKey]:
        stmt = select(ApiKey).order_by(ApiKey.created_at)
        if user_id is not None:
            stmt = stmt.where(ApiKey.user_id == user_id)
        return (await self.session.scalars(stmt)).all()

    async def delete(self, key: ApiKey) -> None:
        await self.session.delete(key)
        await self.session.flush()
