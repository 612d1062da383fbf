from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from api.schemas.common import PublicModel, RequestModel
from core.access import Scope


class ApiKeyCreate(RequestModel):
    name: str = Field(min_length=1, max_length=200)
    permissions: list[Scope] | None = Field(
        None,
        min_length=1,
        description="Scopes of the key: `read` (GET), `write` (change workflows, triggers, "
        "webhooks, secrets, integrations, keys), `execute` (start and operate runs), `admin` "
        "(user management; admins only). Default: every scope of your role.",
    )
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
