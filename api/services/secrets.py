"""Secrets: named values, encrypted at rest, that templates reach as ``secrets.<name>``.

Who may do what (names are global to the installation):

- admins and developers create secrets and list every secret's name and owner;
- only the secret's creator or an admin replaces or deletes it (others get 403);
- ``user`` accounts cannot manage or list secrets (their runs still use them);
- nobody reads a value back through the API: only the worker decrypts, inside the activity
  that needs it (:class:`SecretVault`).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.encryption import Encryptor
from api.errors import Conflict, PermissionDenied, not_found
from api.schemas.secrets import SecretCreate, SecretUpdate
from api.services.access import is_admin
from db.models import Secret, User
from db.repositories.secrets import SecretRepository


async def create_secret(
    session: AsyncSession, encryptor: Encryptor, user: User, data: SecretCreate
) -> Secret:
    """Store a new secret; 409 if the name is taken."""
    repository = SecretRepository(session)
    if await repository.get(data.name) is not None:
        raise _taken(data.name)
    secret = Secret(owner_id=user.id, name=data.name, value_encrypted=encryptor.encrypt(data.value))
    try:
        await repository.add(secret)
        await session.commit()
    except IntegrityError as exc:  # created concurrently
        await session.rollback()
        raise _taken(data.name) from exc
    return secret


async def list_secrets(session: AsyncSession) -> Sequence[Secret]:
    return await SecretRepository(session).all()


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


class SecretVault:
    """The worker's read access to secret values, by name."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], encryptor: Encryptor) -> None:
        self._sessions = sessions
        self._encryptor = encryptor

    async def values(self, names: Collection[str]) -> dict[str, str]:
        """The decrypted values of those of ``names`` that exist."""
        if not names:
            return {}
        async with self._sessions() as session:
            rows = await SecretRepository(session).by_names(names)
        return {row.name: self._encryptor.decrypt(row.value_encrypted) for row in rows}
