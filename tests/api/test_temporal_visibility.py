"""The Temporal Web UI as an inspection tool: every run is searchable by its Headrace
workflow, trigger and owner, and its header names the workflow and links to the dashboard.

Everything is checked through Temporal's own visibility API (what the Web UI calls), which is
eventually consistent: lists are polled until the run shows, never read once.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from temporalio.client import Client, WorkflowExecution
from temporalio.testing import WorkflowEnvironment

from api.services.workflows import check_definition
from core.settings import Settings
from temporal_workflows.run_types import INTERPRETER_WORKFLOW, RunInput, RunResult
from temporal_workflows.visibility import (
    EXECUTION_ID,
    OWNER,
    STATE,
    TRIGGER,
    WORKFLOW_ID,
    WORKFLOW_NAME,
    WORKFLOW_VERSION,
)
from tests.api.test_webhooks import Hooks
from tests.conftest import UserFactory
from tests.support.polling import eventually
from tests.support.target_server import TargetServer

SLEEPY = {"steps": [{"id": "nap", "type": "sleep", "with": {"duration": "30s"}}]}


@pytest.fixture
async def hooks(client: httpx.AsyncClient, make_user: UserFactory) -> Hooks:
    return Hooks(client, await make_user("developer"))


@pytest.fixture
def temporal(temporal_env: WorkflowEnvironment) -> Client:
    return temporal_env.client


def unique_name(label: str) -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


async def found(temporal: Client, query: str, count: int = 1) -> list[WorkflowExecution]:
    """The runs ``query`` finds, once at least ``count`` show (visibility lags a little)."""

    async def listed() -> list[WorkflowExecution]:
        return [run async for run in temporal.list_workflows(query)]

    return await eventually(
        listed, lambda runs: len(runs) >= count, interval=0.2, what=f"{count} runs of {query!r}"
    )


async def my_id(hooks: Hooks) -> str:
    response = await hooks.client.get("/api/v1/auth/me", headers=hooks.headers)
    return str(response.json()["id"])


class TestRunsStartedByTheApi:
    async def test_a_run_is_found_by_its_workflow_name_and_names_it_in_its_header(
        self, hooks: Hooks, temporal: Client, settings: Settings
    ) -> None:
        name = unique_name("orders")
        workflow_id = await hooks.workflow(name=name)
        response = await hooks.client.post(
            f"/api/v1/workflows/{workflow_id}/execute",
            json={"input_data": {"n": 1}},
            headers=hooks.headers,
        )
        assert response.status_code == 200, response.text
        execution_id = response.json()["execution_id"]

        [run] = await found(temporal, f'HeadraceWorkflowName = "{name}"')
        assert run.id == execution_id
        attributes = run.typed_search_attributes
        assert attributes.get(WORKFLOW_ID) == workflow_id
        assert attributes.get(WORKFLOW_NAME) == name
        assert attributes.get(WORKFLOW_VERSION) == 1
        assert attributes.get(TRIGGER) == "manual"
        assert attributes.get(OWNER) == await my_id(hooks)
        assert attributes.get(EXECUTION_ID) == execution_id
        assert attributes.get(STATE) == "running"

        described = await temporal.get_workflow_handle(execution_id).describe()
        assert await described.static_summary() == f"{name} v1 · manual"
        details = await described.static_details()
        assert details is not None
        assert f"({settings.base_url}/executions/{execution_id})" in details
        assert f"({settings.base_url}/workflows/{workflow_id})" in details

    @pytest.mark.parametrize(
        ("label", "filtered_by"),
        [("it's", "HeadraceWorkflowName"), ('say "hi"', "HeadraceWorkflowId")],
    )
    async def test_the_workflow_page_links_to_the_ui_list_of_its_runs(
        self, hooks: Hooks, temporal: Client, settings: Settings, label: str, filtered_by: str
    ) -> None:
        name = unique_name(label)  # quotes in the name must not break the filter
        workflow_id = await hooks.workflow(name=name)
        response = await hooks.client.post(
            f"/api/v1/workflows/{workflow_id}/execute", json={}, headers=hooks.headers
        )
        execution_id = response.json()["execution_id"]
        shown = await hooks.client.get(f"/api/v1/workflows/{workflow_id}", headers=hooks.headers)
        url = urlsplit(shown.json()["temporal_ui_url"])
        assert f"{url.scheme}://{url.netloc}" == settings.temporal_ui_base
        assert url.path == f"/namespaces/{settings.temporal_namespace}/workflows"
        [query] = parse_qs(url.query)["query"]
        assert query.startswith(filtered_by)
        [run] = await found(temporal, query)  # the UI's filter, typed into the visibility API
        assert run.id == execution_id

    async def test_webhook_runs_say_they_came_from_a_webhook(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        name = unique_name("hooked")
        webhook = await hooks.webhook(await hooks.workflow(name=name))
        response = await hooks.client.post(f"/hooks/{webhook['url_path']}", json={"a": 1})
        assert response.status_code == 202, response.text
        query = f'HeadraceWorkflowName = "{name}" AND HeadraceTrigger = "webhook"'
        [run] = await found(temporal, query)
        assert run.id == response.json()["execution_id"]

    async def test_the_state_follows_pause_and_resume(self, hooks: Hooks, temporal: Client) -> None:
        name = unique_name("paused")
        workflow_id = await hooks.workflow(SLEEPY, name=name)
        response = await hooks.client.post(
            f"/api/v1/workflows/{workflow_id}/execute",
            json={"async_mode": True},
            headers=hooks.headers,
        )
        execution_id = response.json()["execution_id"]
        await found(temporal, f'HeadraceExecutionId = "{execution_id}"')
        paused = await hooks.client.post(
            f"/api/v1/executions/{execution_id}/pause", headers=hooks.headers
        )
        assert paused.status_code == 202, paused.text
        query = f'HeadraceWorkflowName = "{name}" AND HeadraceState = "paused"'
        [run] = await found(temporal, query)
        assert run.id == execution_id
        resumed = await hooks.client.post(
            f"/api/v1/executions/{execution_id}/resume", headers=hooks.headers
        )
        assert resumed.status_code == 202, resumed.text
        await found(
            temporal, f'HeadraceExecutionId = "{execution_id}" AND HeadraceState = "running"'
        )
        await hooks.client.post(f"/api/v1/executions/{execution_id}/cancel", headers=hooks.headers)

    async def test_a_parked_step_shows_the_run_waiting_until_resolved(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        name = unique_name("parked")
        definition = {
            "steps": [
                {"id": "flaky", "type": "fail", "with": {"message": "no"}, "on_error": "park"}
            ]
        }
        workflow_id = await hooks.workflow(definition, name=name)
        response = await hooks.client.post(
            f"/api/v1/workflows/{workflow_id}/execute",
            json={"async_mode": True},
            headers=hooks.headers,
        )
        execution_id = response.json()["execution_id"]
        [run] = await found(
            temporal, f'HeadraceWorkflowName = "{name}" AND HeadraceState = "waiting"'
        )
        assert run.id == execution_id
        resolved = await hooks.client.post(
            f"/api/v1/executions/{execution_id}/steps/flaky/resolve",
            json={"action": "skip"},
            headers=hooks.headers,
        )
        assert resolved.status_code < 300, resolved.text
        assert (await hooks.finished(execution_id))["status"] == "completed"
        await found(
            temporal, f'HeadraceExecutionId = "{execution_id}" AND HeadraceState = "running"'
        )


class TestHostileNames:
    async def test_names_make_no_link_and_cannot_overflow_the_metadata(
        self, hooks: Hooks, temporal: Client, settings: Settings, target: TargetServer
    ) -> None:
        name = unique_name("[urgent](https://evil.example/login)")
        long_name = "ü" * 5000  # far over Temporal's metadata limits, in multi-byte letters
        definition = {
            "steps": [
                {
                    "id": "call",
                    "type": "http",
                    "local": False,  # its summary is read from the activity's history event
                    "name": long_name,
                    "with": {"url": target.url("/users/1")},
                }
            ]
        }
        workflow_id = await hooks.workflow(definition, name=name)
        response = await hooks.client.post(
            f"/api/v1/workflows/{workflow_id}/execute", json={}, headers=hooks.headers
        )
        assert response.json()["status"] == "completed", response.text
        execution_id = response.json()["execution_id"]
        handle = temporal.get_workflow_handle(execution_id)

        details = await (await handle.describe()).static_details()
        assert details is not None and "](https://evil.example" not in details
        links = [line for line in details.split("\n\n") if line.startswith("[")]
        assert all(f"]({settings.base_url}/" in line for line in links)
        summaries = [
            temporal.data_converter.payload_converter.from_payload(event.user_metadata.summary, str)
            for event in (await handle.fetch_history()).events
            if event.HasField("activity_task_scheduled_event_attributes")
        ]
        assert summaries and all(s.startswith("call · http · üü") for s in summaries)
        assert all(len(s.encode()) <= 200 for s in summaries)


class TestRunsTheInterpreterStarts:
    async def test_a_child_workflow_run_is_found_by_the_childs_name(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        child_name, parent_name = unique_name("child"), unique_name("parent")
        child_id = await hooks.workflow(name=child_name)
        parent = {
            "steps": [
                {"id": "call", "type": "workflow", "with": {"workflow_id": child_id, "input": 7}}
            ]
        }
        parent_id = await hooks.workflow(parent, name=parent_name)
        response = await hooks.client.post(
            f"/api/v1/workflows/{parent_id}/execute", json={}, headers=hooks.headers
        )
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "completed"

        [child] = await found(temporal, f'HeadraceWorkflowName = "{child_name}"')
        assert child.typed_search_attributes.get(TRIGGER) == "workflow"
        assert child.typed_search_attributes.get(WORKFLOW_ID) == child_id
        assert child.typed_search_attributes.get(OWNER) == await my_id(hooks)
        described = await temporal.get_workflow_handle(child.id).describe()
        assert await described.static_summary() == f"{child_name} v1 · workflow · step call"

    async def test_foreach_chunks_carry_their_workflows_attributes(
        self,
        hooks: Hooks,
        temporal: Client,
        settings: Settings,
        target: TargetServer,
    ) -> None:
        name = unique_name("chunked")
        definition: dict[str, Any] = {
            "steps": [
                {
                    "id": "each",
                    "type": "http",
                    "foreach": "{{ input.ids }}",
                    "with": {"url": target.url("/users/{{ item }}")},
                }
            ]
        }
        workflow_id = await hooks.workflow(definition, name=name)
        execution_id = str(uuid.uuid4())
        await temporal.execute_workflow(
            INTERPRETER_WORKFLOW,
            RunInput(
                execution_id=execution_id,
                workflow_id=workflow_id,
                version=1,
                definition=check_definition(definition),
                input={"ids": [1, 2, 3]},
                foreach_chunk_size=2,
                workflow_name=name,
            ),
            id=execution_id,
            task_queue=settings.task_queue,
            result_type=RunResult,
        )
        chunks = await found(
            temporal, f'HeadraceWorkflowName = "{name}" AND HeadraceTrigger = "foreach"', 2
        )
        assert len(chunks) == 2  # 2 + 1 items
        for chunk in chunks:
            assert chunk.typed_search_attributes.get(WORKFLOW_ID) == workflow_id
            summary = await (
                await temporal.get_workflow_handle(chunk.id).describe()
            ).static_summary()
            assert summary is not None and summary.startswith(f"{name} v1 · foreach · each: items")


class TestSchedules:
    async def test_a_schedule_and_its_runs_carry_the_workflows_attributes(
        self, hooks: Hooks, temporal: Client
    ) -> None:
        name = unique_name("nightly")
        trigger = {"type": "schedule", "cron": "0 0 1 1 *", "paused": True}
        workflow_id = await hooks.workflow(name=name, triggers=[trigger])
        listed = (
            await hooks.client.get(
                f"/api/v1/workflows/{workflow_id}/triggers", headers=hooks.headers
            )
        ).json()[0]

        described = await temporal.get_schedule_handle(listed["schedule_id"]).describe()
        assert described.typed_search_attributes.get(WORKFLOW_NAME) == name
        assert described.typed_search_attributes.get(TRIGGER) == "schedule"
        assert (await described.memo())["headrace_workflow_name"] == name
        schedules = await eventually(
            lambda: _schedules(temporal, f'HeadraceWorkflowName = "{name}"'),
            what="the schedule in the schedule list",
        )
        assert schedules == [listed["schedule_id"]]

        response = await hooks.client.post(
            f"/api/v1/triggers/{listed['id']}/run-now", headers=hooks.headers
        )
        assert response.status_code == 202, response.text
        runs = await found(
            temporal,
            f'HeadraceWorkflowName = "{name}" AND WorkflowType = "{INTERPRETER_WORKFLOW}"',
        )
        assert runs[0].typed_search_attributes.get(TRIGGER) == "schedule"
        run_summary = await (
            await temporal.get_workflow_handle(runs[0].id).describe()
        ).static_summary()
        assert run_summary == f"{name} v1 · schedule"


async def _schedules(temporal: Client, query: str) -> list[str]:
    return [s.id async for s in await temporal.list_schedules(query)]
