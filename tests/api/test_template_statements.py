"""Jinja statements (`{% if %}`, `{% for %}`) are refused when a definition is saved.

Templates are `{{ expressions }}` only; a statement used to pass through as literal text.
"""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import UserFactory
from tests.support.runner import Runner


@pytest.fixture
async def developer(make_user: UserFactory) -> dict[str, str]:
    return await make_user("developer")


async def save(
    client: httpx.AsyncClient, headers: dict[str, str], definition: dict[str, object]
) -> httpx.Response:
    body = {"name": "statements", "definition": definition}
    return await client.post("/api/v1/workflows", json=body, headers=headers)


class TestJinjaStatements:
    async def test_an_if_block_is_a_422_at_its_pointer(
        self, client: httpx.AsyncClient, developer: dict[str, str]
    ) -> None:
        definition = {
            "steps": [
                {
                    "id": "greet",
                    "type": "transform",
                    "with": {"text": "{% if input.vip %}Dear{% else %}Hi{% endif %} you"},
                }
            ],
            "output": ["{%- for x in input.items %}{{ input }}{% endfor %}"],
        }
        response = await save(client, developer, definition)
        assert response.status_code == 422, response.text
        errors = response.json()["errors"]
        assert [(e["pointer"], e["code"]) for e in errors] == [
            ("/definition/steps/0/with/text", "template_statement"),
            ("/definition/output/0", "template_statement"),
        ]
        assert "{{ a if cond else b }}" in errors[0]["detail"]

    async def test_percent_braces_that_are_no_statement_stay_text(self, runner: Runner) -> None:
        definition = {
            "steps": [
                {
                    "id": "fmt",
                    "type": "transform",
                    "with": {
                        "pattern": "{%d} {% literally %}",
                        "v": "{{ 'Dear' if true else 'Hi' }}",
                    },
                }
            ],
            "output": "{{ steps.fmt.output }}",
        }
        execution = await runner.run(definition)
        assert execution["output_data"] == {"pattern": "{%d} {% literally %}", "v": "Dear"}
