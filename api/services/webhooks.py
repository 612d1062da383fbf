"""``/api/v1/webhooks``: the webhook triggers of workflows, seen and managed as webhooks.

A webhook is a ``webhook`` trigger (:mod:`api.services.triggers`) and its row
(:mod:`api.services.webhook_rows`); calls to it arrive at ``/hooks/...``
(:mod:`api.services.webhook_intake`).
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import (
    NotFound,
    not_found,
)
from api.schemas.triggers import (
    TriggerPatch,
    TriggerPublic,
)
from api.schemas.webhooks import (
    SecretRotation,
    WebhookCreate,
    WebhookPublic,
    WebhookUpdate,
)
from api.services.access import editable_workflow, visible_workflow
from api.services.triggers import TriggerDeps, add_trigger, delete_trigger, update_trigger
from api.services.webhook_rows import WebhookRows, webhook_public
from core.access import is_admin
from db.models import Trigger, User, Webhook
from db.repositories.triggers import TriggerRepository, WebhookRepository


async def create_webhook(
    session: AsyncSession, deps: TriggerDeps, user: User, data: WebhookCreate
) -> WebhookPublic:
    raw = data.model_dump(exclude={"workflow_id"}, exclude_none=True)
    public = await add_trigger(session, deps, user, data.workflow_id, {"type": "webhook", **raw})
    return await get_webhook(session, deps, user, _webhook_id(public), secret=public.secret)


async def list_webhooks(
    session: AsyncSession,
    deps: TriggerDeps,
    user: User,
    *,
    workflow_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[WebhookPublic], int]:
    owner = None if is_admin(user) else user.id
    rows, total = await WebhookRepository(session).page(
        owner_id=owner, workflow_id=workflow_id, limit=limit, offset=offset
    )
    triggers = TriggerRepository(session)
    data = [
        webhook_public(deps.settings, w, await triggers.get(w.trigger_id) if w.trigger_id else None)
        for w in rows
    ]
    return data, total


async def get_webhook(
    session: AsyncSession,
    deps: TriggerDeps,
    user: User,
    webhook_id: uuid.UUID,
    *,
    secret: str | None = None,
) -> WebhookPublic:
    webhook, trigger = await _visible_webhook(session, user, webhook_id)
    return webhook_public(deps.settings, webhook, trigger, secret)


async def update_webhook(
    session: AsyncSession, deps: TriggerDeps, user: User, webhook_id: uuid.UUID, data: WebhookUpdate
) -> WebhookPublic:
    _, trigger = await _visible_webhook(session, user, webhook_id)
    patch = TriggerPatch.model_validate(data.model_dump(exclude_unset=True))
    public = await update_trigger(session, deps, user, trigger.id, patch)
    return await get_webhook(session, deps, user, webhook_id, secret=public.secret)


async def delete_webhook(
    session: AsyncSession, deps: TriggerDeps, user: User, webhook_id: uuid.UUID
) -> None:
    _, trigger = await _visible_webhook(session, user, webhook_id)
    await delete_trigger(session, deps, user, trigger.id)


async def rotate_webhook_secret(
    session: AsyncSession,
    deps: TriggerDeps,
    user: User,
    webhook_id: uuid.UUID,
    rotation: SecretRotation,
) -> WebhookPublic:
    webhook, trigger = await _visible_webhook(session, user, webhook_id)
    await editable_workflow(session, user, webhook.workflow_id)
    secret = await WebhookRows(session, deps.encryptor).rotate(webhook, rotation)
    await session.commit()
    return webhook_public(deps.settings, webhook, trigger, secret)


async def _visible_webhook(
    session: AsyncSession, user: User, webhook_id: uuid.UUID
) -> tuple[Webhook, Trigger]:
    webhook = await WebhookRepository(session).get(webhook_id)
    trigger = (
        await TriggerRepository(session).get(webhook.trigger_id)
        if webhook and webhook.trigger_id
        else None
    )
    if webhook is None or trigger is None:
        raise not_found("Webhook", webhook_id)
    try:
        await visible_workflow(session, user, webhook.workflow_id)
    except NotFound:
        raise not_found("Webhook", webhook_id) from None
    return webhook, trigger


def _webhook_id(public: TriggerPublic) -> uuid.UUID:
    assert public.webhook_id is not None
    return public.webhook_id
