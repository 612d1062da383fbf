"""Artifacts of executions: listing and download (as the execution's readers may), signed
download links for the local store, and retention (deleted with their workflow)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import NotFound, PermissionDenied, UpstreamUnavailable, invalid
from api.schemas.artifacts import ArtifactList, ArtifactPublic
from api.services.access import visible_execution
from core.settings import Settings
from core.storage import (
    DownloadSigner,
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    check_key,
    execution_prefix,
)
from core.storage.codec import payload_prefix
from db.models import Execution, User, Workflow

logger = logging.getLogger(__name__)

LINK_SECONDS = 900


@dataclass(frozen=True)
class ArtifactContent:
    """One artifact's bytes and what to serve them as."""

    data: bytes
    content_type: str
    filename: str


async def list_artifacts(
    session: AsyncSession, user: User, store: ObjectStore, execution_id: uuid.UUID
) -> ArtifactList:
    """The execution's artifacts, each with an API route and a credential-free link."""
    await visible_execution(session, user, execution_id)
    prefix = execution_prefix(str(execution_id))
    try:
        objects = await store.list(prefix)
    except StorageError as exc:
        raise UpstreamUnavailable(detail=f"Object storage is unavailable: {exc}") from exc
    data = [await _public(store, execution_id, prefix, info) for info in objects]
    return ArtifactList(data=data, count=len(data))


async def read_artifact(
    session: AsyncSession, user: User, store: ObjectStore, execution_id: uuid.UUID, key: str
) -> ArtifactContent:
    """The bytes of one artifact of an execution the caller may see (404 otherwise)."""
    await visible_execution(session, user, execution_id)
    try:
        full_key = execution_prefix(str(execution_id)) + check_key(key)
    except InvalidKey as exc:
        raise invalid("/path/key", str(exc), "invalid_key") from None
    return await _read(store, full_key)


async def read_signed(
    settings: Settings, store: ObjectStore, key: str, expires: int, signature: str
) -> ArtifactContent:
    """The bytes behind a signed link made by the local store (403 when forged or expired)."""
    signer = DownloadSigner(settings.base_url, settings.signing_key)
    if not signer.verify(key, expires, signature):
        raise PermissionDenied(detail="The download link is invalid or has expired")
    return await _read(store, key)


async def delete_workflow_artifacts(
    session: AsyncSession, store: ObjectStore | None, workflow: Workflow
) -> int:
    """Before a workflow is deleted: delete its executions' artifacts and large payloads.

    Returns:
        How many objects were deleted.

    Raises:
        UpstreamUnavailable: If object storage cannot be reached (nothing is deleted from
            the database then, so the caller can try again).
    """
    if store is None:
        return 0
    ids = (
        await session.scalars(select(Execution.id).where(Execution.workflow_id == workflow.id))
    ).all()
    removed = 0
    try:
        for execution_id in ids:
            removed += await store.delete_prefix(execution_prefix(str(execution_id)))
            removed += await store.delete_prefix(payload_prefix(str(execution_id)))
    except StorageError as exc:
        raise UpstreamUnavailable(
            detail=f"Object storage is unavailable, the workflow was not deleted: {exc}"
        ) from exc
    logger.info("deleted %d objects of workflow %s", removed, workflow.id)
    return removed


async def _public(
    store: ObjectStore, execution_id: uuid.UUID, prefix: str, info: ObjectInfo
) -> ArtifactPublic:
    key = info.key.removeprefix(prefix)
    try:
        link: str | None = await store.presigned_url(info.key, LINK_SECONDS)
    except StorageError:  # e.g. a local store without a secret key
        link = None
    return ArtifactPublic(
        key=key,
        size=info.size,
        content_type=info.content_type,
        last_modified=info.last_modified,
        url=f"/api/v1/executions/{execution_id}/artifacts/{quote(key)}",
        download_url=link,
        expires_at=datetime.now(UTC) + timedelta(seconds=LINK_SECONDS) if link else None,
    )


async def _read(store: ObjectStore, key: str) -> ArtifactContent:
    try:
        info = await store.stat(key)
        data = await store.get(key)
    except ObjectNotFound:
        raise NotFound(detail="No artifact under that key") from None
    except InvalidKey as exc:
        raise invalid("/query/key", str(exc), "invalid_key") from None
    except StorageError as exc:
        raise UpstreamUnavailable(detail=f"Object storage is unavailable: {exc}") from exc
    return ArtifactContent(data, info.content_type, key.rsplit("/", 1)[-1])
