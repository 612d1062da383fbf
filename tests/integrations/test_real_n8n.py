"""Opt-in: the sync and both run modes against a real n8n.

Runs only when ``HEADRACE_N8N_URL`` and ``HEADRACE_N8N_API_KEY`` are set (an n8n 1.x with the
public API enabled, on this machine so that its HTTP Request nodes can reach the local test
server; ``python -m tests.integrations.real_n8n start`` starts one). It creates fixture
workflows in n8n (webhook paths made unique), activates them, asks n8n for its answer
through the production webhook for each input, syncs them, runs the Headrace copies through
the API and the real worker, and checks that each run completes with n8n's answer.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core import integrations as n8n_client
from tests.integrations.fake_n8n import TARGET_PLACEHOLDER, FakeN8n, load_fixture
from tests.integrations.n8n_answers import CASES, KNOWN_ANSWERS
from tests.support.runner import Runner

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
    """The CASES fixtures created and activated in n8n: fixture name → n8n id."""
    ids: dict[str, str] = {}
    suffix = uuid.uuid4().hex[:8]
    try:
        for name in CASES:
            ids[name] = await _create(n8n, name, fake_n8n.target, suffix)
        yield ids | {"suffix": suffix}
    finally:
        for workflow_id in ids.values():
            await n8n.delete(f"/api/v1/workflows/{workflow_id}")


async def _create(n8n: httpx.AsyncClient, name: str, target: str, suffix: str) -> str:
    raw = load_fixture(name)
    nodes = [{**node, "parameters": _retarget(node, target, suffix)} for node in raw["nodes"]]
    body = {
        "name": f"{raw['name']} {suffix}",
        "nodes": nodes,
        "connections": raw["connections"],
        "settings": raw["settings"],
    }
    response = await n8n.post("/api/v1/workflows", json=body)
    assert response.status_code == 200, response.text
    workflow_id = str(response.json()["id"])
    activated = await n8n.post(f"/api/v1/workflows/{workflow_id}/activate")
    assert activated.status_code == 200, activated.text
    return workflow_id


def _retarget(node: dict[str, Any], target: str, suffix: str) -> dict[str, Any]:
    result = dict(node["parameters"])
    if isinstance(result.get("url"), str):
        result["url"] = result["url"].replace(TARGET_PLACEHOLDER, target)
    if node["type"] == "n8n-nodes-base.webhook":
        result["path"] = f"{result['path']}-{suffix}"
    return result


async def n8n_answer(n8n: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await n8n.post(f"/webhook/{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_synced_workflows_give_the_answers_n8n_gives(
    n8n: httpx.AsyncClient,
    created: dict[str, str],
    fake_n8n: FakeN8n,
    runner: Runner,
) -> None:
    suffix = created["suffix"]
    expected: dict[str, list[Any]] = {}
    for name, (_, path, inputs) in CASES.items():
        expected[name] = [await n8n_answer(n8n, f"{path}-{suffix}", i) for i in inputs]
    assert expected == KNOWN_ANSWERS
    fake_n8n.calls.clear()  # the flaky endpoint counts calls per key: start again for Headrace

    sync = await runner.post(
        "/api/v1/integrations/n8n/sync",
        {
            "n8n_url": N8N_URL,
            "api_key": N8N_KEY,
            "workflow_ids": [created[name] for name in CASES],
        },
    )
    assert sync.status_code == 200, sync.text
    assert sync.json()["errors"] == []
    synced = {w["n8n_id"]: w for w in sync.json()["workflows"]}

    for name, (mode, _, inputs) in CASES.items():
        workflow = synced[created[name]]
        assert workflow["mode"] == mode, (name, workflow["reasons"])
        for body, answer in zip(inputs, expected[name], strict=True):
            # One input contract: a webhook-triggered run's input is what n8n's Webhook node
            # gives, {body, …}, whether translated or delegated (docs/integrations.md).
            response = await runner.execute(workflow["workflow_id"], {"body": body})
            assert response.status_code == 200, response.text
            execution = await runner.execution(response.json()["execution_id"])
            assert execution["status"] == "completed", (name, execution)
            assert execution["output_data"] == answer, (name, body)
        if mode == "translated":  # the same request to the synced webhook trigger
            fake_n8n.calls.clear()
            hook = await _hook_path(runner, workflow["workflow_id"])
            answered = await runner.client.post(f"/hooks/{hook}?wait=true", json=inputs[0])
            assert answered.status_code == 200, answered.text
            assert answered.json()["result"] == expected[name][0], name


async def _hook_path(runner: Runner, workflow_id: str) -> str:
    response = await runner.client.get(
        f"/api/v1/workflows/{workflow_id}/triggers", headers=runner.headers
    )
    (webhook,) = [t for t in response.json() if t["type"] == "webhook"]
    return str(webhook["config"]["url_path"])


async def test_a_delegated_workflow_whose_webhook_answers_at_once_is_awaited(
    n8n: httpx.AsyncClient, fake_n8n: FakeN8n, runner: Runner
) -> None:
    """n8n answers "Workflow was started"; the n8n step finds the execution and waits."""
    raw = load_fixture("score_code")
    suffix = uuid.uuid4().hex[:8]
    for node in raw["nodes"]:
        if node["type"] == "n8n-nodes-base.webhook":
            node["parameters"] = {**node["parameters"], "responseMode": "onReceived"}
    body = {
        "name": f"Score at once {suffix}",
        "nodes": [{**n, "parameters": _retarget(n, fake_n8n.target, suffix)} for n in raw["nodes"]],
        "connections": raw["connections"],
        "settings": raw["settings"],
    }
    created = await n8n.post("/api/v1/workflows", json=body)
    assert created.status_code == 200, created.text
    n8n_id = str(created.json()["id"])
    try:
        assert (await n8n.post(f"/api/v1/workflows/{n8n_id}/activate")).status_code == 200
        started = await n8n.post(f"/webhook/score-{suffix}", json={"points": 5})
        assert started.json() == {"message": "Workflow was started"}
        sync = await runner.post(
            "/api/v1/integrations/n8n/sync",
            {"n8n_url": N8N_URL, "api_key": N8N_KEY, "workflow_ids": [n8n_id]},
        )
        assert sync.status_code == 200, sync.text
        (workflow,) = sync.json()["workflows"]
        assert workflow["mode"] == "delegate"
        given = {"body": {"points": 21}}  # the one input contract
        response = await runner.execute(workflow["workflow_id"], given, async_mode=True)
        assert response.status_code == 202, response.text
        execution = await runner.wait_until(
            response.json()["execution_id"],
            lambda e: e["status"] not in ("pending", "running"),
            timeout=60,
        )
        assert execution["status"] == "completed", execution
        assert execution["output_data"] == {"score": 42}
    finally:
        await n8n.delete(f"/api/v1/workflows/{n8n_id}")


async def test_the_workflow_list_is_followed_page_by_page(
    created: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """n8n's cursor pagination, two workflows a page (the sync's listing)."""
    monkeypatch.setattr(n8n_client, "PAGE_SIZE", 2)
    async with httpx.AsyncClient(timeout=30) as http:
        listed = await n8n_client.N8nClient(http, N8N_URL, N8N_KEY).workflow_ids()
    assert len(listed) == len(set(listed))
    assert {created[name] for name in CASES} <= set(listed)
