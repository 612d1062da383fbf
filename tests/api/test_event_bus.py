"""The event bus backends: delivery, isolation, slow subscribers, Redis caps and outages."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import suppress
from datetime import timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis

from core.events import (
    ALL,
    BusUnavailable,
    EventBus,
    InProcessEventBus,
    RedisEventBus,
    SubscriberOverflow,
    redis_bus,
)
from tests.services import redis_or_skip
from tests.support.polling import eventually


class TcpProxy:
    """A loopback TCP forwarder to Redis that a test can stop and start again.

    Stopping it looks like Redis going down to every bus that connects through it, without
    touching the machine's Redis server (other engineers' tests use it).
    """

    def __init__(self, target_host: str = "127.0.0.1", target_port: int = 6379) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.close()
            return
        self._writers.update({writer, up_writer})
        await asyncio.gather(
            self._pipe(reader, up_writer), self._pipe(up_reader, writer), return_exceptions=True
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            self._writers.discard(writer)
            with suppress(Exception):
                writer.close()


def redis_url() -> str:
    return redis_or_skip()


def message(execution_id: str, seq: int, **extra: Any) -> dict[str, Any]:
    return {"id": seq, "type": "log", "execution_id": execution_id, "ts": "t", **extra}


@pytest.fixture(params=["in-process", "redis"])
async def bus(request: pytest.FixtureRequest) -> AsyncIterator[EventBus]:
    if request.param == "in-process":
        yield InProcessEventBus(queue_limit=50)
        return
    created = RedisEventBus(
        redis_url(), prefix=f"test:{uuid.uuid4().hex[:8]}:", queue_limit=50, maxlen=100
    )
    yield created
    await created.aclose()


class TestDelivery:
    async def test_a_subscriber_gets_what_is_published_after_it_subscribed_in_order(
        self, bus: EventBus
    ) -> None:
        execution = str(uuid.uuid4())
        await bus.publish(execution, [message(execution, 1)])  # before: not delivered
        async with bus.subscribe(execution) as sub:
            await bus.publish(execution, [message(execution, 2), message(execution, 3)])
            await bus.publish(execution, [message(execution, 4)])
            got = [await sub.get(5) for _ in range(3)]
            assert [m["id"] for m in got if m] == [2, 3, 4]
            assert await sub.get(0.2) is None

    async def test_topics_are_isolated_and_the_global_topic_sees_everything(
        self, bus: EventBus
    ) -> None:
        one, other = str(uuid.uuid4()), str(uuid.uuid4())
        async with bus.subscribe(one) as mine, bus.subscribe(ALL) as everything:
            await bus.publish(other, [message(other, 1)])
            await bus.publish(one, [message(one, 1)])
            first = await mine.get(5)
            assert first is not None and first["execution_id"] == one
            seen = []
            while (m := await everything.get(1)) is not None:
                seen.append(m["execution_id"])
            assert other in seen and one in seen
            assert seen.index(other) < seen.index(one)

    async def test_many_subscribers_of_one_execution_each_get_every_event(
        self, bus: EventBus
    ) -> None:
        execution = str(uuid.uuid4())

        async def listen(ready: asyncio.Event, count: int) -> list[int]:
            async with bus.subscribe(execution) as sub:
                ready.set()
                return [int((await sub.get(5) or {"id": -1})["id"]) for _ in range(count)]

        readies = [asyncio.Event() for _ in range(20)]
        tasks = [asyncio.create_task(listen(r, 5)) for r in readies]
        await asyncio.gather(*(r.wait() for r in readies))
        await bus.publish(execution, [message(execution, i) for i in range(1, 6)])
        assert all(ids == [1, 2, 3, 4, 5] for ids in await asyncio.gather(*tasks))

    async def test_ping_answers(self, bus: EventBus) -> None:
        await bus.ping()


class TestSlowSubscribers:
    async def test_a_subscriber_past_its_queue_limit_is_dropped_with_a_reason(
        self, bus: EventBus
    ) -> None:
        execution = str(uuid.uuid4())
        async with bus.subscribe(execution) as slow, bus.subscribe(execution) as fast:
            for seq in range(1, 61):  # the limit is 50
                await bus.publish(execution, [message(execution, seq)])
                assert await fast.get(5) is not None
            await asyncio.sleep(0.2)
            with pytest.raises(SubscriberOverflow, match="more than 50"):
                await slow.get(5)
            assert slow.pending() <= 1  # its memory was released


class TestInProcessBus:
    async def test_a_bus_without_a_publisher_in_this_process_reports_itself_not_live(
        self,
    ) -> None:
        async with InProcessEventBus(live=False).subscribe("x") as sub:
            assert sub.healthy is False
        async with InProcessEventBus().subscribe("x") as sub:
            assert sub.healthy is True


class TestRedisStreams:
    async def test_streams_are_capped_and_expire(self) -> None:
        prefix = f"test:{uuid.uuid4().hex[:8]}:"
        bus = RedisEventBus(redis_url(), prefix=prefix, maxlen=100, retention=timedelta(minutes=5))
        execution = str(uuid.uuid4())
        try:
            for start in range(0, 1000, 100):
                await bus.publish(
                    execution, [message(execution, s) for s in range(start, start + 100)]
                )
            raw = aioredis.Redis.from_url(redis_url())
            length = await raw.xlen(bus.key(execution))
            ttl = await raw.ttl(bus.key(execution))
            await raw.delete(bus.key(execution), bus.key(ALL))
            await raw.aclose()
        finally:
            await bus.aclose()
        assert 100 <= length < 300  # MAXLEN ~ trims whole macro nodes
        assert 0 < ttl <= 300

    async def test_leaving_does_not_wait_for_the_readers_blocking_xread(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # With XREAD blocking for ten minutes, only a leave that cuts it short can end.
        monkeypatch.setattr(redis_bus, "_BLOCK_MS", 600_000)
        bus = RedisEventBus(redis_url(), prefix=f"test:{uuid.uuid4().hex[:8]}:")

        async def join_and_leave() -> None:
            async with bus.subscribe(str(uuid.uuid4())):
                await asyncio.sleep(0.3)  # the reader now blocks in XREAD

        try:
            for _ in range(3):
                await asyncio.wait_for(join_and_leave(), timeout=60)
        finally:
            await bus.aclose()

    async def test_publishing_to_a_redis_that_is_down_fails_fast(self) -> None:
        proxy = TcpProxy()
        await proxy.start()
        bus = RedisEventBus(proxy.url, publish_timeout=0.5)
        execution = str(uuid.uuid4())
        try:
            await bus.publish(execution, [message(execution, 1)])
            await proxy.stop()
            began = time.monotonic()
            for seq in range(2, 6):
                with pytest.raises(BusUnavailable):
                    await bus.publish(execution, [message(execution, seq)])
            assert time.monotonic() - began < 1.5
        finally:
            await bus.aclose()

    async def test_a_subscription_degrades_while_redis_is_down_and_recovers(self) -> None:
        redis_url()
        proxy = TcpProxy()
        await proxy.start()
        prefix = f"test:{uuid.uuid4().hex[:8]}:"
        reader = RedisEventBus(proxy.url, prefix=prefix)
        writer = RedisEventBus(redis_url(), prefix=prefix)  # another process, still connected
        execution = str(uuid.uuid4())
        try:
            async with reader.subscribe(execution) as sub:
                await writer.publish(execution, [message(execution, 1)])
                assert (await sub.get(5) or {}).get("id") == 1
                await proxy.stop()
                await _eventually(lambda: not sub.healthy)
                await writer.publish(execution, [message(execution, 2)])  # while it is down
                await proxy.start()
                await _eventually(lambda: sub.healthy)
                await writer.publish(execution, [message(execution, 3)])
                got = [await sub.get(5), await sub.get(5)]
                # Redis kept the event published meanwhile: the reader resumes at its cursor.
                assert [m["id"] for m in got if m] == [2, 3]
        finally:
            await reader.aclose()
            await writer.aclose()


async def _eventually(condition: Callable[[], object], timeout: float = 10) -> None:
    async def check() -> object:
        return condition()

    await eventually(check, timeout=timeout, interval=0.05)
