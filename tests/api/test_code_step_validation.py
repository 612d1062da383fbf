"""Saving a workflow with ``code`` steps: every script is compiled (never run) first."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import UserFactory


def with_code(code: Any, **with_: Any) -> dict[str, Any]:
    return {"steps": [{"id": "calc", "type": "code", "with": {"code": code, **with_}}]}


async def save(
    client: httpx.AsyncClient, headers: dict[str, str], definition: dict[str, Any]
) -> httpx.Response:
    body = {"name": "code-validation", "definition": definition}
    return await client.post("/api/v1/workflows", json=body, headers=headers)


class TestCodeStepValidation:
    async def test_a_valid_script_is_stored(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        response = await save(
            client, developer, with_code("return input.a + 1", language="javascript", input={})
        )
        assert response.status_code == 201, response.text

    async def test_a_syntax_error_is_422_at_the_code_with_line_and_column(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        response = await save(client, developer, with_code("const a = 1;\nconst b = ;"))
        assert response.status_code == 422
        [error] = response.json()["errors"]
        assert error["pointer"] == "/definition/steps/0/with/code"
        assert error["code"] == "javascript_syntax"
        assert "line 2, column 11" in error["detail"]

    async def test_a_syntax_error_in_a_compensation_points_there(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        definition = {
            "steps": [
                {"id": "a", "type": "transform", "with": {}},
                {
                    "id": "b",
                    "type": "transform",
                    "with": {},
                    "compensate": {"type": "code", "with": {"code": "return ("}},
                },
            ]
        }
        response = await save(client, developer, definition)
        assert response.status_code == 422
        pointers = [e["pointer"] for e in response.json()["errors"]]
        assert "/definition/steps/1/compensate/with/code" in pointers

    async def test_only_javascript_and_only_the_documented_fields(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        python = await save(client, developer, with_code("return 1", language="python"))
        assert python.status_code == 422
        assert python.json()["errors"][0]["pointer"] == "/definition/steps/0/with/language"
        extra = await save(client, developer, with_code("return 1", timeout_ms=5))
        assert extra.json()["errors"][0]["pointer"] == "/definition/steps/0/with/timeout_ms"
        missing = await save(client, developer, {"steps": [{"id": "c", "type": "code"}]})
        assert missing.json()["errors"][0]["pointer"] == "/definition/steps/0/with/code"
        not_text = await save(client, developer, with_code(["return 1"]))
        assert not_text.json()["errors"][0]["pointer"] == "/definition/steps/0/with/code"

    async def test_a_script_is_never_a_template(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        response = await save(client, developer, with_code("return '{{ not a template ]]'"))
        assert response.status_code == 201, response.text
