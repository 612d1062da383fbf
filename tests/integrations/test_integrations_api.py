"""``/api/v1/integrations``: the store (credentials encrypted, never returned) and ``test``."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import select

from db.models import Integration
from tests.conftest import UserFactory
from tests.integrations.fake_n8n import API_KEY, FakeN8n

BASE = "/api/v1/integrations"


def n8n_body(url: str, key: str = API_KEY, name: str | None = None) -> dict[str, Any]:
    return {
        "type": "n8n",
        "name": name or f"n8n-{uuid.uuid4().hex[:6]}",
        "config": {"base_url": url},
        "credentials": {"api_key": key},
    }


async def stored_row(app: FastAPI, integration_id: str) -> Integration:
    async with app.state.ctx.sessions() as session:
        row: Integration | None = await session.scalar(
            select(Integration).where(Integration.id == uuid.UUID(integration_id))
        )
        assert row is not None
        return row


class TestStore:
    async def test_create_returns_config_but_never_credentials(
        self, client: httpx.AsyncClient, make_user: UserFactory, app: FastAPI
    ) -> None:
        headers = await make_user("developer")
        response = await client.post(
            BASE, json=n8n_body("https://n8n.example.com/"), headers=headers
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["config"]["base_url"] == "https://n8n.example.com"
        assert body["has_credentials"] is True and body["credential_fields"] == ["api_key"]
        assert API_KEY not in response.text
        listed = await client.get(BASE, headers=headers)
        assert [i["id"] for i in listed.json()] == [body["id"]]
        assert API_KEY not in listed.text

    async def test_credentials_are_encrypted_at_rest(
        self, client: httpx.AsyncClient, make_user: UserFactory, app: FastAPI
    ) -> None:
        headers = await make_user("developer")
        created = (
            await client.post(BASE, json=n8n_body("https://n8n.example.com"), headers=headers)
        ).json()
        row = await stored_row(app, created["id"])
        assert row.credentials_encrypted and API_KEY not in row.credentials_encrypted
        assert json.loads(app.state.ctx.encryptor.decrypt(row.credentials_encrypted)) == {
            "api_key": API_KEY
        }

    async def test_patch_renames_and_replaces_credentials(
        self, client: httpx.AsyncClient, make_user: UserFactory, app: FastAPI
    ) -> None:
        headers = await make_user("developer")
        created = (
            await client.post(BASE, json=n8n_body("https://n8n.example.com"), headers=headers)
        ).json()
        response = await client.patch(
            f"{BASE}/{created['id']}",
            json={"name": "renamed", "credentials": {"api_key": "other"}},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        assert response.json()["name"] == "renamed"
        row = await stored_row(app, created["id"])
        assert json.loads(app.state.ctx.encryptor.decrypt(row.credentials_encrypted or "")) == {
            "api_key": "other"
        }

    async def test_delete(self, client: httpx.AsyncClient, make_user: UserFactory) -> None:
        headers = await make_user("developer")
        created = (
            await client.post(BASE, json=n8n_body("https://n8n.example.com"), headers=headers)
        ).json()
        assert (await client.delete(f"{BASE}/{created['id']}", headers=headers)).status_code == 204
        assert (await client.get(f"{BASE}/{created['id']}", headers=headers)).status_code == 404

    async def test_others_integrations_are_invisible(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        owner, other = await make_user("developer"), await make_user("developer")
        created = (
            await client.post(BASE, json=n8n_body("https://n8n.example.com"), headers=owner)
        ).json()
        assert (await client.get(f"{BASE}/{created['id']}", headers=other)).status_code == 404
        assert (await client.delete(f"{BASE}/{created['id']}", headers=other)).status_code == 404
        assert (await client.get(BASE, headers=other)).json() == []

    async def test_users_may_not_create(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        headers = await make_user("user")
        response = await client.post(
            BASE, json=n8n_body("https://n8n.example.com"), headers=headers
        )
        assert response.status_code == 403

    async def test_duplicate_names_conflict(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        headers = await make_user("developer")
        body = n8n_body("https://n8n.example.com", name="main")
        assert (await client.post(BASE, json=body, headers=headers)).status_code == 201
        response = await client.post(BASE, json=body, headers=headers)
        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"


class TestValidation:
    async def test_bad_config_points_at_the_field(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        headers = await make_user("developer")
        response = await client.post(BASE, json=n8n_body("ftp://n8n.example.com"), headers=headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/config/base_url"

    async def test_unknown_credential_fields_are_refused(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        headers = await make_user("developer")
        body = n8n_body("https://n8n.example.com") | {"credentials": {"apikey": "x"}}
        response = await client.post(BASE, json=body, headers=headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/credentials/apikey"

    async def test_http_auth_needs_its_credentials(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        headers = await make_user("developer")
        body = {
            "type": "http",
            "name": "github",
            "config": {"base_url": "https://api.github.com", "auth": {"type": "basic"}},
            "credentials": {"username": "me"},
        }
        response = await client.post(BASE, json=body, headers=headers)
        assert response.status_code == 422
        assert [e["pointer"] for e in response.json()["errors"]] == ["/credentials/password"]

    async def test_unknown_type(self, client: httpx.AsyncClient, make_user: UserFactory) -> None:
        headers = await make_user("developer")
        body = n8n_body("https://n8n.example.com") | {"type": "zapier"}
        response = await client.post(BASE, json=body, headers=headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/type"


class TestConnectionTest:
    async def create(
        self, client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
    ) -> str:
        response = await client.post(BASE, json=body, headers=headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def test_a_working_n8n(
        self, client: httpx.AsyncClient, make_user: UserFactory, fake_n8n: FakeN8n
    ) -> None:
        headers = await make_user("developer")
        fake_n8n.add("order_intake")
        integration = await self.create(client, headers, n8n_body(fake_n8n.base_url))
        response = await client.post(f"{BASE}/{integration}/test", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["ok"] is True

    async def test_a_wrong_api_key_is_a_422_on_the_key(
        self, client: httpx.AsyncClient, make_user: UserFactory, fake_n8n: FakeN8n
    ) -> None:
        headers = await make_user("developer")
        integration = await self.create(client, headers, n8n_body(fake_n8n.base_url, key="wrong"))
        response = await client.post(f"{BASE}/{integration}/test", headers=headers)
        assert response.status_code == 422
        problem = response.json()
        assert problem["errors"][0]["pointer"] == "/credentials/api_key"
        assert "401" in problem["detail"]

    async def test_an_unreachable_n8n_is_a_502(
        self, client: httpx.AsyncClient, make_user: UserFactory, unused_port: int
    ) -> None:
        headers = await make_user("developer")
        integration = await self.create(
            client, headers, n8n_body(f"http://127.0.0.1:{unused_port}")
        )
        response = await client.post(f"{BASE}/{integration}/test", headers=headers)
        assert response.status_code == 502
        assert response.json()["type"].endswith("/upstream-unreachable")
        assert "unreachable" in response.json()["detail"]

    async def test_a_url_that_is_not_n8n_is_a_502(
        self, client: httpx.AsyncClient, make_user: UserFactory, fake_n8n: FakeN8n
    ) -> None:
        headers = await make_user("developer")
        integration = await self.create(client, headers, n8n_body(fake_n8n.target))
        response = await client.post(f"{BASE}/{integration}/test", headers=headers)
        assert response.status_code == 502
        assert response.json()["type"].endswith("/upstream-not-n8n")

    async def test_an_http_connection_with_refused_credentials(
        self, client: httpx.AsyncClient, make_user: UserFactory, fake_n8n: FakeN8n
    ) -> None:
        headers = await make_user("developer")
        body = {
            "type": "http",
            "name": "target",
            "config": {"base_url": fake_n8n.target + "/status/401", "auth": {"type": "bearer"}},
            "credentials": {"token": "t"},
        }
        integration = await self.create(client, headers, body)
        response = await client.post(f"{BASE}/{integration}/test", headers=headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/credentials"

    async def test_a_working_http_connection(
        self, client: httpx.AsyncClient, make_user: UserFactory, fake_n8n: FakeN8n
    ) -> None:
        headers = await make_user("developer")
        body = {
            "type": "http",
            "name": "target",
            "config": {"base_url": fake_n8n.target + "/users/x1"},
        }
        integration = await self.create(client, headers, body)
        response = await client.post(f"{BASE}/{integration}/test", headers=headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == 200
