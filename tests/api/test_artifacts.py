"""``GET /executions/{id}/artifacts``, downloads, signed links, and retention."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import FastAPI

from core.storage import ObjectStore, execution_prefix
from core.storage.codec import payload_prefix
from tests.conftest import UserFactory
from tests.support.runner import Runner

DEFINITION: dict[str, Any] = {
    "steps": [
        {"id": "report", "type": "storage",
         "with": {"op": "put", "key": "reports/q1.json", "content": {"revenue": 42}}},
        {"id": "note", "type": "storage",
         "with": {"op": "put", "key": "note.txt", "content": "{{ input.text }}"}},
    ],
    "output": {"echo": "{{ input.text }}"},
}  # fmt: skip


def store_of(app: FastAPI) -> ObjectStore:
    store: ObjectStore = app.state.ctx.store
    return store


async def run_with_artifacts(runner: Runner, text: str = "hello") -> tuple[str, str]:
    workflow_id = await runner.create(DEFINITION)
    response = await runner.execute(workflow_id, {"text": text})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "completed", response.text
    return workflow_id, str(response.json()["execution_id"])


class TestListing:
    async def test_the_artifacts_of_a_run_are_listed_with_links(self, runner: Runner) -> None:
        _, execution_id = await run_with_artifacts(runner)
        response = await runner.client.get(
            f"/api/v1/executions/{execution_id}/artifacts", headers=runner.headers
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["count"] == 2
        by_key = {a["key"]: a for a in body["data"]}
        assert by_key["reports/q1.json"]["size"] == len(b'{"revenue":42}')
        assert by_key["reports/q1.json"]["content_type"] == "application/json"
        assert by_key["note.txt"]["url"] == (
            f"/api/v1/executions/{execution_id}/artifacts/note.txt"
        )
        assert by_key["note.txt"]["download_url"].startswith("http")
        assert by_key["note.txt"]["expires_at"] is not None

    async def test_a_run_without_artifacts_has_an_empty_list(self, runner: Runner) -> None:
        execution = await runner.run({"steps": [{"id": "t", "type": "transform", "with": {}}]})
        response = await runner.client.get(
            f"/api/v1/executions/{execution['id']}/artifacts", headers=runner.headers
        )
        assert response.json() == {"data": [], "count": 0}


class TestDownload:
    async def test_the_api_route_serves_the_bytes_with_their_type(self, runner: Runner) -> None:
        _, execution_id = await run_with_artifacts(runner, "grüße")
        response = await runner.client.get(
            f"/api/v1/executions/{execution_id}/artifacts/note.txt", headers=runner.headers
        )
        assert response.status_code == 200
        assert response.content == "grüße".encode()
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert "note.txt" in response.headers["content-disposition"]

    async def test_a_missing_artifact_is_404(self, runner: Runner) -> None:
        _, execution_id = await run_with_artifacts(runner)
        response = await runner.client.get(
            f"/api/v1/executions/{execution_id}/artifacts/nope.txt", headers=runner.headers
        )
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"

    async def test_the_signed_link_works_without_credentials(self, runner: Runner) -> None:
        _, execution_id = await run_with_artifacts(runner, "signed")
        listing = await runner.client.get(
            f"/api/v1/executions/{execution_id}/artifacts", headers=runner.headers
        )
        link = next(a for a in listing.json()["data"] if a["key"] == "note.txt")
        parts = urlsplit(link["download_url"])
        response = await runner.client.get(f"{parts.path}?{parts.query}")
        assert response.status_code == 200
        assert response.content == b"signed"

    async def test_a_tampered_link_is_refused(self, runner: Runner) -> None:
        _, execution_id = await run_with_artifacts(runner)
        listing = await runner.client.get(
            f"/api/v1/executions/{execution_id}/artifacts", headers=runner.headers
        )
        link = urlsplit(listing.json()["data"][0]["download_url"])
        forged = link.query.replace("q1.json", "other.json").replace("note.txt", "other.txt")
        response = await runner.client.get(f"{link.path}?{forged}")
        assert response.status_code == 403


class TestAccess:
    async def test_someone_who_cannot_see_the_execution_gets_404(
        self, runner: Runner, make_user: UserFactory, client: httpx.AsyncClient
    ) -> None:
        _, execution_id = await run_with_artifacts(runner)
        stranger = await make_user("developer")
        for path in ("artifacts", "artifacts/note.txt"):
            response = await client.get(
                f"/api/v1/executions/{execution_id}/{path}", headers=stranger
            )
            assert response.status_code == 404, path

    async def test_no_credentials_is_401(self, client: httpx.AsyncClient, runner: Runner) -> None:
        _, execution_id = await run_with_artifacts(runner)
        response = await client.get(f"/api/v1/executions/{execution_id}/artifacts")
        assert response.status_code == 401


class TestRetention:
    async def test_deleting_a_workflow_deletes_its_runs_artifacts_and_payloads(
        self, runner: Runner, app: FastAPI
    ) -> None:
        # An input over the inline limit: its claim-checked payload is kept under the run.
        workflow_id, execution_id = await run_with_artifacts(runner, "x" * 300_000)
        store = store_of(app)
        assert len(await store.list(execution_prefix(execution_id))) == 2
        assert await store.list(payload_prefix(execution_id))

        response = await runner.client.delete(
            f"/api/v1/workflows/{workflow_id}", headers=runner.headers
        )
        assert response.status_code == 204, response.text
        assert await store.list(execution_prefix(execution_id)) == []
        assert await store.list(payload_prefix(execution_id)) == []

    async def test_other_workflows_artifacts_are_kept(self, runner: Runner, app: FastAPI) -> None:
        doomed, _ = await run_with_artifacts(runner)
        _, kept = await run_with_artifacts(runner)
        await runner.client.delete(f"/api/v1/workflows/{doomed}", headers=runner.headers)
        assert len(await store_of(app).list(execution_prefix(kept))) == 2
