"""Hand-written native Temporal workflows: the baseline Headrace is measured against.

Each does the same work as the Headrace definition it is compared with, the way a Temporal
user would write it by hand: one activity per step.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow

TIMEOUT = timedelta(seconds=30)


@workflow.defn(name="NativeHttpChain")
class NativeHttpChain:
    @workflow.run
    async def run(self, args: list[Any]) -> int:
        url, length = str(args[0]), int(args[1])
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
    async def run(self, args: list[Any]) -> int:
        url, width = str(args[0]), int(args[1])
        calls = [
            workflow.execute_activity("native_http_get", url, start_to_close_timeout=TIMEOUT)
            for _ in range(width)
        ]
        await asyncio.gather(*calls)
        return width
