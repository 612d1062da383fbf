"""The builder's API: the definition's JSON Schema and "Test this step" without saving."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from api.services.step_test import definition_schema
from core.settings import Settings
from tests.conftest import UserFactory
from worker.main import build_worker, worker_resources

PIPELINE: dict[str, Any] = {
    "steps": [
        {"id": "fetch", "type": "http", "with": {"url": "https://example.com/items"}},
        {
            "id": "shape",
            "type": "transform",
            "depends_on": ["fetch"],
            "with": {"count": "{{ steps.fetch.output.body | length }}", "who": "{{ input.name }}"},
        },
        {
            "id": "note",
            "type": "log",
            "depends_on": ["shape"],
            "with": {"message": "{{ vars.greeting }}"},
        },
        {
            "id": "stop",
            "type": "fail",
            "with": {"message": "no {{ input.name }}", "error_type": "Nope"},
        },
    ],
    "variables": {"greeting": "hi"},
}


class _Items(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def items_server() -> Iterator[str]:
    """A real HTTP server on loopback (the test settings allow private networks)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Items)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def post_test_step(
    client: httpx.AsyncClient, headers: dict[str, str], **body: Any
) -> httpx.Response:
    return await client.post(
        "/api/v1/workflows/test-step", json={"definition": PIPELINE, **body}, headers=headers
    )


