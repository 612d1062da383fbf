"""The ``n8n`` step's activity against the local n8n: webhook calls, polling, failures."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.n8n import DbIntegrationResolver, N8nActivities
from temporal_workflows.run_types import N8nStepInput
from tests.conftest import UserFactory
from tests.integrations.fake_n8n import API_KEY, FakeN8n


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


@pytest.fixture
def activities(app: FastAPI, http: httpx.AsyncClient) -> N8nActivities:
    ctx = app.state.ctx
    return N8nActivities(http, DbIntegrationResolver(ctx.sessions, ctx.encryptor))


@pytest.fixture
async def synced(
    client: httpx.AsyncClient, make_user: UserFactory, fake_n8n: FakeN8n
) -> dict[str, Any]:
    """score_code synced; returns its Headrace workflow id and the integration name."""
    fake_n8n.add("score_code")
    fake_n8n.behaviours["wfScoreCode03"] = lambda item: {"score": item["body"]["points"] * 2}
    headers = await make_user("developer")
    response = await client.post(
        "/api/v1/integrations/n8n/sync",
        json={"n8n_url": fake_n8n.base_url, "api_key": API_KEY},
        headers=headers,
    )
    workflow = response.json()["workflows"][0]
    detail = await client.get(f"/api/v1/workflows/{workflow['workflow_id']}", headers=headers)
    return {
        "workflow_id": str(workflow["workflow_id"]),
        "integration": detail.json()["source"]["integration"],
    }


def step(synced: dict[str, Any], **fields: Any) -> N8nStepInput:
    values: dict[str, Any] = {
        "step_id": "run_in_n8n",
        "execution_id": "e1",
        "workflow_id": synced["workflow_id"],
        "n8n_workflow_id": "wfScoreCode03",
        "integration": synced["integration"],
        "payload": {"points": 21},
    }
    values.update(fields)
    return N8nStepInput(**values)


async def failure(activities: N8nActivities, request: N8nStepInput) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        await activities.run(request)
    return caught.value


class TestWebhookCall:
    async def test_runs_the_workflow_by_id_and_returns_its_answer(
        self, activities: N8nActivities, synced: dict[str, Any], fake_n8n: FakeN8n
    ) -> None:
        assert await activities.run(step(synced)) == {"score": 42}
        assert fake_n8n.calls["webhook:score"] == 1

    async def test_the_published_version_s_webhook_is_called_not_the_draft_s(
        self, activities: N8nActivities, synced: dict[str, Any], fake_n8n: FakeN8n
    ) -> None:
        """n8n 1.1xx keeps an unpublished edit in `nodes`, what runs in `activeVersion`."""
        workflow = fake_n8n.workflows["wfScoreCode03"]
        published = copy.deepcopy(workflow["nodes"])
        workflow["activeVersion"] = {"versionId": "v1", "nodes": published}
        workflow["nodes"][0]["parameters"]["path"] = "score-draft"
        assert await activities.run(step(synced)) == {"score": 42}
        assert fake_n8n.calls["webhook:score"] == 1

    async def test_as_a_temporal_activity_it_reports_the_attempt(
        self, activities: N8nActivities, synced: dict[str, Any]
    ) -> None:
        request = step(synced)
        outcome = await ActivityEnvironment().run(activities.run_n8n_step, request)
        assert outcome.output == {"score": 42} and outcome.attempt == 1

    async def test_a_direct_webhook_url(
        self, activities: N8nActivities, synced: dict[str, Any], fake_n8n: FakeN8n
    ) -> None:
        request = step(
            synced,
            webhook_url=f"{fake_n8n.base_url}/webhook/score",
            n8n_workflow_id=None,
            integration=None,
        )
        assert await activities.run(request) == {"score": 42}


class TestPolling:
    async def test_a_webhook_that_answers_at_once_is_polled_to_its_result(
        self,
        activities: N8nActivities,
        synced: dict[str, Any],
        fake_n8n: FakeN8n,
        http: httpx.AsyncClient,
    ) -> None:
        hook = fake_n8n.workflows["wfScoreCode03"]["nodes"][0]
        hook["parameters"]["responseMode"] = "onReceived"
        fake_n8n.execution_delay = 0.6
        # Someone else's run of the same workflow must not be taken for ours.
        await http.post(f"{fake_n8n.base_url}/webhook/score", json={"points": 1})
        result = await activities.run(step(synced, poll_interval_seconds=0.1))
        assert result == {"score": 42}

    async def test_a_failed_execution_fails_the_step(
        self, activities: N8nActivities, synced: dict[str, Any], fake_n8n: FakeN8n
    ) -> None:
        fake_n8n.workflows["wfScoreCode03"]["nodes"][0]["parameters"]["responseMode"] = "onReceived"
        fake_n8n.behaviours["wfScoreCode03"] = lambda item: 1 / 0
        error = await failure(activities, step(synced, poll_interval_seconds=0.1))
        assert error.type == "N8nExecutionFailed" and error.non_retryable
        assert "division by zero" in error.message


class TestFailures:
    async def test_an_inactive_workflow_is_not_runnable(
        self, activities: N8nActivities, synced: dict[str, Any], fake_n8n: FakeN8n
    ) -> None:
        fake_n8n.workflows["wfScoreCode03"]["active"] = False
        error = await failure(activities, step(synced))
        assert error.type == "N8nNotRunnable" and error.non_retryable
        assert "not active" in error.message

    async def test_a_workflow_without_webhook_is_not_runnable(
        self, activities: N8nActivities, synced: dict[str, Any], fake_n8n: FakeN8n
    ) -> None:
        fake_n8n.add("nightly_report")
        error = await failure(activities, step(synced, n8n_workflow_id="wfNightlyReport02"))
        assert error.type == "N8nNotRunnable" and "no Webhook trigger" in error.message

    async def test_a_5xx_is_retryable(
        self, activities: N8nActivities, synced: dict[str, Any], fake_n8n: FakeN8n
    ) -> None:
        fake_n8n.behaviours["wfScoreCode03"] = lambda item: 1 / 0  # lastNode mode: n8n answers 500
        error = await failure(activities, step(synced))
        assert error.type == "N8nServerError" and not error.non_retryable

    async def test_a_4xx_fails_at_once(
        self, activities: N8nActivities, synced: dict[str, Any], fake_n8n: FakeN8n
    ) -> None:
        request = step(
            synced, webhook_url=f"{fake_n8n.base_url}/webhook/nope", n8n_workflow_id=None
        )
        error = await failure(activities, request)
        assert error.type == "N8nClientError" and error.non_retryable
        assert "404" in error.message

    async def test_network_errors_are_retryable(
        self, activities: N8nActivities, synced: dict[str, Any], unused_port: int
    ) -> None:
        request = step(
            synced,
            webhook_url=f"http://127.0.0.1:{unused_port}/webhook/x",
            n8n_workflow_id=None,
            integration=None,
        )
        error = await failure(activities, request)
        assert error.type == "N8nNetworkError" and not error.non_retryable

    async def test_an_unknown_integration(
        self, activities: N8nActivities, synced: dict[str, Any]
    ) -> None:
        error = await failure(activities, step(synced, integration="nope"))
        assert error.type == "N8nConfigError" and error.non_retryable
