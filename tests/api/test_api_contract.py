"""The API as a contract: documented errors, declared limits, text that can be stored.

Runs on SQLite and PostgreSQL (through the session's ``app``).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.conftest import UserFactory

PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
LIST_ROUTES = ["/api/v1/workflows", "/api/v1/executions", "/api/v1/webhooks", "/api/v1/users"]
HUGE_OFFSET = "4335405004842399170560"
DEFINITION = {"steps": [{"id": "a", "type": "transform", "with": {"x": 1}}]}


def raw_json(body: Any) -> str:
    """A JSON body escaped as a client would send it (so ``\\ud800`` can travel)."""
    return json.dumps(body)


def pointers(response: httpx.Response) -> list[str]:
    return [e["pointer"] for e in response.json()["errors"]]


async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


class TestErrorsAreDocumented:
    """Every operation lists the errors it can answer, as problem+json, from one rule table."""

    async def test_the_problem_schema_is_a_component(self, client: httpx.AsyncClient) -> None:
        problem = (await openapi(client))["components"]["schemas"]["Problem"]
        assert set(problem["required"]) == {"type", "title", "status", "detail"}
        entry = (await openapi(client))["components"]["schemas"]["ProblemEntry"]
        assert set(entry["properties"]) == {"pointer", "detail", "code"}

    async def test_every_error_answer_is_problem_json(self, client: httpx.AsyncClient) -> None:
        spec = await openapi(client)
        errors = [
            (path, method, status, answer)
            for path, item in spec["paths"].items()
            for method, operation in item.items()
            for status, answer in operation["responses"].items()
            if status.startswith("4") or (status == "503" and path != "/readyz")
        ]
        assert errors
        wrong = [
            (path, method, status)
            for path, method, status, answer in errors
            if answer.get("content") != {"application/problem+json": {"schema": PROBLEM_REF}}
        ]
        assert wrong == []
        assert "HTTPValidationError" not in spec["components"]["schemas"]

    async def test_an_authenticated_route_lists_its_errors(self, client: httpx.AsyncClient) -> None:
        responses = (await openapi(client))["paths"]["/api/v1/workflows/{workflow_id}"]["patch"][
            "responses"
        ]
        assert set(responses) == {"200", "401", "403", "404", "409", "413", "422", "429", "503"}
        assert "WWW-Authenticate" in responses["401"]["headers"]
        assert "Retry-After" in responses["503"]["headers"]

    async def test_every_api_and_webhook_operation_may_be_rate_limited(
        self, client: httpx.AsyncClient
    ) -> None:
        paths = (await openapi(client))["paths"]
        assert "429" in paths["/api/v1/auth/token"]["post"]["responses"]
        assert "429" in paths["/api/v1/auth/refresh"]["post"]["responses"]
        assert "429" in paths["/api/v1/workflows"]["get"]["responses"]
        for method in ("get", "post", "put", "patch", "delete"):
            assert "429" in paths["/hooks/{url_path}"][method]["responses"]
        assert "429" not in paths["/healthz"]["get"]["responses"]

    async def test_success_answers_are_left_as_routes_declare_them(
        self, client: httpx.AsyncClient
    ) -> None:
        paths = (await openapi(client))["paths"]
        created = paths["/api/v1/workflows"]["post"]["responses"]["201"]
        assert created["content"] == {
            "application/json": {"schema": {"$ref": "#/components/schemas/WorkflowPublic"}}
        }
        # Health has its success and its query's 422: no 401, 429 or 503 of the API's.
        assert paths["/healthz"]["get"]["responses"].keys() == {"200", "422"}

    async def test_the_answers_match_the_document(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/workflows")
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


class TestPaginationLimits:
    """``offset`` and ``limit`` are bounded in the schema; beyond them is a 422, not a 500."""

    async def test_the_bounds_are_in_the_schema(self, client: httpx.AsyncClient) -> None:
        spec = await openapi(client)
        for path in LIST_ROUTES:
            params = {p["name"]: p["schema"] for p in spec["paths"][path]["get"]["parameters"]}
            assert params["offset"]["minimum"] == 0
            assert params["offset"]["maximum"] == 2**31 - 1
            assert (params["limit"]["minimum"], params["limit"]["maximum"]) == (1, 500)

    @pytest.mark.parametrize("path", LIST_ROUTES)
    async def test_an_offset_past_any_database_integer_is_a_422(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str], path: str
    ) -> None:
        response = await client.get(f"{path}?offset={HUGE_OFFSET}", headers=admin_headers)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert pointers(response) == ["/query/offset"]

    async def test_the_largest_offset_is_an_empty_page(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.get(f"/api/v1/workflows?offset={2**31 - 1}", headers=admin_headers)
        assert response.status_code == 200
        assert response.json()["data"] == []

    async def test_a_log_cursor_past_any_database_integer_is_a_422(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.get(
            f"/api/v1/executions/00000000-0000-0000-0000-000000000000/logs?after={HUGE_OFFSET}",
            headers=admin_headers,
        )
        assert response.status_code == 422
        assert pointers(response) == ["/query/after"]


class TestTextThatCannotBeStored:
    """NUL and lone surrogates in what users author are a 422 pointing at them, everywhere."""

    async def test_a_lone_surrogate_in_a_definition_points_at_the_string_and_the_key(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        headers = await make_user("developer")
        definition = {"steps": [{"id": "a", "type": "transform", "with": {"k\udc00": "v\ud800"}}]}
        response = await client.post(
            "/api/v1/workflows",
            content=raw_json({"name": "surrogates", "definition": definition}),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert pointers(response) == ["/definition/steps/0/with/k\ufffd"] * 2
        codes = {e["code"] for e in response.json()["errors"]}
        assert codes == {"unstorable_text"}

    @pytest.mark.parametrize(
        ("field", "value", "pointer"),
        [
            ("name", "nul\x00name", "/name"),
            ("description", "lone \ud83d half", "/description"),
            ("variables", {"base": ["ok", "\x00"]}, "/variables/base/1"),
            ("triggers", [{"type": "manual", "\x00": 1}], "/triggers/0/\x00"),
        ],
    )
    async def test_each_authored_field_is_checked(
        self,
        client: httpx.AsyncClient,
        make_user: UserFactory,
        field: str,
        value: Any,
        pointer: str,
    ) -> None:
        headers = await make_user("developer")
        body = {"name": "w", "definition": DEFINITION, field: value}
        response = await client.post(
            "/api/v1/workflows",
            content=raw_json(body),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422, response.text
        assert pointer.replace("\x00", "\ufffd") in pointers(response)

    async def test_an_update_is_checked_too(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        headers = await make_user("developer")
        created = await client.post(
            "/api/v1/workflows", json={"name": "w", "definition": DEFINITION}, headers=headers
        )
        assert created.status_code == 201, created.text
        response = await client.patch(
            f"/api/v1/workflows/{created.json()['id']}",
            content=raw_json({"definition": {"steps": [], "output": "\x00"}}),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422
        assert pointers(response) == ["/definition/output"]

    async def test_a_search_for_nul_is_a_422(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.get("/api/v1/workflows?q=a%00b", headers=admin_headers)
        assert response.status_code == 422
        assert pointers(response) == ["/query/q"]

    async def test_run_input_is_not_refused_but_stored_with_replacement_characters(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        headers = await make_user("developer")
        created = await client.post(
            "/api/v1/workflows", json={"name": "w", "definition": DEFINITION}, headers=headers
        )
        assert created.status_code == 201, created.text
        response = await client.post(
            f"/api/v1/workflows/{created.json()['id']}/execute",
            content=raw_json({"input_data": {"text": "a\x00b\ud800"}}),
            headers={**headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        execution = await client.get(
            f"/api/v1/executions/{response.json()['execution_id']}", headers=headers
        )
        assert execution.json()["input_data"] == {"text": "a\ufffdb\ufffd"}

    async def test_a_webhook_body_is_not_refused_either(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        headers = await make_user("developer")
        created = await client.post(
            "/api/v1/workflows", json={"name": "w", "definition": DEFINITION}, headers=headers
        )
        assert created.status_code == 201, created.text
        hook = await client.post(
            "/api/v1/webhooks",
            json={"workflow_id": created.json()["id"], "authentication": {"type": "none"}},
            headers=headers,
        )
        assert hook.status_code == 201, hook.text
        response = await client.post(
            f"/hooks/{hook.json()['url_path']}?wait=true",
            content=raw_json({"text": "a\x00b\ud800"}),
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 200, response.text
        execution = await client.get(
            f"/api/v1/executions/{response.json()['execution_id']}", headers=headers
        )
        assert execution.json()["input_data"]["body"] == {"text": "a\ufffdb\ufffd"}


class TestOddInputIsAClientError:
    """Inputs the fuzz found answered with a 500 now get the 4xx their schema documents."""

    async def test_a_login_with_nul_in_the_email_is_a_401(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/v1/auth/token", data={"username": "a\x00@example.com", "password": "x" * 8}
        )
        assert response.status_code == 401

    async def test_a_definition_with_a_superscript_digit_key_is_a_422(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.post(
            "/api/v1/workflows/validate",
            json={"definition": {"steps": [], "\u00b2": 1, "b": 2}},
            headers=admin_headers,
        )
        assert response.status_code == 422
        assert "/definition/\u00b2" in pointers(response)

    async def test_a_body_that_is_not_utf8_is_a_422_at_the_body(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.post(
            "/api/v1/api-keys",
            content=b"\x80",
            headers={**admin_headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 422
        assert pointers(response) == [""]

    async def test_a_signed_link_with_a_non_ascii_signature_is_a_403(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(
            "/api/v1/artifacts/download",
            params={"key": "k", "expires": 4102444800, "signature": "\u00e9"},
        )
        assert response.status_code == 403
