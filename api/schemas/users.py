from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import EmailStr, Field

from api.schemas.common import PublicModel, RequestModel

Role = Literal["admin", "developer", "user"]


class UserCreate(RequestModel):
    email: EmailStr
    password: str = Field(min_length=8, max_length=256)
    name: str = Field("", max_length=200)
    role: Role = "user"


class UserUpdate(RequestModel):
    name: str | None = Field(None, max_length=200)
    role: Role | None = None
    disabled: bool | None = None
    password: str | None = Field(None, min_length=8, max_length=256)


class UserPublic(PublicModel):
    id: uuid.UUID
    email: str
    name: str
    role: Role
    disabled: bool
    created_at: datetime
