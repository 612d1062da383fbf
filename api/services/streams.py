"""Event streams: replay from the database, then live from the bus, with no gap and no duplicate.

The database has every event (the recorder stores before it publishes) and ids are dense per
execution (1, 2, 3, …), so a reader keeps one number, the last id it sent, and:

1. subscribes to the live bus *first*, so nothing published from now on is missed;
2. replays the stored events after the client's last id;
3. then takes live events, dropping those it already sent (id ≤ last) and, when an id jumps
   (id > last + 1: published while it was replaying, or lost by the bus), re-reads the
   database from its last id, which returns the missing ones and the live one in order;
4. when no live event came for a while, or all the time while the bus is down, reads the
   database anyway: a publish can fail (the run goes on), and a run can end without a
   terminal event (terminated in the Temporal UI), which the execution row then shows.

It ends after a terminal event (``execution.completed``/``failed``/``cancelled``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from contextlib import suppress
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.services.access import visible_execution
from core.access import can_see, is_admin
from core.events import ALL, EventBus, Message, StreamOptions
from core.events.messages import event_message
from db.execution_projection import TERMINAL
from db.models import Execution, User, Workflow
from db.repositories.executions import ExecutionRepository

TERMINAL_EVENTS = frozenset({"execution.completed", "execution.failed", "execution.cancelled"})
_VISIBILITY_CACHE_LIMIT = 10_000


class AccessRevoked(Exception):
    """The caller of an open stream lost access (disabled, key deleted, run hidden)."""


class ServerDraining(Exception):
    """The API process is shutting down: the client should reconnect (to another replica)."""


async def while_allowed(
    events: AsyncIterable[Message],
    allowed: Callable[[], Awaitable[bool]],
    every: float,
    draining: asyncio.Event | None = None,
) -> AsyncIterator[Message]:
    """Yield ``events`` while ``allowed()`` says so, asking it every ``every`` seconds.

    A stream may stay open for hours on credentials checked once; this bounds how long it
    outlives them. The events are read by a task of their own so that a quiet stream is
    still checked.

    Raises:
        AccessRevoked: ``allowed()`` answered no; the stream is closed.
        ServerDraining: ``draining`` was set (the process is shutting down).
    """
    queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue(maxsize=1)

    async def read() -> None:
        try:
            async for message in events:
                await queue.put(("event", message))
        except Exception as exc:  # handed to the consumer, which re-raises it
            await queue.put(("error", exc))
        else:
            await queue.put(("end", None))

    async def watch() -> None:
        while True:
            await asyncio.sleep(every)
            if not await allowed():
                await queue.put(("revoked", None))
                return

    async def drain(event: asyncio.Event) -> None:
        await event.wait()
        await queue.put(("draining", None))

    tasks = [asyncio.create_task(read()), asyncio.create_task(watch())]
    if draining is not None:
        tasks.append(asyncio.create_task(drain(draining)))
    try:
        while True:
            kind, value = await queue.get()
            if kind == "event":
                yield value
            elif kind == "end":
                return
            elif kind == "error":
                raise value
            elif kind == "draining":
                raise ServerDraining("server shutting down")
            else:
                raise AccessRevoked("access revoked")
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task


async def authorize_execution(
    session: AsyncSession, user: User, execution_id: uuid.UUID
) -> Execution:
    """The execution if the caller may read it (404 otherwise); frees the connection.

    A stream may last hours: it must not keep the request's database connection, so the
    session is closed here and every later read takes a connection briefly.
    """
    execution, _ = await visible_execution(session, user, execution_id)
    await session.close()
    return execution


class ExecutionStream:
    """The events of one execution after ``after``: replayed, then live, in id order."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        execution_id: uuid.UUID,
        after: int = 0,
        options: StreamOptions | None = None,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._execution_id = execution_id
        self.last_id = after
        self._options = options or StreamOptions()
        self._ended = False

    async def __aiter__(self) -> AsyncIterator[Message]:
        """Yield each event once, in order; stop after the terminal event.

        Raises:
            SubscriberOverflow: The client read too slowly; it may resume from ``last_id``.
        """
        async with self._bus.subscribe(str(self._execution_id)) as live:
            async for message in self._catch_up():
                yield message
            while not self._ended:
                timeout = self._options.idle_check if live.healthy else self._options.poll_interval
                message = await live.get(timeout)
                if message is not None and int(message["id"]) <= self.last_id:
                    continue  # sent already, by the replay or a gap fill
                if message is not None and int(message["id"]) == self.last_id + 1:
                    yield self._sent(message)
                    continue
                # A gap, or a quiet period: the database knows what happened.
                async for stored in self._catch_up(check_end=message is None):
                    yield stored

    def _sent(self, message: Message) -> Message:
        self.last_id = int(message["id"])
        if message["type"] in TERMINAL_EVENTS:
            self._ended = True
        return message

    async def _catch_up(self, *, check_end: bool = True) -> AsyncIterator[Message]:
        """Every stored event after ``last_id``; ends the stream if the run has ended."""
        while not self._ended:
            async with self._sessions() as session:
                # The status first: if it is final, every event was committed before it
                # (same transaction), so the read below sees them all.
                status = await session.scalar(
                    select(Execution.status).where(Execution.id == self._execution_id)
                )
                rows = await ExecutionRepository(session).logs(
                    self._execution_id, after=self.last_id, limit=self._options.page_size
                )
            if not rows and check_end:
                self._ended = status is None or status in TERMINAL
            for row in rows:
                yield self._sent(event_message(row))
            if len(rows) < self._options.page_size:
                return


class VisibleEvents:
    """Every live event of executions ``user`` may see (no replay)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        bus: EventBus,
        user: User,
        options: StreamOptions | None = None,
    ) -> None:
        self._sessions = sessions
        self._bus = bus
        self._user = user
        self._options = options or StreamOptions()
        self._visible: dict[str, bool] = {}

    async def __aiter__(self) -> AsyncIterator[Message]:
        """Yield live events the user may see, as they come.

        Raises:
            SubscriberOverflow: The client read too slowly.
        """
        async with self._bus.subscribe(ALL) as live:
            while True:
                message = await live.get(self._options.idle_check)
                if message is not None and await self._may_see(str(message["execution_id"])):
                    yield message

    async def _may_see(self, execution_id: str) -> bool:
        if is_admin(self._user):
            return True
        known = self._visible.get(execution_id)
        if known is not None:
            return known
        if len(self._visible) >= _VISIBILITY_CACHE_LIMIT:
            self._visible.clear()
        async with self._sessions() as session:
            workflow = await session.scalar(
                select(Workflow)
                .join(Execution, Execution.workflow_id == Workflow.id)
                .where(Execution.id == uuid.UUID(execution_id))
            )
        self._visible[execution_id] = workflow is not None and can_see(self._user, workflow)
        return self._visible[execution_id]
