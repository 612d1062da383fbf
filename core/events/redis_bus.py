"""The production bus: Redis Streams, shared by every API and worker process.

Each execution has a stream ``<prefix><execution_id>`` (capped at about ``maxlen`` entries
with ``XADD MAXLEN ~``, expiring ``retention`` after its last event) and every event is also
added to the global stream ``<prefix>all`` (capped at about ``global_maxlen``). Redis only
carries live events: the database has all of them, so a capped or expired stream, or a Redis
that is down, costs latency and never an event (readers replay from the database).

In an API process one reader task per watched topic runs ``XREAD BLOCK`` and fans out to the
local subscribers, so 500 clients of one execution cost one Redis connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any, cast

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from core.events.base import ALL, DEFAULT_QUEUE_LIMIT, Fanout, Message, Subscription
from core.metrics import count_fallback, set_dependency_up

logger = logging.getLogger(__name__)

_FIELD = "m"
_BLOCK_MS = 1000
_MAX_BACKOFF = 1.0
# XREAD's reply: [(stream key, [(entry id, {field: value}), ...]), ...]
_XReadReply = list[tuple[bytes, list[tuple[bytes, dict[bytes, bytes]]]]]


class BusUnavailable(Exception):
    """Redis did not take the events (they are in the database; readers will poll)."""


class RedisEventBus:
    """Redis Streams backend of :class:`core.events.base.EventBus`."""

    name = "redis"

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "headrace:events:",
        maxlen: int = 10_000,
        global_maxlen: int = 10_000,
        retention: timedelta = timedelta(hours=24),
        publish_timeout: float = 0.5,
        queue_limit: int = DEFAULT_QUEUE_LIMIT,
    ) -> None:
        """Configure the bus; nothing connects until it is used.

        Args:
            url: ``redis://host:port/db``.
            prefix: Key prefix of the streams.
            maxlen: Approximate cap of each execution's stream.
            global_maxlen: Approximate cap of the stream of all events.
            retention: An execution's stream expires this long after its last event.
            publish_timeout: Longest a publish may take; a step never waits longer on Redis.
            queue_limit: Pending live events per subscriber before it is dropped.
        """
        no_retry = Retry(NoBackoff(), 0)
        self._writer = Redis.from_url(
            url,
            socket_timeout=publish_timeout,
            socket_connect_timeout=publish_timeout,
            retry=no_retry,
        )
        self._reader = Redis.from_url(
            url, socket_timeout=_BLOCK_MS / 1000 + 5, socket_connect_timeout=2, retry=no_retry
        )
        self.prefix = prefix
        self.maxlen = maxlen
        self.global_maxlen = global_maxlen
        self.retention = retention
        self.publish_timeout = publish_timeout
        self._fanout = Fanout(queue_limit)
        self._readers: dict[str, asyncio.Task[None]] = {}
        self._ready: dict[str, asyncio.Event] = {}
        self._healthy: dict[str, bool] = {}
        self._retired: set[asyncio.Task[None]] = set()
        self._failed_at = float("-inf")

    def key(self, topic: str) -> str:
        return self.prefix + ("all" if topic == ALL else topic)

    async def publish(self, execution_id: str, messages: list[Message]) -> None:
        """XADD the messages to the execution's and the global stream, within the timeout.

        Raises:
            BusUnavailable: Redis did not answer in time (or failed less than a second ago:
                a down Redis must not slow every step by the timeout).
        """
        if time.monotonic() - self._failed_at < 1.0:
            count_fallback("redis", "event_bus")
            raise BusUnavailable("Redis failed less than a second ago")
        try:
            async with asyncio.timeout(self.publish_timeout):
                await self._xadd(execution_id, messages)
        except (RedisError, OSError, TimeoutError) as exc:
            self._failed_at = time.monotonic()
            count_fallback("redis", "event_bus")
            set_dependency_up("redis", False)
            raise BusUnavailable(f"Redis did not take the events: {type(exc).__name__}") from exc
        set_dependency_up("redis", True)

    async def _xadd(self, execution_id: str, messages: list[Message]) -> None:
        key, everything = self.key(execution_id), self.key(ALL)
        async with self._writer.pipeline(transaction=False) as pipe:
            for message in messages:
                fields = {_FIELD: json.dumps(message, default=str)}
                pipe.xadd(key, fields, maxlen=self.maxlen, approximate=True)  # type: ignore[arg-type]
                pipe.xadd(everything, fields, maxlen=self.global_maxlen, approximate=True)  # type: ignore[arg-type]
            pipe.expire(key, self.retention)
            await pipe.execute()

    @asynccontextmanager
    async def subscribe(self, topic: str) -> AsyncIterator[Subscription]:
        """Subscribe to ``topic``; on return the reader's start position is fixed."""
        subscription, first = self._fanout.add(topic)
        try:
            if first:
                self._ready[topic] = asyncio.Event()
                self._healthy[topic] = True
                self._readers[topic] = asyncio.create_task(self._read(topic))
            await self._ready[topic].wait()
            subscription.healthy = self._healthy.get(topic, False)
            yield subscription
        finally:
            if self._fanout.remove(subscription):
                await self._stop_reader(topic)

    async def _stop_reader(self, topic: str) -> None:
        """Retire the topic's reader without waiting for its blocking XREAD to return.

        The reader leaves its loop once it is no longer the topic's reader; cancelling it is
        only a hint (a cancel that lands in redis-py's socket timeout can surface as a
        ``TimeoutError``, which the loop would otherwise treat as a lost connection).
        """
        task = self._readers.pop(topic, None)
        self._ready.pop(topic, None)
        self._healthy.pop(topic, None)
        if task is not None:
            task.cancel()
            self._retired.add(task)
            task.add_done_callback(self._retired.discard)

    async def _read(self, topic: str) -> None:
        """XREAD the topic's stream forever, dispatching to local subscribers."""
        key, backoff = self.key(topic), 0.1
        cursor: bytes | None = None
        me = asyncio.current_task()
        while self._readers.get(topic) is me:
            try:
                if cursor is None:
                    cursor = await self._tail(key)
                    self._mark(topic, healthy=True)
                response = await self._reader.xread({key: cursor}, block=_BLOCK_MS, count=500)
            except (RedisError, OSError) as exc:
                if self._readers.get(topic) is not me:
                    return  # retired while it waited
                if self._healthy.get(topic, True):
                    logger.warning(
                        "event bus reader of %s lost Redis (%s): its readers poll the database",
                        key,
                        exc,
                    )
                    count_fallback("redis", "event_bus")
                    set_dependency_up("redis", False)
                self._mark(topic, healthy=False)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            backoff = 0.1
            if self._readers.get(topic) is not me:
                return
            self._mark(topic, healthy=True)
            for _stream, entries in cast(_XReadReply, response or []):
                batch = []
                for entry_id, fields in entries:
                    cursor = entry_id
                    batch.append(json.loads(fields[_FIELD.encode()]))
                self._fanout.dispatch(topic, batch)

    async def _tail(self, key: str) -> bytes:
        """The id of the stream's newest entry ("0-0" if empty): read strictly after it."""
        newest = cast(list[tuple[bytes, Any]], await self._reader.xrevrange(key, count=1))
        return newest[0][0] if newest else b"0-0"

    def _mark(self, topic: str, *, healthy: bool) -> None:
        self._healthy[topic] = healthy
        self._fanout.set_health(topic, healthy)
        ready = self._ready.get(topic)
        if ready is not None:
            ready.set()

    async def ping(self) -> None:
        async with asyncio.timeout(max(self.publish_timeout, 2.0)):
            await self._writer.ping()

    async def aclose(self) -> None:
        for topic in list(self._readers):
            await self._stop_reader(topic)
        if self._retired:
            await asyncio.wait(set(self._retired), timeout=_BLOCK_MS / 1000 + 2)
        await self._reader.aclose()
        await self._writer.aclose()
