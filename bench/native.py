"""Hand-written native Temporal workflows: the baseline Headrace is measured against.

Each does the same work as the Headrace definition it is compared with, the way a Temporal
user would write it by hand: one activity per step.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from temporalio import activity, workflow

TIMEOUT = timedelta(seconds=30)


class NativeActivities:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    @activity.defn(name="native_http_get")
    async def http_get(self, url: str) -> dict[str, object]:
        response = await self._client.get(url)
        response.raise_for_status()
        return {"status": response.status_code, "body": response.json()}

    @activity.defn(name="native_transform")
    async def transform(self, value: int) -> int:
        return value + 1


@workflow.defn(name="NativeHttpChain")
class NativeHttpChain:
    @workflow.run
    async def run(self, args: tuple[str, int]) -> int:
        url, length = args
        for _ in range(length):
            await workflow.execute_activity("native_http_get", url, start_to_close_timeout=TIMEOUT)
        return length


@workflow.defn(name="NativeTransformChain")
class NativeTransformChain:
    @workflow.run
    async def run(self, length: int) -> int:
        value = 0
        for _ in range(length):
            value = await workflow.execute_activity(
                "native_transform", value, start_to_close_timeout=TIMEOUT, result_type=int
            )
        return value


@workflow.defn(name="NativeFanOut")
class NativeFanOut:
    @workflow.run
    async def run(self, args: tuple[str, int]) -> int:
        url, width = args
        calls = [
            workflow.execute_activity("native_http_get", url, start_to_close_timeout=TIMEOUT)
            for _ in range(width)
        ]
        await asyncio.gather(*calls)
        return width
