"""The API-wide rate limit: per API key, per user, per address; shared by replicas on Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from tests.conftest import PASSWORD
from tests.services import redis_or_skip

LIMIT = 5


def small(settings: Settings, **more: object) -> Settings:
    return settings.model_copy(
        update={"api_rate_limit": f"{LIMIT}/minute", "api_anonymous_rate_limit": "3/minute"} | more
    )


@pytest.fixture
async def limited_app(
    settings: Settings, temporal_env: WorkflowEnvironment
) -> AsyncIterator[FastAPI]:
    app = create_app(small(settings), temporal_client=temporal_env.client)
    async with app.router.lifespan_context(app):
        yield app


def client_of(app: FastAPI, address: str = "198.51.100.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


async def new_user(client: httpx.AsyncClient) -> dict[str, str]:
    """A developer created by the admin; its bearer headers (logins are not counted)."""
    admin = await client.post(
        "/api/v1/auth/token", data={"username": "admin@example.com", "password": PASSWORD}
    )
    email = f"rl-{uuid.uuid4().hex[:10]}@example.com"
    created = await client.post(
        "/api/v1/users",
        json={"email": email, "password": PASSWORD, "role": "developer"},
        headers={"Authorization": f"Bearer {admin.json()['access_token']}"},
    )
    assert created.status_code == 201, created.text
    token = await client.post("/api/v1/auth/token", data={"username": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


class TestApiRateLimit:
    async def test_a_burst_gets_429_with_retry_after_and_ratelimit_headers(
        self, limited_app: FastAPI
    ) -> None:
        async with client_of(limited_app) as client:
            user = await new_user(client)
            answers = [
                await client.get("/api/v1/workflows", headers=user) for _ in range(LIMIT + 1)
            ]
        assert [a.status_code for a in answers] == [200] * LIMIT + [429]
        assert [a.headers["ratelimit-remaining"] for a in answers[:LIMIT]] == [
            str(LIMIT - n) for n in range(1, LIMIT + 1)
        ]
        refused = answers[-1]
        assert refused.headers["content-type"] == "application/problem+json"
        assert int(refused.headers["retry-after"]) >= 1
        assert refused.headers["ratelimit-limit"] == str(LIMIT)
        assert refused.headers["ratelimit-remaining"] == "0"

    async def test_each_user_has_a_budget_of_its_own_and_health_is_not_counted(
        self, limited_app: FastAPI
    ) -> None:
        async with client_of(limited_app) as client:
            first, second = await new_user(client), await new_user(client)
            for _ in range(LIMIT):
                await client.get("/api/v1/workflows", headers=first)
            assert (await client.get("/api/v1/workflows", headers=first)).status_code == 429
            assert (await client.get("/api/v1/workflows", headers=second)).status_code == 200
            for _ in range(LIMIT * 3):
                assert (await client.get("/healthz")).status_code == 200

    async def test_anonymous_callers_are_counted_by_address(self, limited_app: FastAPI) -> None:
        """Credentials that do not verify count against the address, not a user."""
        forged = {"Authorization": "Bearer not-a-token"}
        async with client_of(limited_app, "203.0.113.9") as client:
            answers = [await client.get("/api/v1/workflows", headers=forged) for _ in range(4)]
        assert [a.status_code for a in answers] == [401, 401, 401, 429]
        async with client_of(limited_app, "203.0.113.10") as elsewhere:
            assert (await elsewhere.get("/api/v1/workflows", headers=forged)).status_code == 401

    async def test_two_replicas_on_redis_share_one_budget(
        self, settings: Settings, temporal_env: WorkflowEnvironment
    ) -> None:
        replica = small(settings, redis_url=redis_or_skip())
        one = create_app(replica, temporal_client=temporal_env.client)
        two = create_app(replica, temporal_client=temporal_env.client)
        async with (
            one.router.lifespan_context(one),
            two.router.lifespan_context(two),
            client_of(one) as first,
            client_of(two) as second,
        ):
            user = await new_user(first)
            for _ in range(LIMIT):
                assert (await first.get("/api/v1/workflows", headers=user)).status_code == 200
            assert (await second.get("/api/v1/workflows", headers=user)).status_code == 429

    async def test_an_unreachable_redis_falls_back_to_counting_in_process(
        self, settings: Settings, temporal_env: WorkflowEnvironment
    ) -> None:
        from tests.support.ports import free_port

        gone = small(settings, redis_url=f"redis://127.0.0.1:{free_port()}/0", redis_timeout=0.2)
        app = create_app(gone, temporal_client=temporal_env.client)
        async with app.router.lifespan_context(app), client_of(app) as client:
            user = await new_user(client)
            answers = [
                await client.get("/api/v1/workflows", headers=user) for _ in range(LIMIT + 1)
            ]
        assert [a.status_code for a in answers] == [200] * LIMIT + [429]

    def test_a_limit_that_does_not_parse_is_refused_at_start(self, settings: Settings) -> None:
        with pytest.raises(ValueError, match="not a rate limit"):
            Settings.model_validate({**settings.model_dump(), "api_rate_limit": "lots"})
