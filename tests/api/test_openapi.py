"""The OpenAPI document the dashboard's typed client is generated from."""

from __future__ import annotations

from collections import Counter

import httpx


async def test_every_operation_has_its_own_id(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    ids = Counter(
        operation["operationId"]
        for path in spec["paths"].values()
        for operation in path.values()
        if isinstance(operation, dict) and "operationId" in operation
    )
    assert [name for name, count in ids.items() if count > 1] == []


async def test_webhooks_are_documented_for_each_method(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    assert set(spec["paths"]["/hooks/{url_path}"]) == {"get", "post", "put", "patch", "delete"}
