"""Trigger mistakes are told like definition mistakes: what to write, and where."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import UserFactory

DEFINITION = {"steps": [{"id": "a", "type": "log", "with": {"message": "hi"}}]}


@pytest.fixture
async def developer(make_user: UserFactory) -> dict[str, str]:
    return await make_user("developer")


async def refused(
    client: httpx.AsyncClient, headers: dict[str, str], triggers: list[Any]
) -> list[dict[str, str]]:
    body = {"name": "triggered", "definition": DEFINITION, "triggers": triggers}
    response = await client.post("/api/v1/workflows", json=body, headers=headers)
    assert response.status_code == 422, response.text
    return [
        {"pointer": e["pointer"], "code": e["code"], "detail": e["detail"]}
        for e in response.json()["errors"]
    ]


class TestTriggerErrors:
    async def test_an_unknown_type_names_the_valid_ones(
        self, client: httpx.AsyncClient, developer: dict[str, str]
    ) -> None:
        [error] = await refused(client, developer, [{"type": "manual"}, {"type": "schedul"}])
        assert error["pointer"] == "/triggers/1/type"
        assert error["code"] == "unknown_trigger_type"
        assert error["detail"] == "unknown trigger type 'schedul'; did you mean 'schedule'?"

    async def test_a_missing_type_names_the_types(
        self, client: httpx.AsyncClient, developer: dict[str, str]
    ) -> None:
        [error] = await refused(client, developer, [{}])
        assert (error["pointer"], error["code"]) == ("/triggers/0/type", "missing_field")
        assert "manual, schedule, webhook" in error["detail"]

    async def test_cron_or_interval_is_said_plainly(
        self, client: httpx.AsyncClient, developer: dict[str, str]
    ) -> None:
        [error] = await refused(client, developer, [{"type": "schedule"}])
        assert error["pointer"] == "/triggers/0"
        assert error["detail"] == "give exactly one of `cron` or `interval`"
        assert "Value error" not in error["detail"]

    async def test_a_misspelt_field_gets_a_suggestion(
        self, client: httpx.AsyncClient, developer: dict[str, str]
    ) -> None:
        errors = await refused(
            client,
            developer,
            [{"type": "webhook", "methd": "GET", "authentication": {"type": "none", "secert": 1}}],
        )
        assert {(e["pointer"], e["detail"]) for e in errors} == {
            ("/triggers/0/methd", "unknown field 'methd'; did you mean 'method'?"),
            ("/triggers/0/authentication/secert", "unknown field 'secert'; did you mean 'secret'?"),
        }

    async def test_the_trigger_resource_speaks_the_same(
        self, client: httpx.AsyncClient, developer: dict[str, str]
    ) -> None:
        body = {"name": "triggered", "definition": DEFINITION}
        created = await client.post("/api/v1/workflows", json=body, headers=developer)
        workflow_id = created.json()["id"]
        response = await client.post(
            f"/api/v1/workflows/{workflow_id}/triggers", json={"type": "cron"}, headers=developer
        )
        assert response.status_code == 422, response.text
        [error] = response.json()["errors"]
        assert error["pointer"] == "/type"
        assert error["code"] == "unknown_trigger_type"
