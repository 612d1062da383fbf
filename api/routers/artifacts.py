"""Artifacts: ``GET /executions/{id}/artifacts``, downloads, and signed local links."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response

from api.deps import ContextDep, Reader, SessionDep
from api.schemas.artifacts import ArtifactList
from api.schemas.common import Problem
from api.services import artifacts
from api.services.artifacts import ArtifactContent

router = APIRouter(tags=["artifacts"])


@router.get("/executions/{execution_id}/artifacts", response_model=ArtifactList)
async def list_artifacts(
    execution_id: uuid.UUID, user: Reader, session: SessionDep, ctx: ContextDep
) -> ArtifactList:
    """The objects `storage` steps of this execution stored, with download links."""
    return await artifacts.list_artifacts(session, user, ctx.store, execution_id)


@router.get("/executions/{execution_id}/artifacts/{key:path}", response_class=Response)
async def download_artifact(
    execution_id: uuid.UUID, key: str, user: Reader, session: SessionDep, ctx: ContextDep
) -> Response:
    """One artifact's bytes, with its stored content type."""
    content = await artifacts.read_artifact(session, user, ctx.store, execution_id, key)
    return _file(content)


@router.get(
    "/artifacts/download",
    response_class=Response,
    responses={
        403: {"model": Problem, "description": "The link is forged or has expired."},
        404: {"model": Problem, "description": "Nothing is stored under the key."},
    },
)
async def download_signed(
    ctx: ContextDep,
    key: Annotated[str, Query(description="The object key the link was signed for.")],
    expires: Annotated[int, Query(description="Unix time the link expires at.")],
    signature: Annotated[str, Query(description="HMAC of key and expiry.")],
) -> Response:
    """A signed link (from the artifacts list): the signature is the credential."""
    content = await artifacts.read_signed(ctx.settings, ctx.store, key, expires, signature)
    return _file(content)


def _file(content: ArtifactContent) -> Response:
    disposition = f"attachment; filename*=UTF-8''{quote(content.filename)}"
    return Response(
        content.data, media_type=content.content_type, headers={"Content-Disposition": disposition}
    )
