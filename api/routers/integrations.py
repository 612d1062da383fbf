from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
from fastapi import APIRouter, Depends, status

from api.deps import ContextDep, Reader, SessionDep, Writer
from api.schemas.integrations import (
    IntegrationCreate,
    IntegrationPublic,
    IntegrationTestResult,
    IntegrationUpdate,
    N8nSyncRequest,
    N8nSyncResult,
)
from api.services import integrations
from api.services.n8n.sync import sync_n8n
from core.network_guard import build_http_client

router = APIRouter(prefix="/integrations", tags=["integrations"])

# Calls to user-given URLs: bounded, and through the same SSRF guard as the http step.
UPSTREAM_TIMEOUT_SECONDS = 15.0


async def get_upstream_client(ctx: ContextDep) -> AsyncIterator[httpx.AsyncClient]:
    client = build_http_client(
        allow_private_networks=ctx.settings.private_networks_allowed,
        timeout=UPSTREAM_TIMEOUT_SECONDS,
        local_ports_refused=ctx.settings.headrace_ports,
    )
    async with client:
        yield client


UpstreamClient = Annotated[httpx.AsyncClient, Depends(get_upstream_client)]


@router.get("", response_model=list[IntegrationPublic])
async def list_integrations(
    user: Reader, session: SessionDep, ctx: ContextDep
) -> list[IntegrationPublic]:
    rows = await integrations.list_integrations(session, user)
    return [integrations.public(i, ctx.encryptor) for i in rows]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=IntegrationPublic)
async def create_integration(
    data: IntegrationCreate, user: Writer, session: SessionDep, ctx: ContextDep
) -> IntegrationPublic:
    created = await integrations.create_integration(session, ctx.encryptor, user, data)
    return integrations.public(created, ctx.encryptor)


@router.post("/n8n/sync", response_model=N8nSyncResult)
async def sync_from_n8n(
    data: N8nSyncRequest,
    user: Writer,
    session: SessionDep,
    ctx: ContextDep,
    http: UpstreamClient,
) -> N8nSyncResult:
    return await sync_n8n(session, ctx, http, user, data)


@router.get("/{integration_id}", response_model=IntegrationPublic)
async def get_integration(
    integration_id: uuid.UUID, user: Reader, session: SessionDep, ctx: ContextDep
) -> IntegrationPublic:
    found = await integrations.visible_integration(session, user, integration_id)
    return integrations.public(found, ctx.encryptor)


@router.patch("/{integration_id}", response_model=IntegrationPublic)
async def update_integration(
    integration_id: uuid.UUID,
    data: IntegrationUpdate,
    user: Writer,
    session: SessionDep,
    ctx: ContextDep,
) -> IntegrationPublic:
    updated = await integrations.update_integration(
        session, ctx.encryptor, user, integration_id, data
    )
    return integrations.public(updated, ctx.encryptor)


@router.delete("/{integration_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_integration(integration_id: uuid.UUID, user: Writer, session: SessionDep) -> None:
    await integrations.delete_integration(session, user, integration_id)


@router.post("/{integration_id}/test", response_model=IntegrationTestResult)
async def test_integration(
    integration_id: uuid.UUID,
    user: Writer,
    session: SessionDep,
    ctx: ContextDep,
    http: UpstreamClient,
) -> IntegrationTestResult:
    return await integrations.test_integration(session, ctx.encryptor, http, user, integration_id)
