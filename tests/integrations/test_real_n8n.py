"""Opt-in: the sync and both run modes against a real n8n.

Runs only when ``HEADRACE_N8N_URL`` and ``HEADRACE_N8N_API_KEY`` are set (an n8n 1.x with the
public API enabled, on this machine so that its HTTP Request nodes can reach the local test
server). It creates the fixture workflows in n8n, activates them, asks n8n for its result
through the production webhook, syncs, and checks that Headrace gives the same result.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from activities.n8n import DbIntegrationResolver, N8nActivities, N8nStepInput
from tests.integrations.fake_n8n import TARGET_PLACEHOLDER, FakeN8n, load_fixture
from tests.workflows.conftest import Runner

N8N_URL = os.environ.get("HEADRACE_N8N_URL", "").rstrip("/")
N8N_KEY = os.environ.get("HEADRACE_N8N_API_KEY", "")

pytestmark = pytest.mark.skipif(
    not (N8N_URL and N8N_KEY), reason="set HEADRACE_N8N_URL and HEADRACE_N8N_API_KEY to run"
)


@pytest.fixture
async def n8n() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=N8N_URL, headers={"X-N8N-API-KEY": N8N_KEY}, timeout=30
    ) as client:
        yield client


@pytest.fixture
async def created(n8n: httpx.AsyncClient, fake_n8n: FakeN8n) -> AsyncIterator[dict[str, str]]:
    """order_intake and score_code created and activated in n8n (unique webhook paths)."""
    ids: dict[str, str] = {}
    suffix = uuid.uuid4().hex[:8]
    for name in ("order_intake", "score_code"):
        raw = load_fixture(name)
        nodes = [
            {**node, "parameters": _retarget(node["parameters"], fake_n8n.target, suffix)}
            for node in raw["nodes"]
        ]
        body = {
            "name": f"{raw['name']} {suffix}",
            "nodes": nodes,
            "connections": raw["connections"],
            "settings": raw["settings"],
        }
        response = await n8n.post("/api/v1/workflows", json=body)
        assert response.status_code == 200, response.text
        ids[name] = response.json()["id"]
        activated = await n8n.post(f"/api/v1/workflows/{ids[name]}/activate")
        assert activated.status_code == 200, activated.text
    yield ids | {"suffix": suffix}
    for workflow_id in ids.values():
        await n8n.delete(f"/api/v1/workflows/{workflow_id}")


def _retarget(parameters: dict[str, Any], target: str, suffix: str) -> dict[str, Any]:
    result = dict(parameters)
    if isinstance(result.get("url"), str):
        result["url"] = result["url"].replace(TARGET_PLACEHOLDER, target)
    if isinstance(result.get("path"), str):
        result["path"] = f"{result['path']}-{suffix}"
    return result


async def test_same_results_as_n8n(
    n8n: httpx.AsyncClient,
    created: dict[str, str],
    client: httpx.AsyncClient,
    make_user: Any,
    app: FastAPI,
) -> None:
    suffix = created["suffix"]
    expected = (await n8n.post(f"/webhook/orders-{suffix}", json={"user_id": "v42"})).json()
    runner = Runner(client, await make_user("developer"))
    sync = await runner.post(
        "/api/v1/integrations/n8n/sync",
        {
            "n8n_url": N8N_URL,
            "api_key": N8N_KEY,
            "workflow_ids": [created["order_intake"], created["score_code"]],
        },
    )
    assert sync.status_code == 200, sync.text
    workflows = {w["n8n_id"]: w for w in sync.json()["workflows"]}
    translated = workflows[created["order_intake"]]
    assert translated["mode"] == "translated"
    response = await runner.execute(translated["workflow_id"], {"body": {"user_id": "v42"}})
    assert response.json()["result"] == expected

    delegated = workflows[created["score_code"]]
    assert delegated["mode"] == "delegate"
    n8n_answer = (await n8n.post(f"/webhook/score-{suffix}", json={"points": 21})).json()
    detail = await client.get(
        f"/api/v1/workflows/{delegated['workflow_id']}", headers=runner.headers
    )
    async with httpx.AsyncClient(timeout=30) as http:
        ctx = app.state.ctx
        activities = N8nActivities(http, DbIntegrationResolver(ctx.sessions, ctx.encryptor))
        output = await activities.run(
            N8nStepInput(
                step_id="run_in_n8n",
                execution_id="real",
                workflow_id=str(delegated["workflow_id"]),
                n8n_workflow_id=created["score_code"],
                integration=detail.json()["source"]["integration"],
                payload={"points": 21},
            )
        )
    assert output == n8n_answer == {"score": 42}
