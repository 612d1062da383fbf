"""The codec server for the Temporal Web UI: ``POST /api/v1/temporal-codec/{decode,encode}``."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from google.protobuf.json_format import MessageToDict
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.storage.codec import CLAIM_CHECK_ENCODING
from tests.conftest import UserFactory, make_settings
from tests.support.runner import Runner

DECODE = "/api/v1/temporal-codec/decode"
ENCODE = "/api/v1/temporal-codec/encode"
BIG = "x" * 300_000  # over the default 256 KiB inline limit


def b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def json_payload(value: Any) -> dict[str, Any]:
    return {"metadata": {"encoding": b64(b"json/plain")}, "data": b64(json.dumps(value).encode())}


async def claim_checks_in_history(env: WorkflowEnvironment, execution_id: str) -> list[Any]:
    """The reference payloads of the run's history, as the Web UI receives them (proto JSON)."""
    history = await env.client.get_workflow_handle(execution_id).fetch_history()
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            encoding = node.get("metadata", {}).get("encoding")
            if encoding == b64(CLAIM_CHECK_ENCODING):
                found.append(node)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for event in history.events:
        walk(MessageToDict(event))
    return found


class TestDecode:
    async def test_references_in_a_runs_history_decode_to_the_real_payloads(
        self, runner: Runner, temporal_env: WorkflowEnvironment, admin_headers: dict[str, str]
    ) -> None:
        definition = {"steps": [{"id": "t", "type": "transform", "with": {"n": 1}}]}
        execution = await runner.run(definition, {"blob": BIG})
        references = await claim_checks_in_history(temporal_env, execution["id"])
        assert references, "the run's large input should be a reference in history"

        response = await runner.client.post(
            DECODE, json={"payloads": references[:1]}, headers=admin_headers
        )

        assert response.status_code == 200, response.text
        (decoded,) = response.json()["payloads"]
        assert base64.b64decode(decoded["metadata"]["encoding"]) == b"json/plain"
        run_input = json.loads(base64.b64decode(decoded["data"]))
        assert run_input["input"] == {"blob": BIG}

    async def test_ordinary_payloads_come_back_unchanged(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        payloads = [json_payload({"a": 1}), json_payload("text")]
        response = await client.post(DECODE, json={"payloads": payloads}, headers=admin_headers)
        assert response.json() == {"payloads": payloads}

    async def test_encode_then_decode_round_trips(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        original = json_payload({"blob": BIG})
        encoded = await client.post(ENCODE, json={"payloads": [original]}, headers=admin_headers)
        (reference,) = encoded.json()["payloads"]
        assert base64.b64decode(reference["metadata"]["encoding"]) == CLAIM_CHECK_ENCODING
        assert len(reference["data"]) < 1000
        decoded = await client.post(DECODE, json={"payloads": [reference]}, headers=admin_headers)
        assert decoded.json() == {"payloads": [original]}

    async def test_bad_base64_is_a_422_with_a_pointer(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        body = {"payloads": [json_payload(1), {"metadata": {}, "data": "%%%"}]}
        response = await client.post(DECODE, json=body, headers=admin_headers)
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/payloads/1/data"

    async def test_unknown_fields_are_refused(
        self, client: httpx.AsyncClient, admin_headers: dict[str, str]
    ) -> None:
        response = await client.post(DECODE, json={"payload": []}, headers=admin_headers)
        assert response.status_code == 422


class TestAuthorization:
    async def test_without_credentials_it_is_401(self, client: httpx.AsyncClient) -> None:
        response = await client.post(DECODE, json={"payloads": []})
        assert response.status_code == 401

    async def test_the_user_role_may_not_decode(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        response = await client.post(DECODE, json={"payloads": []}, headers=await make_user("user"))
        assert response.status_code == 403

    async def test_a_developer_may_with_a_token_or_an_api_key(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        response = await client.post(DECODE, json={"payloads": []}, headers=developer)
        assert response.status_code == 200
        key = await client.post("/api/v1/api-keys", json={"name": "ui"}, headers=developer)
        response = await client.post(
            DECODE, json={"payloads": []}, headers={"X-API-Key": key.json()["key"]}
        )
        assert response.status_code == 200


class TestCors:
    async def test_the_temporal_ui_origin_gets_a_preflight_answer(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        origin = ui_origin(app)
        response = await client.options(
            DECODE,
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization,content-type,x-namespace",
            },
        )
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == origin
        assert "X-Namespace" in response.headers["access-control-allow-headers"]
        assert response.headers["access-control-allow-credentials"] == "true"

    async def test_responses_to_the_ui_carry_cors_headers_even_errors(
        self, client: httpx.AsyncClient, app: FastAPI
    ) -> None:
        origin = ui_origin(app)
        response = await client.post(DECODE, json={"payloads": []}, headers={"Origin": origin})
        assert response.status_code == 401
        assert response.headers["access-control-allow-origin"] == origin

    async def test_other_origins_and_other_routes_get_none(
        self, client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
    ) -> None:
        evil = await client.options(
            DECODE,
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in evil.headers
        other = await client.get(
            "/api/v1/workflows", headers={**admin_headers, "Origin": ui_origin(app)}
        )
        assert "access-control-allow-origin" not in other.headers


def ui_origin(app: FastAPI) -> str:
    base: str = app.state.ctx.settings.temporal_ui_base
    return base


@pytest.fixture
async def dev_client(
    db_url: str, temporal_env: WorkflowEnvironment, data_dir: Path
) -> AsyncIterator[httpx.AsyncClient]:
    """An API in ``dev`` mode, as ``headrace dev`` runs it, reached from loopback."""
    settings = make_settings(db_url, data_dir, environment="dev")
    dev_app = create_app(settings, temporal_client=temporal_env.client)
    async with dev_app.router.lifespan_context(dev_app):
        transport = httpx.ASGITransport(app=dev_app, client=("127.0.0.1", 50000))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            yield c


class TestDevStack:
    async def test_headrace_dev_decodes_for_its_unauthenticated_web_ui(
        self, dev_client: httpx.AsyncClient
    ) -> None:
        encoded = await dev_client.post(ENCODE, json={"payloads": [json_payload(BIG)]})
        assert encoded.status_code == 200
        decoded = await dev_client.post(DECODE, json=encoded.json())
        assert decoded.json() == {"payloads": [json_payload(BIG)]}

    async def test_both_spellings_of_the_dev_ui_origin_are_allowed(
        self, dev_client: httpx.AsyncClient
    ) -> None:
        for origin in ("http://127.0.0.1:8233", "http://localhost:8233"):
            response = await dev_client.options(
                DECODE, headers={"Origin": origin, "Access-Control-Request-Method": "POST"}
            )
            assert response.headers.get("access-control-allow-origin") == origin
