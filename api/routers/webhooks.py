"""``/api/v1/webhooks``: webhook triggers as a resource of their own."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from api.deps import Reader, SessionDep, Writer
from api.routers.triggers import TriggerDepsDep
from api.schemas.common import Page, PageLimit, PageOffset
from api.schemas.webhooks import SecretRotation, WebhookCreate, WebhookPublic, WebhookUpdate
from api.services import webhooks

router = APIRouter(prefix="/webhooks", tags=["webhooks"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookPublic)
async def create_webhook(
    data: WebhookCreate, user: Writer, session: SessionDep, deps: TriggerDepsDep
) -> WebhookPublic:
    """A webhook that starts the workflow; a generated secret is in this answer only."""
    return await webhooks.create_webhook(session, deps, user, data)


@router.get("", response_model=Page[WebhookPublic])
async def list_webhooks(
    user: Reader,
    session: SessionDep,
    deps: TriggerDepsDep,
    workflow_id: uuid.UUID | None = None,
    limit: PageLimit = 50,
    offset: PageOffset = 0,
) -> Page[WebhookPublic]:
    data, total = await webhooks.list_webhooks(
        session, deps, user, workflow_id=workflow_id, limit=limit, offset=offset
    )
    return Page.of(data, count=total, limit=limit, offset=offset)


@router.get("/{webhook_id}", response_model=WebhookPublic)
async def get_webhook(
    webhook_id: uuid.UUID, user: Reader, session: SessionDep, deps: TriggerDepsDep
) -> WebhookPublic:
    return await webhooks.get_webhook(session, deps, user, webhook_id)


@router.patch("/{webhook_id}", response_model=WebhookPublic)
async def update_webhook(
    webhook_id: uuid.UUID,
    data: WebhookUpdate,
    user: Writer,
    session: SessionDep,
    deps: TriggerDepsDep,
) -> WebhookPublic:
    return await webhooks.update_webhook(session, deps, user, webhook_id, data)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(
    webhook_id: uuid.UUID, user: Writer, session: SessionDep, deps: TriggerDepsDep
) -> None:
    await webhooks.delete_webhook(session, deps, user, webhook_id)


@router.post("/{webhook_id}/rotate-secret", response_model=WebhookPublic)
async def rotate_secret(
    webhook_id: uuid.UUID,
    rotation: SecretRotation,
    user: Writer,
    session: SessionDep,
    deps: TriggerDepsDep,
) -> WebhookPublic:
    """A new secret (shown once if generated); the old one works for ``grace_period``."""
    return await webhooks.rotate_webhook_secret(session, deps, user, webhook_id, rotation)
