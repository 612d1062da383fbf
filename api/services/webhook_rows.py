"""Webhook rows: what a ``webhook`` trigger owns (its path, method, auth and secret).

Trigger changes (:mod:`api.services.triggers`) create, update and delete them; the webhook
endpoints (:mod:`api.services.webhooks`) show them and rotate their secrets; intake
(:mod:`api.services.webhook_intake`) reads them.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import (
    Conflict,
    invalid,
)
from api.schemas.triggers import (
    WebhookAuth,
    WebhookTrigger,
)
from api.schemas.webhooks import (
    SecretRotation,
    WebhookAuthPublic,
    WebhookPublic,
)
from api.services.webhook_auth import DEFAULT_TOKEN_HEADER
from core.encryption import Encryptor
from core.settings import Settings
from db.models import Trigger, Webhook, Workflow
from db.repositories.triggers import WebhookRepository
from temporal_workflows.durations import parse_duration


def webhook_url(settings: Settings, url_path: str) -> str:
    return f"{settings.base_url}/hooks/{url_path}"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def _auth_config(auth: WebhookAuth, previous: Mapping[str, Any]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if auth.type == "header":
        config["header"] = auth.header or DEFAULT_TOKEN_HEADER
    if auth.type == "hmac":
        config.update(
            preset=auth.preset, tolerance=auth.tolerance, require_timestamp=auth.require_timestamp
        )
    if auth.type != "none" and "previous_secret_encrypted" in previous:
        config["previous_secret_encrypted"] = previous["previous_secret_encrypted"]
        config["previous_expires_at"] = previous["previous_expires_at"]
    return config


class WebhookRows:
    """Creating and changing webhook rows; secrets are stored encrypted, shown once."""

    def __init__(self, session: AsyncSession, encryptor: Encryptor) -> None:
        self.session = session
        self.encryptor = encryptor
        self.repo = WebhookRepository(session)

    async def create(
        self, workflow: Workflow, trigger: Trigger, spec: WebhookTrigger, pointer: str
    ) -> tuple[Webhook, str | None]:
        """The webhook row of a new trigger, and its secret if it was generated."""
        url_path = spec.url_path or secrets.token_hex(12)
        await self._check_path(url_path, None, pointer)
        auth = spec.authentication
        secret = None if auth.type == "none" else (auth.secret or new_secret())
        webhook = Webhook(
            workflow_id=workflow.id,
            trigger_id=trigger.id,
            url_path=url_path,
            method=spec.method,
            event_type=spec.event_type,
            auth_type=auth.type,
            auth_config=_auth_config(auth, {}),
            secret_encrypted=self.encryptor.encrypt(secret) if secret else None,
            is_active=spec.is_active,
        )
        try:
            await self.repo.add(webhook)
        except IntegrityError as exc:  # a concurrent request took the path first
            raise _path_taken(url_path) from exc
        return webhook, secret if auth.secret is None else None

    async def update(self, webhook: Webhook, spec: WebhookTrigger, pointer: str) -> str | None:
        """Apply a changed spec; returns a secret only if one had to be generated."""
        if spec.url_path and spec.url_path != webhook.url_path:
            await self._check_path(spec.url_path, webhook.id, pointer)
            webhook.url_path = spec.url_path
        webhook.method, webhook.event_type = spec.method, spec.event_type
        webhook.is_active = spec.is_active
        auth = spec.authentication
        generated = None
        if auth.type == "none":
            webhook.secret_encrypted = None
        elif auth.secret is not None:
            webhook.secret_encrypted = self.encryptor.encrypt(auth.secret)
        elif webhook.secret_encrypted is None:
            generated = new_secret()
            webhook.secret_encrypted = self.encryptor.encrypt(generated)
        webhook.auth_type = auth.type
        webhook.auth_config = _auth_config(auth, webhook.auth_config or {})
        return generated

    async def rotate(self, webhook: Webhook, rotation: SecretRotation) -> str | None:
        """A new secret; the old one stays valid for the grace period. Returns it if generated."""
        if webhook.auth_type == "none" or webhook.secret_encrypted is None:
            raise Conflict(detail="This webhook has no secret to rotate (authentication none)")
        try:
            grace = parse_duration(rotation.grace_period)
        except ValueError as exc:
            raise invalid("/grace_period", str(exc), "invalid_duration") from exc
        config = {
            k: v for k, v in (webhook.auth_config or {}).items() if not k.startswith("previous_")
        }
        if grace > timedelta(0):
            config["previous_secret_encrypted"] = webhook.secret_encrypted
            config["previous_expires_at"] = (datetime.now(UTC) + grace).isoformat()
        secret = rotation.secret or new_secret()
        webhook.secret_encrypted = self.encryptor.encrypt(secret)
        webhook.auth_config = config
        return None if rotation.secret else secret

    async def _check_path(self, url_path: str, except_id: uuid.UUID | None, pointer: str) -> None:
        if await self.repo.path_taken(url_path, except_id=except_id):
            raise _path_taken(url_path)


def _path_taken(url_path: str) -> Conflict:
    return Conflict(detail=f"The webhook path {url_path!r} is already in use")


def webhook_public(
    settings: Settings, webhook: Webhook, trigger: Trigger | None, secret: str | None = None
) -> WebhookPublic:
    config = webhook.auth_config or {}
    expires = config.get("previous_expires_at")
    auth = WebhookAuthPublic(
        type=webhook.auth_type,
        header=config.get("header"),
        preset=config.get("preset"),
        tolerance=config.get("tolerance"),
        require_timestamp=config.get("require_timestamp"),
        previous_secret_expires_at=datetime.fromisoformat(expires) if expires else None,
    )
    return WebhookPublic(
        id=webhook.id,
        workflow_id=webhook.workflow_id,
        trigger_id=webhook.trigger_id,
        url_path=webhook.url_path,
        url=webhook_url(settings, webhook.url_path),
        method=webhook.method,
        event_type=webhook.event_type,
        authentication=auth,
        rate_limit=(trigger.config.get("rate_limit") if trigger else None) or {},
        is_active=webhook.is_active,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
        secret=secret,
    )
