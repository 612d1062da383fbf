"""Reading secret values: the worker's only way to a secret, by name, within its scope.

A run may use the secrets of its workflow's owner, the shared ones, and every one when the
owner is an admin (docs/security.md). Values are decrypted here, in the activity that needs
them, and nowhere else.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.access import is_admin
from core.encryption import Encryptor
from db.repositories.secrets import SecretRepository
from db.repositories.workflows import WorkflowRepository


class SecretVault:
    """The worker's read access to secret values, by name."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], encryptor: Encryptor) -> None:
        self._sessions = sessions
        self._encryptor = encryptor

    async def values(self, workflow_id: str, names: Collection[str]) -> dict[str, str]:
        """The decrypted values of those of ``names`` that the runs of ``workflow_id`` may use:
        its owner's own secrets and the shared ones (every secret, for an admin's workflow)."""
        if not names:
            return {}
        async with self._sessions() as session:
            owner = await WorkflowRepository(session).owner(workflow_id)
            if owner is None:
                return {}
            rows = await SecretRepository(session).by_names(
                names, usable_by=None if is_admin(owner) else owner.id
            )
        return {row.name: self._encryptor.decrypt(row.value_encrypted) for row in rows}
