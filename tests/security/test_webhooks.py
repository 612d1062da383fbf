"""Webhook security (issue 13): explicit authentication, bounded bodies parsed off the event
loop, and HMAC timestamps that bound a signature in time and let it be used once, across
every API replica.

Each test was run against the unfixed code first and failed there (noted in its docstring).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.services import webhook_intake
from api.services.webhook_auth import headrace_signature
from core.settings import Settings
from tests.conftest import UserFactory

ECHO = {
    "steps": [{"id": "echo", "type": "transform", "with": {"seen": "{{ input.body }}"}}],
    "output": "{{ steps.echo.output.seen }}",
}
BODY = b'{"order": 42}'


class Developer:
    def __init__(self, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.client = client
        self.headers = headers

    async def workflow(self, **fields: Any) -> str:
        body = {"name": f"sec-{uuid.uuid4().hex[:8]}", "definition": ECHO, **fields}
        response = await self.client.post("/api/v1/workflows", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def webhook(self, **fields: Any) -> dict[str, Any]:
        body = {"workflow_id": await self.workflow(), **fields}
        response = await self.client.post("/api/v1/webhooks", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        return dict(response.json())

    async def runs(self, workflow_id: str) -> int:
        response = await self.client.get(
            "/api/v1/executions", params={"workflow_id": workflow_id}, headers=self.headers
        )
        return int(response.json()["count"])


@pytest.fixture
async def dev(client: httpx.AsyncClient, make_user: UserFactory) -> Developer:
    return Developer(client, await make_user("developer"))


@asynccontextmanager
async def replica(settings: Settings, env: WorkflowEnvironment) -> AsyncIterator[httpx.AsyncClient]:
    """Another API process on the same database (no Redis: nothing shared in memory)."""
    app: FastAPI = create_app(settings, temporal_client=env.client)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://replica") as client:
            yield client


def signed(secret: str, timestamp: int, body: bytes = BODY) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "X-Headrace-Timestamp": str(timestamp),
        "X-Headrace-Signature": headrace_signature(secret, body, timestamp),
    }


class TestAuthenticationIsChosen:
    """A webhook never gets `auth: none` by omission (failed first: both were 201)."""

    async def test_a_webhook_without_authentication_is_422_at_authentication(
        self, dev: Developer
    ) -> None:
        response = await dev.client.post(
            "/api/v1/webhooks", json={"workflow_id": await dev.workflow()}, headers=dev.headers
        )
        assert response.status_code == 422, response.text
        assert [e["pointer"] for e in response.json()["errors"]] == ["/authentication"]

    async def test_a_webhook_trigger_without_authentication_is_422(self, dev: Developer) -> None:
        body = {"name": "t", "definition": ECHO, "triggers": [{"type": "webhook"}]}
        response = await dev.client.post("/api/v1/workflows", json=body, headers=dev.headers)
        assert response.status_code == 422, response.text
        assert [e["pointer"] for e in response.json()["errors"]] == ["/triggers/0/authentication"]

    async def test_none_said_explicitly_is_allowed(self, dev: Developer) -> None:
        created = await dev.webhook(authentication={"type": "none"})
        assert created["authentication"]["type"] == "none"
        body = {
            "name": "t",
            "definition": ECHO,
            "triggers": [{"type": "webhook", "authentication": {"type": "none"}}],
        }
        response = await dev.client.post("/api/v1/workflows", json=body, headers=dev.headers)
        assert response.status_code == 201, response.text


class TestBodies:
    """Forms are bounded and parsed off the event loop (failed first: parsed on the loop
    thread, and 5 000 fields or a 2 MB field were accepted)."""

    async def test_the_body_is_parsed_off_the_event_loop_thread(
        self, dev: Developer, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        threads: list[threading.Thread] = []
        parse = webhook_intake.parse_body

        def recording(*args: Any, **kwargs: Any) -> Any:
            threads.append(threading.current_thread())
            return parse(*args, **kwargs)

        monkeypatch.setattr(webhook_intake, "parse_body", recording)
        created = await dev.webhook(authentication={"type": "none"})
        response = await dev.client.post(
            f"/hooks/{created['url_path']}", data={f"f{i}": "x" * 100 for i in range(200)}
        )
        assert response.status_code == 202, response.text
        assert threads and threading.main_thread() not in threads

    async def test_too_many_form_fields_is_422_and_starts_nothing(self, dev: Developer) -> None:
        created = await dev.webhook(authentication={"type": "none"})
        url = f"/hooks/{created['url_path']}"
        urlencoded = await dev.client.post(url, data={f"f{i}": "1" for i in range(5000)})
        multipart = await dev.client.post(
            url, data={f"f{i}": "1" for i in range(5000)}, files={"upload": ("a.txt", b"a")}
        )
        for response in (urlencoded, multipart):
            assert response.status_code == 422, response.text
            assert response.json()["errors"][0]["pointer"] == "/body"
        assert await dev.runs(created["workflow_id"]) == 0

    async def test_an_oversized_field_or_too_many_files_is_422(self, dev: Developer) -> None:
        created = await dev.webhook(authentication={"type": "none"})
        url = f"/hooks/{created['url_path']}"
        big_field = await dev.client.post(
            url, data={"big": "x" * (2 * 1024 * 1024)}, files={"f": ("a.txt", b"a")}
        )
        many_files = await dev.client.post(
            url, files=[("f", (f"{i}.txt", b"a")) for i in range(50)]
        )
        for response in (big_field, many_files):
            assert response.status_code == 422, response.text
            assert response.json()["errors"][0]["pointer"] == "/body"
        assert await dev.runs(created["workflow_id"]) == 0


class TestSignedTimestamps:
    """``X-Headrace-Timestamp`` bounds a signature in time; a signed call is accepted once."""

    async def test_a_timestamp_outside_the_tolerance_is_401_either_way(
        self, dev: Developer
    ) -> None:
        """(Passed on the unfixed code: kept as the specification.)"""
        created = await dev.webhook(authentication={"type": "hmac"})
        url, secret = f"/hooks/{created['url_path']}", created["secret"]
        now = int(time.time())
        old = await dev.client.post(url, content=BODY, headers=signed(secret, now - 301))
        ahead = await dev.client.post(url, content=BODY, headers=signed(secret, now + 301))
        unsigned_stamp = await dev.client.post(
            url,
            content=BODY,
            headers={
                **signed(secret, now),
                "X-Headrace-Signature": headrace_signature(secret, BODY),
            },
        )
        assert [r.status_code for r in (old, ahead, unsigned_stamp)] == [401, 401, 401]
        assert await dev.runs(created["workflow_id"]) == 0

    async def test_the_default_tolerance_is_a_setting(
        self, dev: Developer, settings: Settings, temporal_env: WorkflowEnvironment
    ) -> None:
        """HEADRACE_WEBHOOK_TIMESTAMP_TOLERANCE (failed first: a 120 s old stamp passed)."""
        created = await dev.webhook(authentication={"type": "hmac"})
        url, secret = f"/hooks/{created['url_path']}", created["secret"]
        strict = settings.model_copy(update={"webhook_timestamp_tolerance": 60})
        async with replica(strict, temporal_env) as other:
            stale = await other.post(
                url, content=BODY, headers=signed(secret, int(time.time()) - 120)
            )
        assert stale.status_code == 401, stale.text
        fresh = await dev.client.post(
            url, content=BODY, headers=signed(secret, int(time.time()) - 120)
        )
        assert fresh.status_code == 202, fresh.text

    async def test_a_signed_call_is_accepted_once_across_replicas(
        self, dev: Developer, settings: Settings, temporal_env: WorkflowEnvironment
    ) -> None:
        """Seen signatures live in the database (failed first: the second replica, with its
        own in-process memory, started a second run)."""
        created = await dev.webhook(authentication={"type": "hmac"})
        url, secret = f"/hooks/{created['url_path']}", created["secret"]
        call = signed(secret, int(time.time()))
        first = await dev.client.post(url, content=BODY, headers=call)
        async with replica(settings, temporal_env) as other:
            replayed = await other.post(url, content=BODY, headers=call)
        again_here = await dev.client.post(url, content=BODY, headers=call)
        assert first.status_code == 202, first.text
        assert (replayed.status_code, again_here.status_code) == (401, 401), replayed.text
        assert "already used" in replayed.json()["detail"]
        assert await dev.runs(created["workflow_id"]) == 1
