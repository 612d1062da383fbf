"""Webhooks: the ``/api/v1/webhooks`` resource and what ``/hooks/{url_path}`` answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from api.schemas.common import PublicModel, RequestModel
from api.schemas.executions import ExecutionStatus
from api.schemas.triggers import (
    URL_PATH_PATTERN,
    RateLimit,
    WebhookAuth,
    WebhookMethod,
)


class WebhookCreate(RequestModel):
    workflow_id: uuid.UUID
    event_type: str = Field("webhook", min_length=1, max_length=200)
    url_path: str | None = Field(
        None, pattern=URL_PATH_PATTERN, description="Generated (random) if omitted."
    )
    method: WebhookMethod = "POST"
    authentication: WebhookAuth = Field(
        description='Required: `{"type": "none"}` must be chosen explicitly.'
    )
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    is_active: bool = True


class WebhookUpdate(RequestModel):
    event_type: str | None = Field(None, min_length=1, max_length=200)
    url_path: str | None = Field(None, pattern=URL_PATH_PATTERN)
    method: WebhookMethod | None = None
    authentication: WebhookAuth | None = None
    rate_limit: RateLimit | None = None
    is_active: bool | None = None


class SecretRotation(RequestModel):
    """A new secret; the old one keeps working for ``grace_period`` (a duration)."""

    grace_period: str = Field("1h", description='How long the old secret stays valid ("0s").')
    secret: str | None = Field(None, min_length=16, max_length=500)


class WebhookAuthPublic(PublicModel):
    type: str
    header: str | None = None
    preset: str | None = None
    tolerance: int | None = None
    require_timestamp: bool | None = None
    previous_secret_expires_at: datetime | None = None


class WebhookPublic(PublicModel):
    id: uuid.UUID
    workflow_id: uuid.UUID
    trigger_id: uuid.UUID | None
    url_path: str
    url: str
    method: str
    event_type: str
    authentication: WebhookAuthPublic
    rate_limit: dict[str, Any]
    is_active: bool
    created_at: datetime
    updated_at: datetime
    secret: str | None = Field(None, description="The generated or new secret, shown once.")


class HookAccepted(PublicModel):
    """``/hooks/{url_path}``: the run it started (or, for a repeated key, the first one)."""

    execution_id: uuid.UUID
    status: ExecutionStatus
    duplicate: bool = False
    result: Any = None
    error: str | None = None
