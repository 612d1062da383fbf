"""Secrets: named values, encrypted at rest, that templates reach as ``secrets.<name>``.

Who may do what (names are global to the installation):

- admins and developers create secrets; a developer lists its own and the shared ones, an
  admin every one (names and owners, never values);
- only the secret's creator or an admin replaces or deletes it (others get 403);
- only an admin shares a secret (``shared``), which lets every workflow's runs use it;
- a run uses a secret only if the workflow's owner created it, it is shared, or the owner is
  an admin (:class:`SecretVault`); anything else reads as "no such secret";
- ``user`` accounts cannot manage or list secrets (their runs still use the workflow
  owner's);
- nobody reads a value back through the API: only the worker decrypts, inside the activity
  that needs it.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.errors import Conflict, PermissionDenied, not_found
from api.schemas.secrets import SecretCreate, SecretUpdate
from core.access import is_admin
from core.encryption import Encryptor
from db.models import Secret, User
from db.repositories.secrets import SecretRepository


async def create_secret(
    session: AsyncSession, encryptor: Encryptor, user: User, data: SecretCreate
) -> Secret:
    """Store a new secret; 409 if the name is taken."""
    if data.shared and not is_admin(user):
        raise PermissionDenied(detail="Only an admin may share a secret")
    repository = SecretRepository(session)
    if await repository.get(data.name) is not None:
        raise _taken(data.name)
    secret = Secret(
        owner_id=user.id,
        name=data.name,
        value_encrypted=encryptor.encrypt(data.value),
        shared=data.shared,
    )
    try:
        await repository.add(secret)
        await session.commit()
    except IntegrityError as exc:  # created concurrently
        await session.rollback()
        raise _taken(data.name) from exc
    return secret


async def list_secrets(session: AsyncSession, user: User) -> Sequence[Secret]:
    """The secrets ``user`` may use: every one for an admin, else its own and shared ones."""
    return await SecretRepository(session).usable_by(None if is_admin(user) else user.id)


async def share_secret(session: AsyncSession, user: User, name: str, shared: bool) -> Secret:
    """Share a secret with every workflow, or stop sharing it (admins only)."""
    if not is_admin(user):
        raise PermissionDenied(detail="Only an admin may share a secret")
    secret = await _manageable(session, user, name)
    secret.shared = shared
    await session.commit()
    await session.refresh(secret)
    return secret


async def replace_secret(
    session: AsyncSession, encryptor: Encryptor, user: User, name: str, data: SecretUpdate
) -> Secret:
    """Give an existing secret a new value (its creator or an admin)."""
    secret = await _manageable(session, user, name)
    secret.value_encrypted = encryptor.encrypt(data.value)
    await session.commit()
    await session.refresh(secret)
    return secret


async def delete_secret(session: AsyncSession, user: User, name: str) -> None:
    """Delete a secret (its creator or an admin); runs that use it then fail that step."""
    secret = await _manageable(session, user, name)
    await SecretRepository(session).delete(secret)
    await session.commit()


async def _manageable(session: AsyncSession, user: User, name: str) -> Secret:
    secret = await SecretRepository(session).get(name)
    if secret is None:
        raise not_found("Secret", name)
    if not (is_admin(user) or secret.owner_id == user.id):
        raise PermissionDenied(detail="Only the secret's creator or an admin may change it")
    return secret


def _taken(name: str) -> Conflict:
    return Conflict(detail=f"A secret named {name!r} exists; PUT /secrets/{name} replaces it")
