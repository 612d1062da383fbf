"""API keys: shown once, stored as a hash, limited to their ``permissions`` (scopes)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import InvalidInput, ProblemDetail, not_found
from api.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from api.security import hash_api_key, new_api_key
from core.access import SCOPES, is_admin, role_scopes
from db.models import ApiKey, User
from db.repositories.users import ApiKeyRepository


def key_permissions(owner: User, requested: Sequence[str] | None) -> list[str]:
    """The scopes to store: those asked for, each one the owner's role holds (422 for one it
    does not), or by default every scope of the role; in canonical order."""
    allowed = role_scopes(owner.role)
    if requested is None:
        return [s for s in SCOPES if s in allowed]
    problems = [
        ProblemDetail(
            f"/permissions/{i}",
            f"your role ({owner.role}) does not have the {s!r} scope",
            "scope_not_allowed",
        )
        for i, s in enumerate(requested)
        if s not in allowed
    ]
    if problems:
        raise InvalidInput(detail=problems[0].detail, errors=problems)
    return [s for s in SCOPES if s in requested]


async def create_api_key(session: AsyncSession, owner: User, data: ApiKeyCreate) -> ApiKeyCreated:
    permissions = key_permissions(owner, data.permissions)
    key = new_api_key()
    record = await ApiKeyRepository(session).add(
        ApiKey(
            user_id=owner.id,
            name=data.name,
            prefix=key[:10],
            key_hash=hash_api_key(key),
            permissions=permissions,
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
