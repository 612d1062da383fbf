"""Driving workflows through the public API, as a user would."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.polling import eventually


class Runner:
    """Creates workflows and runs them through the public API, as a user would."""

    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    async def create(self, definition: dict[str, Any], **fields: Any) -> str:
        body = {"name": fields.pop("name", "test"), "definition": definition, **fields}
        response = await self.client.post("/api/v1/workflows", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def execute(
        self, workflow_id: str, input_data: Any = None, **body: Any
    ) -> httpx.Response:
        return await self.client.post(
            f"/api/v1/workflows/{workflow_id}/execute",
            json={"input_data": input_data, **body},
            headers=self.headers,
        )

    async def run(self, definition: dict[str, Any], input_data: Any = None) -> dict[str, Any]:
        """Run synchronously; return the execution as GET shows it."""
        response = await self.execute(await self.create(definition), input_data)
        assert response.status_code == 200, response.text
        return await self.execution(response.json()["execution_id"])

    async def start(self, definition: dict[str, Any], input_data: Any = None) -> str:
        response = await self.execute(await self.create(definition), input_data, async_mode=True)
        assert response.status_code == 202, response.text
        return str(response.json()["execution_id"])

    async def execution(self, execution_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/v1/executions/{execution_id}", headers=self.headers)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def wait_until(
        self, execution_id: str, predicate: Any, timeout: float = 20
    ) -> dict[str, Any]:
        return await eventually(
            lambda: self.execution(execution_id),
            predicate,
            timeout=timeout,
            what=f"the awaited state of execution {execution_id}",
        )

    async def wait_for_row(self, execution_id: str, timeout: float = 30) -> None:
        """Runs started by Temporal itself get their row with their first events."""
        await eventually(
            lambda: self.client.get(f"/api/v1/executions/{execution_id}", headers=self.headers),
            lambda response: response.status_code != 404,
            timeout=timeout,
            what=f"the row of execution {execution_id}",
        )

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        return await self.client.post(path, json=body, headers=self.headers)


def steps_by_id(execution: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["id"]: s for s in execution["steps"]}
