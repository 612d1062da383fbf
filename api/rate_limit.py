"""Counting windows: per-webhook rate limits and the login throttle.

Two backends with the same operations: Redis (``HEADRACE_REDIS_URL``), shared by every API
process, and an in-process one for ``headrace dev`` and single-process deployments. Limits
use fixed windows: at most ``limit`` hits in each ``window``-second slot of the clock.

Redis is an accelerator, not a dependency: :class:`FallbackLimiter` counts in-process while
Redis fails or is slower than its socket timeout (each API replica then enforces the limit
on its own share of the calls), logs the switch both ways and counts each fallback in
``headrace_dependency_fallbacks_total{dependency="redis", operation="rate_limit"}``.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from core.metrics import count_fallback, set_dependency_up

logger = logging.getLogger(__name__)

# After a Redis failure, calls skip Redis this long (a down Redis must not cost every call
# its timeout).
RETRY_REDIS_AFTER = 1.0

T = TypeVar("T")


class Limiter(Protocol):
    async def hit(self, key: str, limit: int, window: float) -> float | None:
        """Count a hit; ``None`` if within the limit, else seconds until the window ends."""
        ...

    async def undo(self, key: str, window: float) -> None:
        """Take back one hit counted in the current window (it turned out not to count)."""
        ...

    async def reset(self, key: str, window: float) -> None:
        """Forget every hit counted in the current window."""
        ...


def _slot(window: float, now: float) -> tuple[int, float]:
    """The window's number and the seconds left in it."""
    number = int(now // window)
    return number, (number + 1) * window - now


class MemoryLimiter:
    """In-process windows; fine for one API process."""

    def __init__(self, max_keys: int = 100_000, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock  # wall-clock seconds; tests pass one they move forward
        # key -> (window number, hits, when the window ends)
        self._counts: dict[str, tuple[int, int, float]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        now = self._clock()
        number, left = _slot(window, now)
        if len(self._counts) > self._max_keys:  # bounded memory: forget ended windows
            self._counts = {k: v for k, v in self._counts.items() if v[2] > now}
        slot, count, _ = self._counts.get(key, (number, 0, 0.0))
        count = count + 1 if slot == number else 1
        self._counts[key] = (number, count, now + left)
        return None if count <= limit else left

    async def undo(self, key: str, window: float) -> None:
        number, _ = _slot(window, self._clock())
        slot, count, ends = self._counts.get(key, (number, 0, 0.0))
        if slot == number and count > 0:
            self._counts[key] = (number, count - 1, ends)

    async def reset(self, key: str, window: float) -> None:
        self._counts.pop(key, None)


_DECREMENT_EXISTING = """
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('DECR', KEYS[1]) end
return 0
"""


class RedisLimiter:
    """Windows in Redis, so every API process counts against the same limit."""

    def __init__(self, redis: Redis, prefix: str = "headrace:") -> None:
        self._redis = redis
        self._prefix = prefix

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        number, left = _slot(window, time.time())
        name = f"{self._prefix}rl:{key}:{number}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.pexpire(name, math.ceil((left + 1) * 1000))
            count, _ = await pipe.execute()
        return None if int(count) <= limit else left

    async def undo(self, key: str, window: float) -> None:
        number, _ = _slot(window, time.time())
        # Only an existing counter: a decrement after the window ended would create one
        # without an expiry.
        await self._redis.eval(_DECREMENT_EXISTING, 1, f"{self._prefix}rl:{key}:{number}")

    async def reset(self, key: str, window: float) -> None:
        number, _ = _slot(window, time.time())
        await self._redis.delete(f"{self._prefix}rl:{key}:{number}")


class RedisFallback:
    """Runs an operation on Redis while it answers, and its in-process twin while it does not.

    After a failure Redis is skipped for :data:`RETRY_REDIS_AFTER` seconds; the switch both
    ways is logged once, ``headrace_dependency_up{dependency="redis"}`` follows it, and each
    call served without Redis counts in ``headrace_dependency_fallbacks_total``.
    """

    def __init__(self, operation: str) -> None:
        self._operation = operation  # the metric's label: what Redis was needed for
        self._failed_at = float("-inf")
        self._down = False

    async def run(
        self, primary: Callable[[], Awaitable[T]], fallback: Callable[[], Awaitable[T]]
    ) -> T:
        if time.monotonic() - self._failed_at >= RETRY_REDIS_AFTER:
            try:
                answer = await primary()
            except (RedisError, OSError, TimeoutError) as exc:
                self._failed_at = time.monotonic()
                if not self._down:
                    logger.warning(
                        "Redis is unavailable for %s (%s): counting in-process",
                        self._operation,
                        exc,
                    )
                    self._down = True
                    set_dependency_up("redis", False)
            else:
                if self._down:
                    logger.warning("Redis is back for %s: counts are shared again", self._operation)
                    self._down = False
                    set_dependency_up("redis", True)
                return answer
        count_fallback("redis", self._operation)
        return await fallback()


class FallbackLimiter:
    """Redis while it answers; in-process windows while it does not."""

    def __init__(self, primary: Limiter, fallback: Limiter | None = None) -> None:
        self._primary = primary
        self._fallback = fallback or MemoryLimiter()
        self._redis = RedisFallback("rate_limit")

    async def hit(self, key: str, limit: int, window: float) -> float | None:
        return await self._redis.run(
            lambda: self._primary.hit(key, limit, window),
            lambda: self._fallback.hit(key, limit, window),
        )

    async def undo(self, key: str, window: float) -> None:
        await self._redis.run(
            lambda: self._primary.undo(key, window), lambda: self._fallback.undo(key, window)
        )

    async def reset(self, key: str, window: float) -> None:
        await self._redis.run(
            lambda: self._primary.reset(key, window), lambda: self._fallback.reset(key, window)
        )


def build_limiter(redis_url: str | None, timeout: float = 0.5) -> Limiter:
    """Redis-backed (falling back to in-process) with a URL, in-process without."""
    if redis_url:
        redis = Redis.from_url(
            redis_url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
        )
        return FallbackLimiter(RedisLimiter(redis))
    return MemoryLimiter()


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, never 0."""
    return str(max(1, math.ceil(seconds)))
