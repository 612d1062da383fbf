"""Workflows CRUD: validation, versions, ownership and the shape of errors."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import UserFactory

SIMPLE = {
    "steps": [
        {"id": "greet", "type": "transform", "with": {"text": "hello {{ input.name }}"}},
    ],
    "output": {"text": "{{ steps.greet.output.text }}"},
}


def workflow_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "greeter", "definition": SIMPLE, "triggers": []}
    body.update(overrides)
    return body


async def create(
    client: httpx.AsyncClient, headers: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/workflows", json=workflow_body(**overrides), headers=headers
    )
    assert response.status_code == 201, response.text
    return response.json()


class TestCreate:
    async def test_developer_creates_a_workflow_at_version_1(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        created = await create(client, developer, triggers=[{"type": "manual"}])
        assert created["version"] == 1
        assert created["status"] == "active"
        assert created["triggers"] == [{"type": "manual"}]
        versions = (
            await client.get(f"/api/v1/workflows/{created['id']}/versions", headers=developer)
        ).json()
        assert [v["version"] for v in versions] == [1]

    async def test_plain_users_may_not_create(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        user = await make_user("user")
        response = await client.post("/api/v1/workflows", json=workflow_body(), headers=user)
        assert response.status_code == 403

    async def test_invalid_definition_is_422_with_pointers_and_nothing_is_stored(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        bad = {
            "steps": [
                {"id": "a", "type": "teleport"},
                {"id": "b", "type": "transform", "depends_on": ["nowhere"]},
            ]
        }
        response = await client.post(
            "/api/v1/workflows", json=workflow_body(name="bad", definition=bad), headers=developer
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        pointers = {e["pointer"] for e in response.json()["errors"]}
        assert "/definition/steps/0/type" in pointers
        assert "/definition/steps/1/depends_on/0" in pointers
        listed = (await client.get("/api/v1/workflows?q=bad", headers=developer)).json()
        assert listed["count"] == 0

    async def test_invalid_trigger_is_422_with_pointer(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        response = await client.post(
            "/api/v1/workflows",
            json=workflow_body(triggers=[{"type": "manual"}, {"type": "schedule"}]),
            headers=developer,
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"].startswith("/triggers/1")


class TestMalformedRequests:
    async def test_body_that_is_not_json_is_422(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.post(
            "/api/v1/workflows",
            content=b"{not json",
            headers={**admin_headers, "content-type": "application/json"},
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "json_invalid"

    async def test_unknown_and_mistyped_fields_are_422_with_pointers(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.post(
            "/api/v1/workflows",
            json={**workflow_body(), "colour": "red", "name": 5},
            headers=admin_headers,
        )
        assert response.status_code == 422
        pointers = {e["pointer"] for e in response.json()["errors"]}
        assert pointers == {"/colour", "/name"}

    async def test_bad_uuid_in_path_is_422_not_500(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.get("/api/v1/workflows/not-a-uuid", headers=admin_headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/path/workflow_id"

    async def test_body_over_the_limit_is_413_before_it_is_read(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        huge = b"x" * (10 * 1024 * 1024 + 1)
        response = await client.post(
            "/api/v1/workflows",
            content=huge,
            headers={**admin_headers, "content-type": "application/json"},
        )
        assert response.status_code == 413
        assert response.json()["status"] == 413

    async def test_unknown_route_is_a_404_problem(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/nothing-here")
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


class TestOwnership:
    async def test_another_developer_gets_404_and_admin_sees_all(
        self, client: httpx.AsyncClient, make_user: UserFactory, admin_headers: dict[str, str]
    ) -> None:
        owner, other = await make_user("developer"), await make_user("developer")
        created = await create(client, owner)
        url = f"/api/v1/workflows/{created['id']}"
        assert (await client.get(url, headers=other)).status_code == 404
        assert (await client.patch(url, json={"name": "mine"}, headers=other)).status_code == 404
        assert (await client.delete(url, headers=other)).status_code == 404
        assert (await client.get(url, headers=admin_headers)).status_code == 200
        other_list = (await client.get("/api/v1/workflows?limit=500", headers=other)).json()
        assert created["id"] not in {w["id"] for w in other_list["data"]}

    async def test_shared_workflows_are_visible_but_not_editable_by_users(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        owner, user = await make_user("developer"), await make_user("user")
        created = await create(client, owner, shared=True)
        url = f"/api/v1/workflows/{created['id']}"
        assert (await client.get(url, headers=user)).status_code == 200
        assert (await client.patch(url, json={"name": "x"}, headers=user)).status_code == 403


class TestUpdatesAndVersions:
    async def test_changing_the_definition_adds_a_version_and_other_fields_do_not(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        created = await create(client, developer)
        url = f"/api/v1/workflows/{created['id']}"
        renamed = (await client.patch(url, json={"name": "renamed"}, headers=developer)).json()
        assert renamed["version"] == 1 and renamed["name"] == "renamed"
        changed = {"steps": [{"id": "only", "type": "transform", "with": {"a": 1}}]}
        patched = (await client.patch(url, json={"definition": changed}, headers=developer)).json()
        assert patched["version"] == 2
        put = await client.put(url, json=workflow_body(name="again"), headers=developer)
        assert put.status_code == 200 and put.json()["version"] == 3
        versions = (await client.get(f"{url}/versions", headers=developer)).json()
        assert [v["version"] for v in versions] == [3, 2, 1]
        assert versions[1]["definition"] == changed

    async def test_invalid_patch_changes_nothing(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        created = await create(client, developer)
        url = f"/api/v1/workflows/{created['id']}"
        bad = {"steps": [{"id": "a", "type": "transform", "depends_on": ["a"]}]}
        response = await client.patch(
            url, json={"name": "new", "definition": bad}, headers=developer
        )
        assert response.status_code == 422
        unchanged = (await client.get(url, headers=developer)).json()
        assert unchanged["name"] == "greeter" and unchanged["version"] == 1

    async def test_delete_removes_it(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        created = await create(client, developer)
        url = f"/api/v1/workflows/{created['id']}"
        assert (await client.delete(url, headers=developer)).status_code == 204
        assert (await client.get(url, headers=developer)).status_code == 404


class TestListing:
    async def test_pagination_and_filters(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        for n in range(3):
            await create(client, developer, name=f"batch-{n}")
        await create(client, developer, name="other", status="inactive")
        page = (await client.get("/api/v1/workflows?q=batch&limit=2", headers=developer)).json()
        assert page["count"] == 3 and len(page["data"]) == 2 and page["next_offset"] == 2
        rest = (
            await client.get("/api/v1/workflows?q=batch&limit=2&offset=2", headers=developer)
        ).json()
        assert len(rest["data"]) == 1 and rest["next_offset"] is None
        inactive = (await client.get("/api/v1/workflows?status=inactive", headers=developer)).json()
        assert [w["name"] for w in inactive["data"]] == ["other"]


class TestValidateEndpoint:
    async def test_a_valid_definition_is_200_and_nothing_is_stored(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        user = await make_user("user")
        response = await client.post(
            "/api/v1/workflows/validate", json={"definition": SIMPLE}, headers=user
        )
        assert response.status_code == 200
        assert response.json() == {"valid": True, "steps": 1}

    async def test_an_invalid_definition_is_422_with_pointers_under_definition(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        bad = {"steps": [{"id": "a", "type": "transform", "depends_on": ["ghost"]}]}
        response = await client.post(
            "/api/v1/workflows/validate", json={"definition": bad}, headers=admin_headers
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/definition/steps/0/depends_on/0"


class TestValidatedDefinitions:
    """Starts reuse the validated definition of a version; a new version is validated anew."""

    async def run(
        self, client: httpx.AsyncClient, headers: dict[str, str], workflow_id: str
    ) -> dict[str, Any]:
        response = await client.post(
            f"/api/v1/workflows/{workflow_id}/execute",
            json={"input_data": {"name": "ada"}},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def test_each_version_runs_its_own_definition(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        from api.services.executions import definitions

        developer = await make_user("developer")
        created = await create(client, developer)
        first = await self.run(client, developer, created["id"])
        hits = definitions.hits
        again = await self.run(client, developer, created["id"])
        assert definitions.hits == hits + 1
        assert first["result"] == again["result"] == {"text": "hello ada"}

        edited = {
            "steps": [
                {"id": "greet", "type": "transform", "with": {"text": "bye {{ input.name }}"}}
            ],
            "output": {"text": "{{ steps.greet.output.text }}"},
        }
        patched = await client.patch(
            f"/api/v1/workflows/{created['id']}", json={"definition": edited}, headers=developer
        )
        assert patched.status_code == 200 and patched.json()["version"] == 2
        assert (await self.run(client, developer, created["id"]))["result"] == {"text": "bye ada"}
