"""HTTP connections: base URL + auth applied to an ``http`` step request, OAuth2 caching."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.connections import (
    ConnectionConfig,
    ConnectionRefused,
    ConnectionUnavailable,
    DbConnectionResolver,
    TokenCache,
    apply_connection,
)
from tests.conftest import UserFactory
from tests.integrations.fake_n8n import FakeN8n


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


def request(**fields: Any) -> dict[str, Any]:
    return {
        "method": "GET",
        "connection": "api",
        "path": "/repos/a/b",
        "headers": {},
        "query": {},
        **fields,
    }


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestStaticSchemes:
    async def test_the_path_joins_the_base_url(self) -> None:
        connection = ConnectionConfig(base_url="https://api.example.com/v3/")
        applied = await apply_connection(request(), connection)
        assert applied["url"] == "https://api.example.com/v3/repos/a/b"
        assert "connection" not in applied and "path" not in applied

    async def test_bearer(self) -> None:
        connection = ConnectionConfig(base_url="https://x.test", auth_type="bearer", token="t0k")
        applied = await apply_connection(request(), connection)
        assert applied["headers"]["Authorization"] == "Bearer t0k"

    async def test_basic_goes_to_the_http_steps_auth(self) -> None:
        connection = ConnectionConfig(
            base_url="https://x.test", auth_type="basic", username="u", password="p"
        )
        applied = await apply_connection(request(), connection)
        assert applied["auth"] == {"type": "basic", "username": "u", "password": "p"}

    @pytest.mark.parametrize(("where", "key"), [("header", "headers"), ("query", "query")])
    async def test_api_key_in_a_header_or_the_query(self, where: str, key: str) -> None:
        connection = ConnectionConfig(
            base_url="https://x.test",
            auth_type="api_key",
            api_key="k1",
            api_key_in=where,
            api_key_name="key",
        )
        applied = await apply_connection(request(), connection)
        assert applied[key]["key"] == "k1"

    async def test_connection_headers_yield_to_the_steps_own(self) -> None:
        connection = ConnectionConfig(
            base_url="https://x.test", headers={"Accept": "a", "X-T": "c"}
        )
        applied = await apply_connection(request(headers={"Accept": "b"}), connection)
        assert applied["headers"] == {"Accept": "b", "X-T": "c"}

    @pytest.mark.parametrize("path", ["https://evil.test/x", "//evil.test/x", "\\\\evil"])
    async def test_a_path_cannot_leave_the_base_url(self, path: str) -> None:
        with pytest.raises(ConnectionRefused, match="relative"):
            await apply_connection(request(path=path), ConnectionConfig(base_url="https://x.test"))

    async def test_auth_given_twice_is_refused(self) -> None:
        connection = ConnectionConfig(base_url="https://x.test", auth_type="bearer", token="t")
        with pytest.raises(ConnectionRefused, match="auth"):
            await apply_connection(request(auth={"type": "bearer", "token": "x"}), connection)

    async def test_missing_credentials_are_named_not_shown(self) -> None:
        connection = ConnectionConfig(base_url="https://x.test", auth_type="bearer")
        with pytest.raises(ConnectionRefused, match="no token"):
            await apply_connection(request(), connection)

    def test_the_repr_hides_credentials(self) -> None:
        connection = ConnectionConfig(base_url="https://x.test", auth_type="bearer", token="SECRET")
        assert "SECRET" not in repr(connection)

    def test_built_from_a_stored_integration(self) -> None:
        connection = ConnectionConfig.from_stored(
            {
                "base_url": "https://x.test/",
                "auth": {"type": "api_key", "api_key_in": "query", "api_key_name": "k"},
            },
            {"api_key": "v"},
            name="x",
        )
        assert (connection.base_url, connection.api_key_in, connection.api_key) == (
            "https://x.test",
            "query",
            "v",
        )


class TestOAuth2ClientCredentials:
    def connection(self, n8n: FakeN8n, secret: str = "s3cret") -> ConnectionConfig:
        return ConnectionConfig(
            base_url=n8n.target + "/echo",
            auth_type="oauth2_client_credentials",
            token_url=n8n.target + "/oauth/token",
            client_id="client-1",
            client_secret=secret,
            scope="read",
        )

    async def test_a_token_is_fetched_once_and_reused(
        self, fake_n8n: FakeN8n, http: httpx.AsyncClient
    ) -> None:
        tokens, connection = TokenCache(), self.connection(fake_n8n)
        first = await apply_connection(request(), connection, http=http, tokens=tokens)
        second = await apply_connection(request(), connection, http=http, tokens=tokens)
        assert (
            first["headers"]["Authorization"]
            == second["headers"]["Authorization"]
            == "Bearer token-1"
        )
        assert tokens.fetches == 1
        echoed = await http.get(first["url"], headers=first["headers"])
        assert echoed.json()["headers"]["authorization"] == "Bearer token-1"

    async def test_a_token_near_expiry_is_renewed(
        self, fake_n8n: FakeN8n, http: httpx.AsyncClient
    ) -> None:
        fake_n8n.token_lifetime = 60
        clock = Clock()
        tokens, connection = TokenCache(clock=clock), self.connection(fake_n8n)
        await apply_connection(request(), connection, http=http, tokens=tokens)
        clock.now += 25  # 35 s left: still good
        assert (await apply_connection(request(), connection, http=http, tokens=tokens))["headers"][
            "Authorization"
        ] == "Bearer token-1"
        clock.now += 10  # 25 s left: inside the refresh margin
        renewed = await apply_connection(request(), connection, http=http, tokens=tokens)
        assert renewed["headers"]["Authorization"] == "Bearer token-2"

    async def test_invalidate_forces_a_new_token(
        self, fake_n8n: FakeN8n, http: httpx.AsyncClient
    ) -> None:
        tokens, connection = TokenCache(), self.connection(fake_n8n)
        await apply_connection(request(), connection, http=http, tokens=tokens)
        tokens.invalidate(connection)
        again = await apply_connection(request(), connection, http=http, tokens=tokens)
        assert again["headers"]["Authorization"] == "Bearer token-2"

    async def test_concurrent_requests_share_one_fetch(
        self, fake_n8n: FakeN8n, http: httpx.AsyncClient
    ) -> None:
        tokens, connection = TokenCache(), self.connection(fake_n8n)
        await asyncio.gather(
            *(apply_connection(request(), connection, http=http, tokens=tokens) for _ in range(5))
        )
        assert tokens.fetches == 1

    async def test_a_refused_client_is_a_refusal(
        self, fake_n8n: FakeN8n, http: httpx.AsyncClient
    ) -> None:
        with pytest.raises(ConnectionRefused, match="refused the client \\(401\\)") as caught:
            await apply_connection(
                request(), self.connection(fake_n8n, "wrong"), http=http, tokens=TokenCache()
            )
        assert "wrong" not in str(caught.value)

    async def test_an_unreachable_token_endpoint_is_retryable(
        self, http: httpx.AsyncClient, unused_port: int
    ) -> None:
        connection = ConnectionConfig(
            base_url="https://x.test",
            auth_type="oauth2_client_credentials",
            token_url=f"http://127.0.0.1:{unused_port}/token",
            client_id="c",
            client_secret="s",
        )
        with pytest.raises(ConnectionUnavailable):
            await apply_connection(request(), connection, http=http, tokens=TokenCache())


class TestStoredConnections:
    async def test_a_step_resolves_its_owners_connection_by_name(
        self, client: httpx.AsyncClient, make_user: UserFactory, app: FastAPI
    ) -> None:
        headers = await make_user("developer")
        body = {
            "type": "http",
            "name": "github",
            "config": {"base_url": "https://api.github.com", "auth": {"type": "bearer"}},
            "credentials": {"token": "ghp_x"},
        }
        assert (
            await client.post("/api/v1/integrations", json=body, headers=headers)
        ).status_code == 201
        workflow = await client.post(
            "/api/v1/workflows",
            json={"name": "w", "definition": {"steps": [{"id": "a", "type": "transform"}]}},
            headers=headers,
        )
        resolver = DbConnectionResolver(app.state.ctx.sessions, app.state.ctx.encryptor)
        connection = await resolver.resolve(workflow.json()["id"], "github")
        applied = await apply_connection(request(path="/user"), connection)
        assert applied["url"] == "https://api.github.com/user"
        assert applied["headers"]["Authorization"] == "Bearer ghp_x"
        with pytest.raises(ConnectionRefused, match="no http connection named 'gitlab'"):
            await resolver.resolve(workflow.json()["id"], "gitlab")