class TestDefinitionSchema:
    async def test_every_step_type_has_a_with_schema_for_the_builder(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        user = await make_user("user")
        response = await client.get("/api/v1/workflows/definition-schema", headers=user)
        assert response.status_code == 200
        kinds = response.json()["x-step-with"]
        assert "http" in kinds and "transform" in kinds and "log" in kinds
        assert "url" in kinds["http"]["with"]["properties"]
        assert kinds["transform"]["pure"] is True and kinds["http"]["pure"] is False

    async def test_it_needs_credentials(self, client: httpx.AsyncClient) -> None:
        response = await client.get("/api/v1/workflows/definition-schema")
        assert response.status_code == 401


class TestTestStep:
    async def test_a_transform_reads_sample_input_and_upstream_outputs(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        user = await make_user("user")
        response = await post_test_step(
            client, user, step_id="shape", input={"name": "ada"},
            outputs={"fetch": {"body": [1, 2, 3]}},
        )  # fmt: skip
        assert response.status_code == 200, response.text
        assert response.json() == {
            "step_id": "shape", "type": "transform", "status": "completed",
            "output": {"count": 3, "who": "ada"}, "error": None, "error_type": None,
        }  # fmt: skip

    async def test_templates_see_a_manual_run_started_now(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        definition = {
            "steps": [
                {
                    "id": "when",
                    "type": "transform",
                    "with": {"trigger": "{{ trigger.type }}", "day": "{{ now()[:10] }}"},
                }
            ]
        }
        response = await client.post(
            "/api/v1/workflows/test-step",
            json={"definition": definition, "step_id": "when"},
            headers=await make_user("user"),
        )
        output = response.json()["output"]
        assert output["trigger"] == "manual" and len(output["day"]) == 10, response.text

    async def test_a_log_step_sees_the_definition_variables(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        response = await post_test_step(client, await make_user("user"), step_id="note")
        assert response.json()["output"] == {"message": "hi", "level": "info"}

    async def test_a_fail_step_reports_its_error_as_a_result(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        response = await post_test_step(
            client, await make_user("user"), step_id="stop", input={"name": "cake"}
        )
        body = response.json()
        assert (body["status"], body["error"], body["error_type"]) == ("failed", "no cake", "Nope")

    async def test_a_missing_upstream_output_is_a_failed_result_not_a_500(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        response = await post_test_step(client, await make_user("user"), step_id="shape", input={})
        assert response.status_code == 200
        assert response.json()["status"] == "failed"

    async def test_an_unknown_step_is_422_at_step_id(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        response = await post_test_step(client, await make_user("user"), step_id="ghost")
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["errors"][0]["pointer"] == "/step_id"

    async def test_only_the_tested_step_must_be_valid_in_a_definition_being_built(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        half_built = {
            "steps": [
                {"id": "a", "type": "transform", "with": {"x": 1}},
                {"id": "b", "type": "log", "depends_on": ["ghost"], "with": {}},
            ],
            "output": "{{ steps.nowhere.output }}",
        }
        user = await make_user("user")
        response = await client.post(
            "/api/v1/workflows/test-step",
            json={"definition": half_built, "step_id": "a"},
            headers=user,
        )
        assert response.json()["output"] == {"x": 1}
        response = await client.post(
            "/api/v1/workflows/test-step",
            json={"definition": half_built, "step_id": "b"},
            headers=user,
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/definition/steps/1/with/message"

    async def test_an_http_step_runs_once_on_the_worker_with_its_templates_rendered(
        self, client: httpx.AsyncClient, make_user: UserFactory, items_server: str
    ) -> None:
        definition = {
            "steps": [
                {"id": "fetch", "type": "http", "with": {"url": items_server + "/{{ input.kind }}"}}
            ]
        }
        response = await client.post(
            "/api/v1/workflows/test-step",
            json={"definition": definition, "step_id": "fetch", "input": {"kind": "fruit"}},
            headers=await make_user("user"),
        )
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["status"] == "completed"
        assert (result["output"]["status"], result["output"]["body"]) == (200, {"path": "/fruit"})

    async def test_an_http_step_aimed_at_headrace_itself_is_refused_like_a_run(
        self, client: httpx.AsyncClient, make_user: UserFactory, settings: Settings
    ) -> None:
        # Attack: a `user` makes the worker call the Temporal frontend (whose API can
        # terminate any run). Refused even where private networks are allowed, as in a run.
        temporal_port = settings.temporal_address.rsplit(":", 1)[1]
        definition = {
            "steps": [
                {
                    "id": "probe",
                    "type": "http",
                    "with": {"url": f"http://127.0.0.1:{temporal_port}/"},
                }
            ]
        }
        response = await client.post(
            "/api/v1/workflows/test-step",
            json={"definition": definition, "step_id": "probe"},
            headers=await make_user("user"),
        )
        body = response.json()
        assert (body["status"], body["error_type"]) == ("failed", "HttpBlockedAddress"), body

    async def test_secrets_and_connections_are_not_available_to_a_test(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        user = await make_user("user")
        leak = {"url": "https://example.com/?k={{ secrets.api_key }}"}
        named = {"connection": "crm", "path": "/x"}
        for params, status in ((leak, 200), (named, 422)):
            definition = {"steps": [{"id": "s", "type": "http", "with": params}]}
            response = await client.post(
                "/api/v1/workflows/test-step",
                json={"definition": definition, "step_id": "s"},
                headers=user,
            )
            assert response.status_code == status, response.text
        assert response.json()["errors"][0]["pointer"] == "/definition/steps/0/with/connection"

    async def test_a_step_that_waits_cannot_be_tested_alone(
        self, client: httpx.AsyncClient, make_user: UserFactory
    ) -> None:
        definition = {"steps": [{"id": "nap", "type": "sleep", "with": {"duration": "1s"}}]}
        response = await client.post(
            "/api/v1/workflows/test-step",
            json={"definition": definition, "step_id": "nap"},
            headers=await make_user("user"),
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["pointer"] == "/definition/steps/0/type"

    async def test_it_needs_credentials(self, client: httpx.AsyncClient) -> None:
        response = await client.post(
            "/api/v1/workflows/test-step", json={"definition": PIPELINE, "step_id": "note"}
        )
        assert response.status_code == 401


def test_the_dashboard_tests_read_the_schema_the_api_serves() -> None:
    # dashboard/src/test/definition-schema.json feeds the builder's unit tests: keep it current
    # (`headrace openapi` does not write it: see docs/api.md, "The builder's endpoints").
    fixture = Path(__file__).parents[2] / "dashboard" / "src" / "test" / "definition-schema.json"
    # Compared as text: the order of the properties is the order of the form's fields.
    assert fixture.read_text() == json.dumps(definition_schema(), indent=2) + "\n"


@pytest.fixture
async def production_guard(
    settings: Settings, temporal_env: WorkflowEnvironment
) -> AsyncIterator[httpx.AsyncClient]:
    """An API and a worker with the production network policy (private networks refused)."""
    strict = settings.model_copy(
        update={"allow_private_networks": False, "task_queue": f"strict-{uuid.uuid4().hex[:8]}"}
    )
    async with (
        worker_resources(strict) as resources,
        build_worker(temporal_env.client, strict.task_queue, resources),
    ):
        app = create_app(strict, temporal_client=temporal_env.client)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
                yield c


async def test_with_the_production_policy_loopback_and_metadata_are_refused(
    production_guard: httpx.AsyncClient, make_user: UserFactory, items_server: str
) -> None:
    # Attack: a `user` tests an http step against the cloud metadata service and loopback.
    user = await make_user("user")
    for url in ("http://169.254.169.254/latest/meta-data/", items_server + "/x"):
        definition = {"steps": [{"id": "probe", "type": "http", "with": {"url": url}}]}
        response = await production_guard.post(
            "/api/v1/workflows/test-step",
            json={"definition": definition, "step_id": "probe"},
            headers=user,
        )
        body = response.json()
        assert (body["status"], body["error_type"]) == ("failed", "HttpBlockedAddress"), body
