from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response, status

from api.deps import ContextDep, DeveloperReader, DeveloperWriter, SessionDep
from api.schemas.secrets import (
    SECRET_NAME_PATTERN,
    SecretCreate,
    SecretList,
    SecretPublic,
    SecretSharing,
    SecretUpdate,
)
from api.services import secrets

router = APIRouter(prefix="/secrets", tags=["secrets"])

SecretName = Annotated[str, Path(max_length=200, pattern=SECRET_NAME_PATTERN)]


@router.post("", status_code=status.HTTP_201_CREATED, response_model=SecretPublic)
async def create_secret(
    body: SecretCreate, user: DeveloperWriter, session: SessionDep, ctx: ContextDep
) -> SecretPublic:
    """Store a secret, encrypted; its value is never returned. 409 if the name exists."""
    secret = await secrets.create_secret(session, ctx.encryptor, user, body)
    return SecretPublic.model_validate(secret)


@router.get("", response_model=SecretList)
async def list_secrets(user: DeveloperReader, session: SessionDep) -> SecretList:
    """The secrets the caller's workflows may use (every one for an admin): name, owner,
    whether shared, timestamps (never values)."""
    rows = await secrets.list_secrets(session, user)
    return SecretList(data=[SecretPublic.model_validate(r) for r in rows], count=len(rows))


@router.put("/{name}", response_model=SecretPublic)
async def replace_secret(
    name: SecretName,
    body: SecretUpdate,
    user: DeveloperWriter,
    session: SessionDep,
    ctx: ContextDep,
) -> SecretPublic:
    """Replace a secret's value (its creator or an admin)."""
    secret = await secrets.replace_secret(session, ctx.encryptor, user, name, body)
    return SecretPublic.model_validate(secret)


@router.patch("/{name}", response_model=SecretPublic)
async def share_secret(
    name: SecretName, body: SecretSharing, user: DeveloperWriter, session: SessionDep
) -> SecretPublic:
    """Share a secret with every workflow's runs, or stop sharing it (admins only)."""
    secret = await secrets.share_secret(session, user, name, body.shared)
    return SecretPublic.model_validate(secret)


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_secret(name: SecretName, user: DeveloperWriter, session: SessionDep) -> Response:
    """Delete a secret (its creator or an admin)."""
    await secrets.delete_secret(session, user, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
