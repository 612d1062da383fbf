"""The retention activity: deletes expired executions, their events and their objects.

Objects first, then rows, batch by batch: if the row deletion fails, the rows are still
expired and the next attempt deletes them (their objects are gone already, which a reader
of a run due for deletion may notice as a missing artifact); the reverse order could leave
objects no row points to, never found again.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from core.storage import ObjectStore, execution_prefix
from core.storage.codec import payload_prefix
from db.repositories.retention import delete_executions, expired_executions
from db.session import transaction
from temporal_workflows.retention import PURGE_ACTIVITY, PurgeRequest, PurgeResult


class RetentionActivities:
    """Deletes what the retention period lets go, with the worker's database and store."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], store: ObjectStore | None
    ) -> None:
        self._sessions = sessions
        self._store = store

    @activity.defn(name=PURGE_ACTIVITY)
    async def purge_expired_executions(self, request: PurgeRequest) -> PurgeResult:
        """Delete every ended execution older than ``request.ended_before``, in batches."""
        result = PurgeResult()
        while True:
            async with self._sessions() as session:
                ids = await expired_executions(session, request.ended_before, request.batch_size)
            if not ids:
                return result
            if self._store is not None:
                for execution_id in map(str, ids):
                    result.objects += await self._store.delete_prefix(
                        execution_prefix(execution_id)
                    )
                    result.objects += await self._store.delete_prefix(payload_prefix(execution_id))
            async with transaction(self._sessions) as session:
                result.executions += await delete_executions(session, ids)
            if activity.in_activity():
                activity.heartbeat(result.executions)
