"""Counting windows: per-webhook rate limits, the login throttle and one-time signature claims.

Two backends with the same operations: Redis (``HEADRACE_REDIS_URL``), shared by every
API process, and an in-process one for ``headrace dev`` and single-process deployments.
Limits use fixed windows: at most ``limit`` hits in each ``window``-second slot of the clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from api.errors import UpstreamUnavailable


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

    async def claim(self, key: str, ttl: float) -> bool:
        """True the first time ``key`` is claimed within ``ttl`` seconds, False afterwards."""
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
        self._claims: dict[str, float] = {}
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

    async def claim(self, key: str, ttl: float) -> bool:
        now = time.monotonic()
        if len(self._claims) > self._max_keys:  # bounded memory: forget what has expired
            self._claims = {k: t for k, t in self._claims.items() if t > now}
        expires = self._claims.get(key)
        if expires is not None and expires > now:
            return False
        self._claims[key] = now + ttl
        return True


@contextmanager
def _redis_answers() -> Iterator[None]:
    """A Redis outage is a 503 (try again), not a 500; nothing is let through uncounted."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise UpstreamUnavailable(
            detail="The rate-limit store (Redis) is unavailable; try again.",
            headers={"Retry-After": "1"},
        ) from exc


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
        with _redis_answers():
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.pexpire(name, math.ceil((left + 1) * 1000))
                count, _ = await pipe.execute()
        return None if int(count) <= limit else left

    async def undo(self, key: str, window: float) -> None:
        number, _ = _slot(window, time.time())
        # Only an existing counter: a decrement after the window ended would create one
        # without an expiry.
        with _redis_answers():
            await self._redis.eval(_DECREMENT_EXISTING, 1, f"{self._prefix}rl:{key}:{number}")

    async def reset(self, key: str, window: float) -> None:
        number, _ = _slot(window, time.time())
        with _redis_answers():
            await self._redis.delete(f"{self._prefix}rl:{key}:{number}")

    async def claim(self, key: str, ttl: float) -> bool:
        name = f"{self._prefix}claim:{key}"
        with _redis_answers():
            return bool(await self._redis.set(name, b"1", nx=True, px=math.ceil(ttl * 1000)))


def build_limiter(redis_url: str | None) -> Limiter:
    """Redis-backed with a URL, in-process without."""
    if redis_url:
        return RedisLimiter(Redis.from_url(redis_url))
    return MemoryLimiter()


def retry_after_header(seconds: float) -> str:
    """``Retry-After`` in whole seconds, never 0."""
    return str(max(1, math.ceil(seconds)))
