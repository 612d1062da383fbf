"""API keys: shown once, stored as a hash."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import not_found
from api.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from api.security import hash_api_key, new_api_key
from api.services.access import is_admin
from db.models import ApiKey, User
from db.repositories.users import ApiKeyRepository


async def create_api_key(session: AsyncSession, owner: User, data: ApiKeyCreate) -> ApiKeyCreated:
    key = new_api_key()
    record = await ApiKeyRepository(session).add(
        ApiKey(
            user_id=owner.id,
            name=data.name,
            prefix=key[:10],
            key_hash=hash_api_key(key),
            permissions=data.permissions,
            expires_at=data.expires_at,
        )
    )
    await session.commit()
    public = ApiKeyPublic.model_validate(record)
    return ApiKeyCreated(**public.model_dump(), key=key)


async def list_api_keys(session: AsyncSession, user: User) -> Sequence[ApiKey]:
    return await ApiKeyRepository(session).for_user(None if is_admin(user) else user.id)


async def delete_api_key(session: AsyncSession, user: User, key_id: uuid.UUID) -> None:
    repo = ApiKeyRepository(session)
    record = await repo.get(key_id)
    if record is None or not (is_admin(user) or record.user_id == user.id):
        raise not_found("API key", key_id)
    await repo.delete(record)
    await session.commit()
