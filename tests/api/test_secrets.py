"""Secrets: the API, encryption at rest, and values that never leave the activity."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from core.encryption import Encryptor
from db.models import Secret
from tests.conftest import SECRET_KEY, UserFactory
from tests.security.leaks import kept_records
from tests.support.target_server import TargetServer, running_target_server
from tests.workflows.conftest import Runner


@pytest.fixture(scope="module")
def target() -> Iterator[TargetServer]:
    with running_target_server() as server:
        yield server


def unique(prefix: str = "token") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


class TestSecretsApi:
    async def test_a_developer_creates_a_secret_whose_value_is_never_returned(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        name, value = unique(), f"value-{uuid.uuid4().hex}"
        created = await client.post(
            "/api/v1/secrets", json={"name": name, "value": value}, headers=developer
        )
        assert created.status_code == 201, created.text
        assert created.json()["name"] == name and "value" not in created.json()
        listed = await client.get("/api/v1/secrets", headers=developer)
        assert listed.status_code == 200
        assert name in [s["name"] for s in listed.json()["data"]]
        assert value not in listed.text and value not in created.text
        assert set(listed.json()["data"][0]) == {
            "name",
            "owner_id",
            "shared",
            "created_at",
            "updated_at",
        }

    async def test_values_are_encrypted_at_rest_with_the_key_from_the_secret_key(
        self, client: httpx.AsyncClient, app: FastAPI, admin_headers: dict[str, str]
    ) -> None:
        name, value = unique(), f"value-{uuid.uuid4().hex}"
        await client.post(
            "/api/v1/secrets", json={"name": name, "value": value}, headers=admin_headers
        )
        async with app.state.ctx.sessions() as session:
            stored = await session.scalar(select(Secret).where(Secret.name == name))
        assert stored is not None and value not in stored.value_encrypted
        assert Encryptor(SECRET_KEY).decrypt(stored.value_encrypted) == value

    async def test_a_taken_name_is_a_409_and_put_replaces_the_value(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        developer = await make_user("developer")
        name = unique()
        body = {"name": name, "value": "one"}
        assert (
            await client.post("/api/v1/secrets", json=body, headers=developer)
        ).status_code == 201
        again = await client.post("/api/v1/secrets", json=body, headers=developer)
        assert again.status_code == 409
        replaced = await client.put(
            f"/api/v1/secrets/{name}", json={"value": "two"}, headers=developer
        )
        assert replaced.status_code == 200 and "two" not in replaced.text

    @pytest.mark.parametrize(
        ("body", "pointer"),
        [
            ({"name": "9lives", "value": "x"}, "/name"),
            ({"name": "has-dash", "value": "x"}, "/name"),
            ({"name": "ok", "value": ""}, "/value"),
            ({"name": "ok", "value": "x", "owner": "me"}, "/owner"),
            ({"value": "x"}, "/name"),
        ],
    )
    async def test_bad_input_is_a_422_with_a_pointer(
        self,
        client: httpx.AsyncClient,
        admin_headers: dict[str, str],
        body: dict[str, Any],
        pointer: str,
    ) -> None:
        response = await client.post("/api/v1/secrets", json=body, headers=admin_headers)
        assert response.status_code == 422
        assert [e["pointer"] for e in response.json()["errors"]] == [pointer]

    async def test_only_the_creator_or_an_admin_deletes_and_users_may_not_manage(
        self,
        client: httpx.AsyncClient,
        make_user: UserFactory,
        admin_headers: dict[str, str],
    ) -> None:
        owner, other, user = (
            await make_user("developer"),
            await make_user("developer"),
            await make_user("user"),
        )
        name = unique()
        await client.post("/api/v1/secrets", json={"name": name, "value": "v"}, headers=owner)
        assert (await client.delete(f"/api/v1/secrets/{name}", headers=other)).status_code == 403
        assert (await client.get("/api/v1/secrets", headers=user)).status_code == 403
        refused = await client.post(
            "/api/v1/secrets", json={"name": unique(), "value": "v"}, headers=user
        )
        assert refused.status_code == 403
        assert (await client.get("/api/v1/secrets")).status_code == 401
        assert (await client.delete(f"/api/v1/secrets/{name}", headers=owner)).status_code == 204
        assert (await client.delete(f"/api/v1/secrets/{name}", headers=owner)).status_code == 404
        mine = unique()
        await client.post("/api/v1/secrets", json={"name": mine, "value": "v"}, headers=owner)
        deleted = await client.delete(f"/api/v1/secrets/{mine}", headers=admin_headers)
        assert deleted.status_code == 204


class TestSecretsNeverLeak:
    async def test_a_secret_reaches_the_target_but_nowhere_that_data_is_kept(
        self,
        client: httpx.AsyncClient,
        app: FastAPI,
        make_user: UserFactory,
        target: TargetServer,
        temporal_env: WorkflowEnvironment,
    ) -> None:
        developer = await make_user("developer")
        name, value = unique(), f"S3cret{uuid.uuid4().hex}"
        await client.post("/api/v1/secrets", json={"name": name, "value": value}, headers=developer)
        ref = f"{{{{ secrets.{name} }}}}"
        definition = {
            "steps": [
                {
                    "id": "echo",
                    "type": "http",
                    "with": {
                        "method": "POST",
                        "url": target.url("/echo"),
                        "headers": {"X-Token": ref},
                        "query": {"q": ref},
                        "json": {"token": ref, "note": f"Bearer {ref}"},
                        "auth": {"type": "basic", "username": "me", "password": ref},
                    },
                },
                {"id": "path", "type": "http", "with": {"url": target.url(f"/flaky/{ref}?fail=0")}},
                {
                    "id": "broken",
                    "type": "http",
                    "on_error": "continue",
                    "with": {"url": target.url(f"/flaky/{ref}-gone?fail=9")},
                    "retry": {"max_attempts": 2, "initial_interval": "100ms"},
                },
            ]
        }
        run = await Runner(client, developer).run(definition)
        execution_id = run["id"]

        steps = {s["id"]: s for s in run["steps"]}
        echoed = steps["echo"]["output"]["body"]
        assert echoed["headers"]["x-token"] == "***"
        assert echoed["query"] == {"q": "***"}
        assert json.loads(echoed["body"]) == {"token": "***", "note": "Bearer ***"}
        assert echoed["headers"]["authorization"] == "Basic ***"
        assert target.calls[value] == 1  # the target got the real value
        assert steps["broken"]["status"] == "failed" and "***" in steps["broken"]["error"]

        kept = await kept_records(client, app, temporal_env.client, developer, execution_id)
        assert "step.retrying" in kept["events"]
        for where, text in kept.items():
            assert value not in text, f"the secret's value is in the {where}"

    async def test_an_unknown_secret_fails_the_step_without_retrying(
        self, client: httpx.AsyncClient, make_user: UserFactory, target: TargetServer
    ) -> None:
        developer = await make_user("developer")
        definition = {
            "steps": [
                {
                    "id": "call",
                    "type": "http",
                    "with": {"url": target.url("/echo"), "headers": {"X": "{{ secrets.nope_x }}"}},
                    "retry": {"max_attempts": 3, "initial_interval": "100ms"},
                }
            ]
        }
        run = await Runner(client, developer).run(definition)
        step = run["steps"][0]
        assert run["status"] == "failed"
        assert step["attempts"] == 1 and "no secret named 'nope_x'" in step["error"]
