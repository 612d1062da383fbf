from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from api.deps import Reader, SessionDep, Writer
from api.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from api.services import api_keys

router = APIRouter(prefix="/api-keys", tags=["api-keys"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ApiKeyCreated)
async def create_api_key(data: ApiKeyCreate, user: Writer, session: SessionDep) -> ApiKeyCreated:
    """Create a key for yourself. The key is in this response only; it is stored hashed."""
    return await api_keys.create_api_key(session, user, data)


@router.get("", response_model=list[ApiKeyPublic])
async def list_api_keys(user: Reader, session: SessionDep) -> list[ApiKeyPublic]:
    return [ApiKeyPublic.model_validate(k) for k in await api_keys.list_api_keys(session, user)]


@router.delete("/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_api_key(key_id: uuid.UUID, user: Writer, session: SessionDep) -> None:
    await api_keys.delete_api_key(session, user, key_id)
