"""Users, their API keys and their refresh tokens."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import ApiKey, RefreshToken, User


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


class RefreshTokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, token: RefreshToken) -> RefreshToken:
        self.session.add(token)
        await self.session.flush()
        return token

    async def get(self, token_id: uuid.UUID) -> RefreshToken | None:
        return await self.session.get(RefreshToken, token_id)

    async def mark_used(self, token_id: uuid.UUID, now: datetime) -> bool:
        """Use the token once: True for the one caller that flips ``used_at``, on any replica."""
        stmt = (
            update(RefreshToken)
            .where(RefreshToken.id == token_id, RefreshToken.used_at.is_(None))
            .values(used_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        result = cast(CursorResult[Any], await self.session.execute(stmt))
        return result.rowcount == 1

    async def revoke_family(self, family_id: uuid.UUID, now: datetime) -> None:
        stmt = (
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(stmt)

    async def family_revoked(self, family_id: uuid.UUID) -> bool:
        stmt = select(RefreshToken.id).where(
            RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_not(None)
        )
        return (await self.session.scalars(stmt.limit(1))).first() is not None

    async def delete_expired(self, user_id: uuid.UUID, now: datetime) -> None:
        stmt = delete(RefreshToken).where(
            RefreshToken.user_id == user_id, RefreshToken.expires_at < now
        )
        await self.session.execute(stmt.execution_options(synchronize_session=False))
