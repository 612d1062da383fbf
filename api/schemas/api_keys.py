from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from api.schemas.common import PublicModel, RequestModel


class ApiKeyCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    permissions: list[str] = Field(default_factory=list)
    expires_at: datetime | None = None


class ApiKeyPublic(PublicModel):
    id: uuid.UUID
    name: str
    prefix: str
    permissions: list[str]
    expires_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime
    user_id: uuid.UUID


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="The key itself. Shown only in this response.")
