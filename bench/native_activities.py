"""Activities of the native baseline workflows (one per step, as a hand-written workflow has)."""

from __future__ import annotations

import httpx
from temporalio import activity


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
