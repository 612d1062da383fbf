"""The event bus interface and the local fan-out both backends share.

A *topic* is an execution id (that execution's events) or :data:`ALL` (every event, for the
dashboard's ``WS /ws/events``). A subscriber gets a bounded queue: when it falls more than
``queue_limit`` events behind, the subscription is marked overflowed and its next
:meth:`Subscription.get` raises :class:`SubscriberOverflow`, so a slow client is dropped
(with a reason) instead of growing the server's memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

ALL = "*"
"""The topic of every execution's events."""

DEFAULT_QUEUE_LIMIT = 1000

Message = dict[str, Any]


@dataclass(frozen=True)
class StreamOptions:
    """Timings of the readers of the bus (:mod:`api.services.streams`)."""

    poll_interval: float = 0.5  # database reads while the bus cannot deliver
    idle_check: float = 5.0  # a database read after this long without a live event
    page_size: int = 500


class SubscriberOverflow(Exception):
    """The subscriber fell more than its queue limit behind the live stream."""


class Subscription:
    """One subscriber's bounded queue of live messages of one topic."""

    def __init__(self, topic: str, limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        self.topic = topic
        self.limit = limit
        self.healthy = True  # False while the backend cannot deliver live events
        self._queue: asyncio.Queue[Message | None] = asyncio.Queue()
        self._overflowed = False

    def offer(self, message: Message) -> None:
        """Queue a message; past the limit, mark the subscription overflowed."""
        if self._overflowed:
            return
        if self._queue.qsize() >= self.limit:
            self._overflowed = True
            # Free the memory now and wake a waiting get(), which then raises.
            self._queue = asyncio.Queue()
            self._queue.put_nowait(None)
            return
        self._queue.put_nowait(message)

    async def get(self, timeout: float) -> Message | None:
        """The next live message, or None after ``timeout`` seconds without one.

        Raises:
            SubscriberOverflow: The subscriber fell more than ``limit`` messages behind.
        """
        if self._overflowed:
            raise SubscriberOverflow(f"more than {self.limit} events pending")
        try:
            message = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if message is None:
            raise SubscriberOverflow(f"more than {self.limit} events pending")
        return message

    def pending(self) -> int:
        return self._queue.qsize()


class EventSink(Protocol):
    """Where a worker publishes the events it stored: a bus, or a pipe to one."""

    async def publish(self, execution_id: str, messages: list[Message]) -> None:
        """Deliver an execution's messages (already stored) to its and the global topic."""
        ...

    async def aclose(self) -> None:
        """Stop readers and close connections."""
        ...


class EventBus(EventSink, Protocol):
    """Live delivery of stored events. Both backends implement it."""

    name: str

    def subscribe(self, topic: str) -> Any:
        """An async context manager giving a :class:`Subscription` to ``topic``.

        Messages published after it is entered are delivered (in publish order).
        """
        ...

    async def ping(self) -> None:
        """Return if the backend is reachable; raise otherwise."""
        ...

    async def aclose(self) -> None:
        """Stop readers and close connections."""
        ...


class Fanout:
    """The subscribers of this process, by topic; backends feed it messages."""

    def __init__(self, queue_limit: int = DEFAULT_QUEUE_LIMIT) -> None:
        self.queue_limit = queue_limit
        self.topics: dict[str, set[Subscription]] = {}

    def dispatch(self, topic: str, messages: list[Message]) -> None:
        for subscription in list(self.topics.get(topic, ())):
            for message in messages:
                subscription.offer(message)

    def set_health(self, topic: str, healthy: bool) -> None:
        for subscription in self.topics.get(topic, ()):
            subscription.healthy = healthy

    def add(self, topic: str) -> tuple[Subscription, bool]:
        """A new subscription, and whether it is the topic's first one here."""
        subscription = Subscription(topic, self.queue_limit)
        first = topic not in self.topics
        self.topics.setdefault(topic, set()).add(subscription)
        return subscription, first

    def remove(self, subscription: Subscription) -> bool:
        """Drop a subscription; True when its topic has no subscriber left here."""
        members = self.topics.get(subscription.topic)
        if members is None:
            return False
        members.discard(subscription)
        if members:
            return False
        del self.topics[subscription.topic]
        return True


class InProcessEventBus:
    """The embedded bus of ``headrace dev``: API and worker share one process and one loop.

    Publishing must happen on the subscribers' event loop (asyncio queues are not
    thread-safe), which is the case for the worker's async activities in ``headrace dev``.
    """

    name = "in-process"

    def __init__(self, queue_limit: int = DEFAULT_QUEUE_LIMIT, *, live: bool = True) -> None:
        """A bus local to this process.

        Args:
            queue_limit: Pending live events per subscriber before it is dropped.
            live: False when nothing in this process publishes (an API without a worker):
                subscriptions then report themselves unhealthy, so readers poll the database.
        """
        self._fanout = Fanout(queue_limit)
        self.live = live

    async def publish(self, execution_id: str, messages: list[Message]) -> None:
        self._fanout.dispatch(execution_id, messages)
        self._fanout.dispatch(ALL, messages)

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        subscription, _ = self._fanout.add(topic)
        subscription.healthy = self.live
        try:
            yield subscription
        finally:
            self._fanout.remove(subscription)

    async def ping(self) -> None:
        return None

    async def aclose(self) -> None:
        self._fanout.topics.clear()
