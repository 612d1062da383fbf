"""Caps and quotas: a definition or a caller cannot make the server do unbounded work.

Each limit is a setting (core/settings.py); going over it is a 4xx with a pointer when the
workflow is saved or a run started, or a step that fails with a named error when it runs.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from core.settings import Settings
from tests.conftest import PASSWORD, login
from tests.support.runner import Runner, steps_by_id

WAITING = {"steps": [{"id": "wait", "type": "wait_for_event", "with": {"event": "go"}}]}


def pointers(response: httpx.Response) -> list[str]:
    assert response.status_code == 422, response.text
    return [e["pointer"] for e in response.json()["errors"]]


class TestForeachAndConcurrency:
    async def test_a_foreach_longer_than_the_cap_fails_its_step_before_any_item_runs(
        self, runner: Runner, settings: Settings
    ) -> None:
        items = settings.max_foreach_items + 1
        definition = {
            "steps": [
                {
                    "id": "each",
                    "type": "transform",
                    "foreach": f"{{{{ ('x' * {items}) | list }}}}",
                    "with": {"v": "{{ item }}"},
                }
            ]
        }
        execution = await runner.run(definition)
        assert execution["status"] == "failed"
        logs = await runner.client.get(
            f"/api/v1/executions/{execution['id']}/logs?limit=50", headers=runner.headers
        )
        [failed] = [e for e in logs.json()["data"] if e["type"] == "step.failed"]
        assert failed["data"]["error_type"] == "ForeachTooManyItems"
        assert f"{items} items" in steps_by_id(execution)["each"]["error"]

    async def test_a_literal_foreach_list_over_the_cap_is_refused_at_save(
        self, runner: Runner, settings: Settings
    ) -> None:
        definition = {
            "steps": [
                {
                    "id": "each",
                    "type": "transform",
                    "foreach": list(range(settings.max_foreach_items + 1)),
                    "with": {"v": "{{ item }}"},
                }
            ]
        }
        response = await runner.post("/api/v1/workflows", {"name": "f", "definition": definition})
        assert pointers(response) == ["/definition/steps/0/foreach"]

    async def test_concurrency_over_the_cap_is_refused_at_save(
        self, runner: Runner, settings: Settings
    ) -> None:
        definition = {
            "steps": [
                {
                    "id": "each",
                    "type": "transform",
                    "foreach": [1, 2],
                    "concurrency": settings.max_foreach_concurrency + 1,
                    "with": {"v": "{{ item }}"},
                }
            ]
        }
        response = await runner.post("/api/v1/workflows", {"name": "c", "definition": definition})
        assert pointers(response) == ["/definition/steps/0/concurrency"]


class TestBackfill:
    async def test_a_backfill_wider_than_the_cap_is_a_422_and_starts_nothing(
        self, runner: Runner, settings: Settings
    ) -> None:
        trigger = {"type": "schedule", "interval": "1m", "paused": True}
        workflow_id = await runner.create(
            {"steps": [{"id": "a", "type": "transform", "with": {"v": 1}}]}, triggers=[trigger]
        )
        [listed] = (
            await runner.client.get(
                f"/api/v1/workflows/{workflow_id}/triggers", headers=runner.headers
            )
        ).json()
        end = datetime(2024, 1, 1, tzinfo=UTC)
        start = end - timedelta(minutes=settings.max_backfill_runs + 10)
        response = await runner.post(
            f"/api/v1/triggers/{listed['id']}/backfill",
            {"start": start.isoformat(), "end": end.isoformat()},
        )
        assert pointers(response) == ["/end"]
        assert "backfill it in parts" in response.json()["errors"][0]["detail"]
        runs = await runner.client.get(
            f"/api/v1/executions?workflow_id={workflow_id}", headers=runner.headers
        )
        assert runs.json()["count"] == 0


@pytest.fixture
async def small_quota_app(
    settings: Settings, temporal_env: WorkflowEnvironment
) -> AsyncIterator[FastAPI]:
    """A second API process on the same database and worker, allowing 2 unfinished runs."""
    quota = settings.model_copy(update={"max_unfinished_runs_per_user": 2})
    application = create_app(quota, temporal_client=temporal_env.client)
    async with application.router.lifespan_context(application):
        yield application


class TestUnfinishedRunsPerUser:
    async def test_a_start_beyond_the_quota_is_a_429_and_a_finished_run_frees_a_place(
        self, small_quota_app: FastAPI, admin_headers: dict[str, str], client: httpx.AsyncClient
    ) -> None:
        transport = httpx.ASGITransport(app=small_quota_app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as api:
            email = f"quota-{uuid.uuid4().hex[:10]}@example.com"
            created = await client.post(
                "/api/v1/users",
                json={"email": email, "password": PASSWORD, "role": "developer", "name": "q"},
                headers=admin_headers,
            )
            assert created.status_code == 201, created.text
            runner = Runner(api, await login(api, email))
            workflow_id = await runner.create(WAITING)
            started = [await _start(runner, workflow_id) for _ in range(2)]

            refused = await runner.execute(workflow_id, async_mode=True)
            assert refused.status_code == 429, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert "Retry-After" in refused.headers

            # Another user is not held back by this one's runs.
            other = Runner(api, await _developer(api, client, admin_headers))
            assert (await _start(other, await other.create(WAITING))) is not None

            await runner.post(f"/api/v1/executions/{started[0]}/cancel")
            await runner.wait_until(started[0], lambda e: e["status"] == "cancelled")
            assert await _start(runner, workflow_id) is not None


async def _start(runner: Runner, workflow_id: str) -> Any:
    response = await runner.execute(workflow_id, async_mode=True)
    assert response.status_code == 202, response.text
    return response.json()["execution_id"]


async def _developer(
    api: httpx.AsyncClient, client: httpx.AsyncClient, admin_headers: dict[str, str]
) -> dict[str, str]:
    email = f"quota-other-{uuid.uuid4().hex[:10]}@example.com"
    created = await client.post(
        "/api/v1/users",
        json={"email": email, "password": PASSWORD, "role": "developer", "name": "o"},
        headers=admin_headers,
    )
    assert created.status_code == 201, created.text
    return await login(api, email)
