"""Limits of an http connection, shared by every run and worker process that uses it.

- ``max_concurrency``: requests in flight at once. Each request's activity attempt holds a
  permit of the connection's limiter workflow (the same ``HeadraceConcurrencyGroup`` that
  holds per-workflow limits, temporal_workflows/concurrency.py), so the count is one for the
  whole cluster and survives any process. The holder is the attempt
  (``<workflow id>|<activity id>|<attempt>``): a worker that dies mid-request leaves an
  attempt that Temporal retries under a new number, and the limiter's periodic check frees
  the dead attempt's permit. An attempt asks with the limiter's ``ask`` signal (no cap on
  signals in flight, unlike Updates: a burst of requests is never refused) and then watches
  its place with the ``position`` query.
- ``rate_limit``: requests per window, counted by the ``limits`` library in a moving
  window, in Redis when ``HEADRACE_REDIS_URL`` is set (every worker shares it), otherwise in
  the worker's memory (each worker process then keeps to the limit on its own).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from temporalio import activity
from temporalio.client import Client, WorkflowHandle

from core.concurrency import ask_by_signal
from core.connections import ConnectionConfig
from core.heartbeat import heartbeat
from temporal_workflows.concurrency import (
    ATTEMPT_SEPARATOR,
    RELEASE_SIGNAL,
    PermitRequest,
)

# Shortest pause between two looks at a full window (the window says when it frees).
MIN_RATE_PAUSE = 0.005
# How often a queued request looks whether its turn has come.
QUEUE_POLL_SECONDS = 0.05


def connection_group(connection: ConnectionConfig) -> str:
    return f"headrace-connection-{connection.integration_id}"


class ConnectionGate:
    """Holds a request until its connection's limits allow it: see the module docstring."""

    def __init__(
        self, client: Client, *, redis_url: str | None = None, reclaim_seconds: float = 30.0
    ) -> None:
        self._client = client
        self._reclaim = reclaim_seconds
        storage = (
            # redis-py, which the project already uses, not the default coredis client.
            storage_from_string("async+" + redis_url, implementation="redispy")
            if redis_url
            else MemoryStorage()
        )
        assert isinstance(storage, Storage)  # the async+ scheme gives the asyncio one
        self._rates = MovingWindowRateLimiter(storage)

    @contextlib.asynccontextmanager
    async def slot(self, connection: ConnectionConfig) -> AsyncIterator[None]:
        """Inside an activity: wait for a permit (if limited), then for the rate window."""
        async with self._permit(connection):
            await self._wait_for_rate(connection)
            yield

    @contextlib.asynccontextmanager
    async def _permit(self, connection: ConnectionConfig) -> AsyncIterator[None]:
        if not connection.max_concurrency or not connection.integration_id:
            yield
            return
        info = activity.info()
        holder = ATTEMPT_SEPARATOR.join(
            (str(info.workflow_id), info.activity_id, str(info.attempt))
        )
        request = PermitRequest(
            group=connection_group(connection),
            holder=holder,
            limit=connection.max_concurrency,
            on_limit="queue",
            reclaim_seconds=self._reclaim,
        )
        limiter = self._client.get_workflow_handle(request.group)
        while True:
            await ask_by_signal(self._client, request, info.task_queue)
            if await self._wait_granted(limiter, holder):
                break
            # Not in the queue: reclaimed (asked again), or the limiter had ended idle.
            await asyncio.sleep(QUEUE_POLL_SECONDS)
        try:
            yield
        finally:
            # Given back even when the request failed or the attempt is being cancelled.
            with contextlib.suppress(Exception):
                await asyncio.shield(limiter.signal(RELEASE_SIGNAL, holder))

    async def _wait_granted(self, limiter: WorkflowHandle[Any, Any], holder: str) -> bool:
        """Look at the queue until the holder has its permit (True) or has left the queue
        without it (False: reclaimed, ask again). Queries, not a waiting Update: Temporal
        caps the Updates in flight per workflow, and a queue may be longer than that."""
        while True:
            place = await limiter.query("position", holder)
            if place == 0:
                return True
            if place is None:
                return False
            heartbeat(place)
            await asyncio.sleep(QUEUE_POLL_SECONDS)

    async def _wait_for_rate(self, connection: ConnectionConfig) -> None:
        requests, seconds = connection.rate_limit_requests, connection.rate_limit_seconds
        if not requests or not seconds or not connection.integration_id:
            return
        item: RateLimitItem = parse(f"{requests} per {seconds} second")
        key = connection.integration_id
        while not await self._rates.hit(item, "headrace-connection", key):
            stats = await self._rates.get_window_stats(item, "headrace-connection", key)
            await asyncio.sleep(max(stats.reset_time - time.time(), MIN_RATE_PAUSE))
